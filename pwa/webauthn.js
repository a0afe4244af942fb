// Passkeys (WebAuthn). The server speaks JSON with base64url for every binary
// field; navigator.credentials speaks ArrayBuffers. These helpers translate
// both ways so screens only pass JSON around.

/** base64url (no padding) → ArrayBuffer */
export function base64urlToBuffer(value) {
  const b64 = String(value).replace(/-/g, "+").replace(/_/g, "/");
  const padded = b64 + "=".repeat((4 - (b64.length % 4)) % 4);
  const binary = atob(padded);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes.buffer;
}

/** ArrayBuffer or view → base64url (no padding) */
export function bufferToBase64url(buffer) {
  const bytes = buffer instanceof ArrayBuffer ? new Uint8Array(buffer) : new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  let binary = "";
  for (let i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function isSupported() {
  return typeof window !== "undefined" && "PublicKeyCredential" in window && Boolean(navigator.credentials);
}

// Some servers wrap the options as {publicKey: {...}}: accept both.
function unwrap(options) {
  return options && options.publicKey ? options.publicKey : options;
}

function descriptors(list) {
  return (list || []).map((c) => ({ ...c, id: base64urlToBuffer(c.id) }));
}

/** Server JSON → PublicKeyCredentialCreationOptions */
export function toCreationOptions(json) {
  const o = unwrap(json);
  const out = {
    ...o,
    challenge: base64urlToBuffer(o.challenge),
    user: { ...o.user, id: base64urlToBuffer(o.user.id) },
  };
  if (o.excludeCredentials) out.excludeCredentials = descriptors(o.excludeCredentials);
  return out;
}

/** Server JSON → PublicKeyCredentialRequestOptions */
export function toRequestOptions(json) {
  const o = unwrap(json);
  const out = { ...o, challenge: base64urlToBuffer(o.challenge) };
  // An empty (or absent) list means "any discoverable credential for this
  // RP": the phone then offers the user's passkeys without a username.
  if (o.allowCredentials) out.allowCredentials = descriptors(o.allowCredentials);
  return out;
}

/** Create a passkey; returns the credential JSON for POST /api/auth/passkeys. */
export async function createPasskey(options) {
  const cred = await navigator.credentials.create({ publicKey: toCreationOptions(options) });
  if (!cred) throw new DOMException("No credential", "NotAllowedError");
  const r = cred.response;
  return {
    id: cred.id,
    rawId: bufferToBase64url(cred.rawId),
    type: cred.type,
    response: {
      clientDataJSON: bufferToBase64url(r.clientDataJSON),
      attestationObject: bufferToBase64url(r.attestationObject),
      transports: typeof r.getTransports === "function" ? r.getTransports() : [],
    },
  };
}

/** Sign in with a passkey; returns the credential JSON for /api/auth/passkeys/authenticate. */
export async function getPasskey(options) {
  const cred = await navigator.credentials.get({ publicKey: toRequestOptions(options) });
  if (!cred) throw new DOMException("No credential", "NotAllowedError");
  const r = cred.response;
  return {
    id: cred.id,
    rawId: bufferToBase64url(cred.rawId),
    type: cred.type,
    response: {
      clientDataJSON: bufferToBase64url(r.clientDataJSON),
      authenticatorData: bufferToBase64url(r.authenticatorData),
      signature: bufferToBase64url(r.signature),
      userHandle: r.userHandle ? bufferToBase64url(r.userHandle) : null,
    },
  };
}

/** The user dismissed the browser's passkey sheet (or it timed out). */
export function isCancelled(err) {
  return Boolean(err && (err.name === "NotAllowedError" || err.name === "AbortError"));
}
