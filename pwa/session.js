// The signed-in session: tokens and the last known Account, kept in
// localStorage so a scan from the phone camera (a fresh tab) is still signed in.
// Everything else reads the session through here, so the storage layout lives
// in one place and the header can follow changes (also from other tabs).

const KEYS = {
  access: "anju.access",
  refresh: "anju.refresh",
  account: "anju.account",
};

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

export function accessToken() {
  return read(KEYS.access);
}

export function refreshToken() {
  return read(KEYS.refresh);
}

export function account() {
  const raw = read(KEYS.account);
  if (!raw) return null;
  try {
    return JSON.parse(raw);
  } catch {
    return null;
  }
}

export function isSignedIn() {
  return Boolean(accessToken() || refreshToken());
}

/** Store a TokenPair from /api/auth/token, /refresh or passkey authenticate. */
export function setTokens(pair) {
  write(KEYS.access, pair.access_token);
  if (pair.refresh_token) write(KEYS.refresh, pair.refresh_token);
  if (pair.account) write(KEYS.account, JSON.stringify(pair.account));
  emit();
}

/** Replace the cached Account (after GET /api/me or enrolling a passkey). */
export function setAccount(acc) {
  write(KEYS.account, acc ? JSON.stringify(acc) : null);
  emit();
}

export function clear() {
  write(KEYS.access, null);
  write(KEYS.refresh, null);
  write(KEYS.account, null);
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
    if (e.key === null || Object.values(KEYS).includes(e.key)) emit();
  });
}
