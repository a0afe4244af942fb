// A tiny History-API router. The backend serves index.html for every shell
// route, so a deep link (a scanned doorplate) and an in-app link end up in the
// same place: match(location) → screen.

/** Route table: path pattern → screen module (loaded on first use). */
export const ROUTES = [
  { name: "home", pattern: /^\/$/, load: () => import("./screens/home.js") },
  { name: "signin", pattern: /^\/signin\/?$/, load: () => import("./screens/signin.js") },
  { name: "me", pattern: /^\/me\/?$/, load: () => import("./screens/me.js"), auth: true },
  { name: "homes", pattern: /^\/homes\/?$/, load: () => import("./screens/homes.js"), auth: true },
  { name: "vehicles", pattern: /^\/homes\/(\d+)\/vehicles\/?$/, load: () => import("./screens/vehicles.js"), auth: true },
  { name: "key-persons", pattern: /^\/key-persons\/?$/, load: () => import("./screens/key_persons.js"), auth: true },
  { name: "queue", pattern: /^\/queue\/?$/, load: () => import("./screens/queue.js"), auth: true },
  { name: "passes", pattern: /^\/passes\/?$/, load: () => import("./screens/passes.js"), auth: true },
  { name: "scanner", pattern: /^\/scanner\/?$/, load: () => import("./screens/scanner.js") },
  { name: "scan", pattern: /^\/d\/([^/]+)\/?$/, load: () => import("./screens/scan.js") },
  { name: "notice-desk", pattern: /^\/notices\/desk\/?$/, load: () => import("./screens/noticedesk.js"), auth: true },
  { name: "notice", pattern: /^\/notices\/(\d+)\/?$/, load: () => import("./screens/notices.js"), auth: true },
  { name: "notices", pattern: /^\/notices\/?$/, load: () => import("./screens/notices.js"), auth: true },
  { name: "services", pattern: /^\/services\/?$/, load: () => import("./screens/services.js"), auth: true },
  { name: "service-queue", pattern: /^\/service-queue\/?$/, load: () => import("./screens/servicequeue.js"), auth: true },
  { name: "patrol", pattern: /^\/patrol\/?$/, load: () => import("./screens/patrol.js"), auth: true },
  { name: "patrol-tag", pattern: /^\/p\/([^/]+)\/?$/, load: () => import("./screens/patroltag.js"), auth: true },
  { name: "register", pattern: /^\/d\/([^/]+)\/register\/?$/, load: () => import("./screens/register.js") },
  { name: "button", pattern: /^\/d\/([^/]+)\/button\/?$/, load: () => import("./screens/button.js"), auth: true },
  { name: "visitors", pattern: /^\/visitors\/?$/, load: () => import("./screens/visitors.js"), auth: true },
  { name: "board", pattern: /^\/board\/?$/, load: () => import("./screens/board.js"), auth: true },
  { name: "alarm", pattern: /^\/alarms\/(\d+)\/?$/, load: () => import("./screens/alarm.js"), auth: true },
  { name: "pass", pattern: /^\/v\/([^/]+)\/?$/, load: () => import("./screens/pass.js") },
  { name: "admin", pattern: /^\/admin\/?$/, load: () => import("./screens/admin.js"), auth: true },
  { name: "findings", pattern: /^\/findings\/?$/, load: () => import("./screens/findings.js"), auth: true },
  { name: "desk", pattern: /^\/desk\/?$/, load: () => import("./screens/desk.js"), auth: true },
  { name: "video", pattern: /^\/video\/?$/, load: () => import("./screens/video.js"), auth: true },
  { name: "intercom", pattern: /^\/intercom\/?$/, load: () => import("./screens/intercom.js"), auth: true },
  { name: "wall", pattern: /^\/wall\/?$/, load: () => import("./screens/wall.js"), auth: true },
  { name: "watch-list", pattern: /^\/watch-list\/?$/, load: () => import("./screens/watchlist.js"), auth: true },
  { name: "organisations", pattern: /^\/organisations\/?$/, load: () => import("./screens/organisations.js"), auth: true },
  { name: "buildings", pattern: /^\/buildings\/?$/, load: () => import("./screens/buildings.js"), auth: true },
  { name: "district", pattern: /^\/district\/?$/, load: () => import("./screens/district.js"), auth: true },
  { name: "compliance", pattern: /^\/compliance(?:\/(\d+))?\/?$/, load: () => import("./screens/compliance.js"), auth: true },
];

export function match(pathname) {
  for (const route of ROUTES) {
    const m = route.pattern.exec(pathname);
    if (!m) continue;
    let token;
    try {
      token = m[1] !== undefined ? decodeURIComponent(m[1]) : undefined;
    } catch {
      return null; // malformed escape: treat as unknown
    }
    return { route, params: token !== undefined ? { token } : {} };
  }
  return null;
}

let onRoute = () => {};

/** Go to an in-app path ("/d/abc?x=1"); replace for redirects so Back works. */
export function navigate(path, { replace = false } = {}) {
  const url = new URL(path, location.origin);
  if (url.origin !== location.origin) {
    location.assign(url.href);
    return;
  }
  const target = url.pathname + url.search + url.hash;
  if (replace) history.replaceState(null, "", target);
  else if (target !== currentPath()) history.pushState(null, "", target);
  onRoute({ push: !replace });
}

export function currentPath() {
  return location.pathname + location.search + location.hash;
}

// URL parsing drops tabs and newlines and reads a backslash as "/": "/\t/evil.example"
// and "/\evil.example" would both become "//evil.example", another site.
const UNSAFE_NEXT = /[\\\u0000-\u001f\u007f]/;

/**
 * `?next=` must stay inside the app: only a path on this origin is accepted,
 * returned as the browser itself parsed it ("//evil.example", "https://…",
 * backslashes and control characters are not).
 */
export function safeNext(value, fallback = "/") {
  if (typeof value !== "string" || !value.startsWith("/") || value.startsWith("//") || UNSAFE_NEXT.test(value)) {
    return fallback;
  }
  let url;
  try {
    url = new URL(value, location.origin);
  } catch {
    return fallback;
  }
  if (url.origin !== location.origin || url.pathname.startsWith("//")) return fallback;
  return url.pathname + url.search + url.hash;
}

export function startRouter(handler) {
  onRoute = handler;
  window.addEventListener("popstate", () => onRoute({ push: false }));
  // Intercept same-origin <a data-link> clicks; let the browser handle new
  // tabs, downloads and modified clicks as usual.
  document.addEventListener("click", (e) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    const a = e.target instanceof Element ? e.target.closest("a[data-link]") : null;
    if (!a || (a.target && a.target !== "_self") || a.hasAttribute("download")) return;
    const url = new URL(a.href, location.href);
    if (url.origin !== location.origin) return;
    e.preventDefault();
    navigate(url.pathname + url.search + url.hash);
  });
  onRoute({ push: false, initial: true });
}
