// The signed-in session. The access token lives in memory only, so a script
// injected into the page finds no credential in storage; the refresh token is
// an HttpOnly cookie the page never sees. The last known Account is cached in
// localStorage so a fresh tab (a scan from the phone camera) knows it was
// signed in and restores its access token through /api/auth/refresh (api.js).
// Everything else reads the session through here, so the storage layout lives
// in one place and the header can follow changes (also from other tabs).

const ACCOUNT = "anju.account";
// Where tokens were kept before they left localStorage: removed on sight.
const LEGACY = ["anju.access", "anju.refresh"];

let access = null;
const events = new EventTarget();

function read(key) {
  try {
    return localStorage.getItem(key);
  } catch {
    return null; // storage disabled (private mode, file://): behave as signed out
  }
}

function write(key, value) {
  try {
    if (value == null) localStorage.removeItem(key);
    else localStorage.setItem(key, value);
  } catch {
    /* storage disabled: the session simply does not persist */
  }
}

for (const key of LEGACY) write(key, null);

export function accessToken() {
  return access;
}

export function account() {
  const raw = read(ACCOUNT);
  if (!raw) return null;
  try {
    return JSON.parse(raw);
  } catch {
    return null;
  }
}

/** Signed in, or was in this browser (the refresh cookie may still restore the session). */
export function isSignedIn() {
  return Boolean(access || account());
}

/** Keep a TokenPair from /api/auth/token, /refresh or passkey sign-in (no refresh token in it). */
export function setTokens(pair) {
  access = pair.access_token;
  if (pair.account) write(ACCOUNT, JSON.stringify(pair.account));
  emit();
}

/** Replace the cached Account (after GET /api/me or enrolling a passkey). */
export function setAccount(acc) {
  write(ACCOUNT, acc ? JSON.stringify(acc) : null);
  emit();
}

export function clear() {
  access = null;
  write(ACCOUNT, null);
  emit();
}

/** Roles that work on the registry (see DESIGN.md "Who uses it"). */
const STAFF_ROLES = new Set(["warden", "property", "community_worker", "police", "district_admin"]);

export function isStaff(acc = account()) {
  return Boolean(acc && STAFF_ROLES.has(acc.role));
}

/** Police and district admins may do nothing until they have a passkey. */
export function needsPasskey(acc = account()) {
  return Boolean(acc && acc.passkey_required && !acc.has_passkey);
}

export function onChange(listener) {
  events.addEventListener("change", listener);
  return () => events.removeEventListener("change", listener);
}

function emit() {
  events.dispatchEvent(new Event("change"));
}

// Another tab signed in or out: follow it instead of showing a stale name.
if (typeof window !== "undefined") {
  window.addEventListener("storage", (e) => {
    if (e.key !== null && e.key !== ACCOUNT) return;
    if (!account()) access = null; // signed out there: this tab's token belongs to that session
    emit();
  });
}
