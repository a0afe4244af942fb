// Web push on this device: the browser's subscription, kept in step with the
// server's (POST/DELETE /api/push/subscriptions). The service worker (sw.js)
// shows what arrives and opens its url on a tap.

import { api } from "./api.js";

export function isSupported() {
  return "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
}

/** "granted", "denied" or "default" (not asked yet). */
export function permission() {
  return isSupported() ? Notification.permission : "denied";
}

// `ready` never settles where the worker cannot register (plain http on a LAN address).
async function registration() {
  const none = new Promise((_, reject) => setTimeout(() => reject(new DOMException("no service worker", "NotSupportedError")), 5000));
  return Promise.race([navigator.serviceWorker.ready, none]);
}

/** This device's current subscription, or null. */
export async function current() {
  if (!isSupported()) return null;
  return (await registration()).pushManager.getSubscription();
}

/**
 * Ask for permission, subscribe with the server's VAPID key and register the
 * subscription for the signed-in account. Throws a DOMException named
 * "NotAllowedError" when the user (or the browser) refuses.
 */
export async function enable() {
  if ((await Notification.requestPermission()) !== "granted") {
    throw new DOMException("notifications refused", "NotAllowedError");
  }
  const reg = await registration();
  const { public_key: key } = await api("/api/push/key", { auth: false });
  const subscription =
    (await reg.pushManager.getSubscription()) ||
    (await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: fromBase64Url(key) }));
  await api("/api/push/subscriptions", { body: subscription.toJSON() });
  return subscription;
}

/** Stop notifications on this device: on the server first, then in the browser. */
export async function disable() {
  const subscription = await current();
  if (!subscription) return;
  await api("/api/push/subscriptions", { method: "DELETE", body: { endpoint: subscription.endpoint } });
  await subscription.unsubscribe();
}

function fromBase64Url(text) {
  const base64 = (text + "=".repeat((4 - (text.length % 4)) % 4)).replace(/-/g, "+").replace(/_/g, "/");
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}
