// fetch wrapper for the Anju API: JSON in and out, the bearer token from the
// session, one transparent refresh on 401, and every failure as an ApiError so
// screens have exactly one thing to catch and show.

import * as session from "./session.js";

export class ApiError extends Error {
  /**
   * @param {number} status HTTP status (0 when the network failed)
   * @param {string|null} code machine code from the body's extra.code
   * @param {string} message human text: the body's detail
   * @param {{field: string|null, fields?: Array<{field: string, message: string}>, retryAfter?: number|null, body?: any}} [more]
   */
  constructor(status, code, message, more = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.field = more.field ?? null;
    // Per-field problems: one from extra.field, or many from a framework
    // validation error whose extra is a list.
    this.fields = more.fields ?? [];
    this.retryAfter = more.retryAfter ?? null;
    this.body = more.body;
  }
}

/**
 * Turn an error response into an ApiError. `code` is extra.code when present;
 * otherwise two are derived so the UI can word them: "validation" for a
 * framework validation list, "rate_limited" for 429. Litestar sends
 * {"status_code", "detail", "extra": {...}} for our own errors and
 * {"status_code": 400, "detail", "extra": [{"message", "key", "source"}]}
 * for request validation failures: both shapes are handled.
 */
export function errorFromBody(status, body, retryAfter = null) {
  // A non-JSON body (an HTML error page from a proxy) is never shown as text.
  const detail = body && typeof body === "object" && typeof body.detail === "string" ? body.detail : "";
  const extra = body && typeof body === "object" ? body.extra : undefined;
  let code = null;
  let field = null;
  let fields = [];
  if (Array.isArray(extra)) {
    code = "validation";
    fields = extra
      .filter((e) => e && e.key)
      .map((e) => ({ field: fieldName(e.key), message: e.message || "" }));
    field = fields[0]?.field ?? null;
  } else if (extra && typeof extra === "object") {
    code = typeof extra.code === "string" ? extra.code : null;
    field = typeof extra.field === "string" ? fieldName(extra.field) : null;
    if (field) fields = [{ field, message: detail || "" }];
  }
  if (!code && status === 429) code = "rate_limited";
  return new ApiError(status, code, detail || "", { field, fields, retryAfter, body });
}

// Validation keys may arrive as "$.id_number" or "body.id_number": keep the
// last path segment, which is the API field name the form uses.
function fieldName(key) {
  return String(key).replace(/^\$\.?/, "").split(".").pop();
}

// On these a 401 means "wrong credentials", not "access token expired".
const SIGN_IN_PATHS = new Set([
  "/api/auth/code",
  "/api/auth/token",
  "/api/auth/refresh",
  "/api/auth/logout",
  "/api/auth/passkeys/authentication-options",
  "/api/auth/passkeys/authenticate",
]);

let refreshing = null;

// How a refresh ended: new tokens; the session is over (401: expired, revoked, reused); or
// nothing is known about the session (offline, the server unavailable), which keeps it.
const REFRESHED = "refreshed";
const ENDED = "ended";
const UNKNOWN = "unknown";

async function refreshOnce() {
  try {
    const res = await fetch("/api/auth/refresh", {
      method: "POST",
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    });
    if (res.ok) {
      session.setTokens(await res.json());
      return REFRESHED;
    }
    return res.status === 401 ? ENDED : UNKNOWN;
  } catch {
    return UNKNOWN;
  }
}

/**
 * Get a new access token with the HttpOnly refresh cookie (the page never
 * sees the refresh token); concurrent callers share one request, and a
 * passing failure (a busy database, a dropped connection) is tried once more.
 */
function refreshTokens() {
  if (!refreshing) {
    refreshing = (async () => {
      const first = await refreshOnce();
      if (first !== UNKNOWN) return first;
      await new Promise((resolve) => setTimeout(resolve, 500));
      return refreshOnce();
    })().finally(() => {
      refreshing = null;
    });
  }
  return refreshing;
}

/**
 * Restore the access token: true when refreshed; false when the server said
 * the session is over (then signed out locally); throws when it could not say.
 */
export async function restoreSession() {
  const outcome = await refreshTokens();
  if (outcome === ENDED) session.clear();
  else if (outcome === UNKNOWN) throw new Error("session not restored"); // shown as a network error
  return outcome === REFRESHED;
}

/**
 * Call the API.
 * @param {string} path e.g. "/api/me"
 * @param {{method?: string, body?: any, form?: FormData, raw?: Blob, signal?: AbortSignal, auth?: boolean, headers?: object}} [opts]
 *   raw: a file sent as the body as it is (its Content-Type in headers)
 * @returns {Promise<any>} parsed JSON, or null for an empty response
 */
export async function api(path, opts = {}) {
  const { method = opts.body !== undefined || opts.form ? "POST" : "GET", body, form, signal, auth = true } = opts;

  const send = () => {
    const headers = { Accept: "application/json", ...(opts.headers || {}) };
    const token = auth ? session.accessToken() : null;
    if (token) headers.Authorization = `Bearer ${token}`;
    let payload;
    if (form) {
      payload = form; // the browser sets the multipart boundary itself
    } else if (opts.raw) {
      payload = opts.raw;
    } else if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      payload = JSON.stringify(body);
    }
    return fetch(path, { method, headers, body: payload, signal, credentials: "same-origin" });
  };

  let res;
  try {
    const hadSession = auth && session.isSignedIn();
    // A fresh page of a signed-in browser: restore the in-memory access token first.
    if (hadSession && !session.accessToken() && !SIGN_IN_PATHS.has(path)) await restoreSession();
    res = await send();
    if (res.status === 401 && hadSession && !SIGN_IN_PATHS.has(path) && (await restoreSession())) {
      res = await send();
    }
  } catch (err) {
    if (err && err.name === "AbortError") throw err;
    const offline = typeof navigator !== "undefined" && navigator.onLine === false;
    throw new ApiError(0, offline ? "offline" : "network", "", { body: null });
  }

  if (opts.blob && res.ok) return res.blob(); // a photo: shown through a blob: URL
  const data = await parseBody(res);
  if (!res.ok) {
    const retry = Number(res.headers.get("Retry-After"));
    throw errorFromBody(res.status, data, Number.isFinite(retry) && retry > 0 ? retry : null);
  }
  return data;
}

async function parseBody(res) {
  if (res.status === 204 || res.status === 205) return null;
  const text = await res.text().catch(() => "");
  if (!text) return null;
  const type = res.headers.get("Content-Type") || "";
  if (type.includes("json")) {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return text;
}

/** Abort errors are navigation noise, not failures to show. */
export function isAbort(err) {
  return Boolean(err && err.name === "AbortError");
}
