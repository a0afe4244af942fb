// Anju service worker, served at /sw.js (scope "/"). The backend replaces the
// two placeholders below: VERSION changes whenever any shell file changes, and
// PRECACHE lists every file under /app/ plus "/".
const VERSION = "__VERSION__";
const PRECACHE = __PRECACHE__;

const CACHE = `anju-shell-${VERSION}`;
const CACHE_PREFIX = "anju-shell-";

// Paths the backend answers with index.html (see app's router). Other
// navigations (e.g. a server-rendered page) are left alone.
const SHELL_ROUTES = [/^\/$/, /^\/signin\/?$/, /^\/me\/?$/, /^\/queue\/?$/, /^\/scanner\/?$/, /^\/d\/[^/]+\/?$/, /^\/d\/[^/]+\/register\/?$/];

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      // cache: "reload" bypasses the HTTP cache so a new version never
      // precaches a stale file.
      .then((cache) => cache.addAll(PRECACHE.map((url) => new Request(url, { cache: "reload" })))),
  );
  // No skipWaiting() here: the page asks the user first, then sends "skipWaiting".
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      const names = await caches.keys();
      await Promise.all(names.filter((n) => n.startsWith(CACHE_PREFIX) && n !== CACHE).map((n) => caches.delete(n)));
      await self.clients.claim();
    })(),
  );
});

self.addEventListener("message", (event) => {
  const data = event.data;
  if (data === "skipWaiting" || (data && data.type === "skipWaiting")) self.skipWaiting();
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;

  if (url.pathname.startsWith("/api/")) {
    // API responses carry personal data: never cached, always the network.
    event.respondWith(networkOnly(request));
    return;
  }
  if (request.method !== "GET") return;

  if (request.mode === "navigate") {
    if (SHELL_ROUTES.some((re) => re.test(url.pathname))) event.respondWith(shell(request));
    return;
  }
  if (url.pathname.startsWith("/app/") || url.pathname === "/manifest.webmanifest") {
    event.respondWith(cacheFirst(request));
  }
});

async function networkOnly(request) {
  try {
    return await fetch(request);
  } catch {
    // Offline: answer in the API's own error shape so the app shows its
    // "offline" message instead of a generic failure.
    return new Response(JSON.stringify({ status_code: 503, detail: "offline", extra: { code: "offline" } }), {
      status: 503,
      headers: { "Content-Type": "application/json", "Cache-Control": "no-store" },
    });
  }
}

// Network first, so an unknown plate still gets the server's 404 page and a
// deployed shell is picked up; the cached shell only when offline.
async function shell(request) {
  try {
    return await fetch(request);
  } catch {
    const cache = await caches.open(CACHE);
    const cached = await cache.match("/");
    return cached || Response.error();
  }
}

// Shell assets are versioned by the cache name, so the cache is the truth.
async function cacheFirst(request) {
  const cache = await caches.open(CACHE);
  const cached = await cache.match(request);
  if (cached) return cached;
  const response = await fetch(request);
  if (response.ok && response.type === "basic") cache.put(request, response.clone());
  return response;
}

// --- web push ---------------------------------------------------------------

// Only same-origin targets: a notification must not send anyone elsewhere.
function sameOriginUrl(value) {
  try {
    const url = new URL(value || "/", self.location.origin);
    return url.origin === self.location.origin ? url.href : new URL("/", self.location.origin).href;
  } catch {
    return new URL("/", self.location.origin).href;
  }
}

self.addEventListener("push", (event) => {
  let data = {};
  if (event.data) {
    try {
      data = event.data.json();
    } catch {
      data = { body: event.data.text() };
    }
  }
  const title = data.title || "安居";
  const url = sameOriginUrl(data.url);
  event.waitUntil(
    (async () => {
      await self.registration.showNotification(title, {
        body: data.body || "",
        icon: "/app/icons/icon-192.png",
        badge: "/app/icons/icon-192.png",
        lang: "zh-CN",
        // A later message with the same tag (the same alarm) replaces this one, and still alerts.
        tag: data.tag || undefined,
        renotify: Boolean(data.tag),
        requireInteraction: data.urgency === "high",
        data: { url },
      });
      // Open pages can show it in place as well.
      const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
      for (const client of windows) client.postMessage({ type: "push", payload: { title, body: data.body || "", url: new URL(url).pathname + new URL(url).search } });
    })(),
  );
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = sameOriginUrl(event.notification.data && event.notification.data.url);
  event.waitUntil(
    (async () => {
      const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
      const exact = windows.find((c) => c.url === url);
      if (exact) return exact.focus();
      // Reuse an open Anju window rather than stacking new ones.
      const any = windows.find((c) => "navigate" in c);
      if (any) {
        try {
          const navigated = await any.navigate(url);
          return (navigated || any).focus();
        } catch {
          /* not controlled by us yet: open a new window instead */
        }
      }
      return self.clients.openWindow(url);
    })(),
  );
});
