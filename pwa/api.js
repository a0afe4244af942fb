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

/**
 * Get a new access token with the HttpOnly refresh cookie (the page never
 * sees the refresh token); concurrent callers share one request.
 */
export function refreshTokens() {
  if (!refreshing) {
    refreshing = (async () => {
      try {
        const res = await fetch("/api/auth/refresh", {
          method: "POST",
          headers: { Accept: "application/json" },
          credentials: "same-origin",
        });
        if (!res.ok) return false;
        session.setTokens(await res.json());
        return true;
      } catch {
        return false;
      }
    })().finally(() => {
      refreshing = null;
    });
  }
  return refreshing;
}

/**
 * Call the API.
 * @param {string} path e.g. "/api/me"
 * @param {{method?: string, body?: any, form?: FormData, signal?: AbortSignal, auth?: boolean, headers?: object}} [opts]
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
    if (hadSession && !session.accessToken() && !SIGN_IN_PATHS.has(path) && !(await refreshTokens())) {
      session.clear();
    }
    res = await send();
    if (res.status === 401 && hadSession && !SIGN_IN_PATHS.has(path)) {
      if (await refreshTokens()) {
        res = await send();
      } else {
        // No refresh token, or it expired or was revoked: the session is over.
        session.clear();
      }
    }
  } catch (err) {
    if (err && err.name === "AbortError") throw err;
    const offline = typeof navigator !== "undefined" && navigator.onLine === false;
    throw new ApiError(0, offline ? "offline" : "network", "", { body: null });
  }

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
