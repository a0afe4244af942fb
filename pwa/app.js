// The shell: header, router wiring, route guards, service worker and its
// update prompt. Screens live in screens/ and know nothing about this file.

import { api, isAbort, restoreSession } from "./api.js";
import { h, link, replace, errorBanner, loading } from "./dom.js";
import { t, getLang, setLang, LANGS } from "./i18n.js";
import { startRouter, match, navigate, currentPath } from "./router.js";
import * as session from "./session.js";

const main = document.getElementById("app");
let seq = 0;
let controller = null;
let currentRoute = null;

// Routes a passkey-less police officer or district admin may still open.
const PASSKEY_FREE = new Set(["me", "signin"]);

async function renderRoute({ push = false } = {}) {
  const mine = ++seq;
  controller?.abort();
  controller = new AbortController();
  const url = new URL(location.href);
  const found = match(url.pathname);
  currentRoute = found?.route ?? null;
  renderHeader();

  if (!found) {
    show(notFound(), push);
    return;
  }
  const { route, params } = found;
  if (route.auth && !session.isSignedIn() && !(await restoredFromCookie())) {
    if (mine === seq) navigate(`/signin?next=${encodeURIComponent(currentPath())}`, { replace: true });
    return;
  }
  if (mine !== seq) return; // the user moved on while the session was restored
  if (session.isSignedIn() && session.needsPasskey() && !PASSKEY_FREE.has(route.name)) {
    navigate(`/me?next=${encodeURIComponent(currentPath())}`, { replace: true });
    return;
  }

  // Show "loading" only if the screen is slow, to avoid a flash on every tap.
  const slow = setTimeout(() => mine === seq && replace(main, loading()), 200);
  main.setAttribute("aria-busy", "true");
  try {
    const mod = await route.load();
    const node = await mod.render({ params, query: url.searchParams, signal: controller.signal });
    if (mine !== seq) return; // the user moved on meanwhile
    show(node, push);
  } catch (err) {
    if (mine !== seq || isAbort(err)) return;
    console.error(err);
    show(h("section", { class: "screen" }, h("h1", {}, t("common.error_title")), errorBanner(err)), push);
  } finally {
    clearTimeout(slow);
    if (mine === seq) main.removeAttribute("aria-busy");
  }
}

/**
 * The HttpOnly refresh cookie is the session's truth; the cached account only says the browser was
 * signed in. Without that cache (storage cleared, or a page loaded before the sign-in's storage
 * write reached it) a private screen asks the cookie once before sending the user to sign in.
 */
async function restoredFromCookie() {
  try {
    return await restoreSession();
  } catch {
    return false; // offline or the server unavailable: nothing to restore with
  }
}

function show(node, push) {
  replace(main, node);
  const heading = main.querySelector("h1");
  document.title = heading && heading.textContent.trim() ? `${heading.textContent.trim()} · ${t("app.name")}` : t("app.title");
  if (push) {
    // After an in-app navigation move focus to the new page's heading so a
    // screen reader announces it, and start at the top like a page load.
    window.scrollTo(0, 0);
    if (heading) {
      heading.tabIndex = -1;
      heading.focus({ preventScroll: true });
    }
  }
}

function notFound() {
  return h(
    "section",
    { class: "screen" },
    h("h1", {}, t("common.not_found")),
    h("p", {}, t("common.not_found_text")),
    link("/", { class: "btn btn-primary" }, t("common.home")),
  );
}

// --- header ------------------------------------------------------------------

function renderHeader() {
  document.documentElement.lang = getLang();
  const sub = document.getElementById("brand-sub");
  if (sub) sub.textContent = t("app.tagline");
  const brand = document.querySelector(".brand");
  if (brand) brand.setAttribute("aria-label", t("app.home_label"));
  const skip = document.querySelector(".skip-link");
  if (skip) skip.textContent = t("app.skip");

  const slot = document.getElementById("account-slot");
  if (slot) {
    const acc = session.account();
    if (session.isSignedIn() && acc) {
      replace(
        slot,
        link(
          "/me",
          { class: "account-link", dataset: { testid: "signed-in-as" }, "aria-label": t("app.signed_in_as", { name: acc.name || acc.phone || "" }) },
          acc.name || acc.phone || t("app.account"),
        ),
      );
    } else if (currentRoute?.name !== "signin") {
      const next = currentPath() === "/" ? "" : `?next=${encodeURIComponent(currentPath())}`;
      replace(slot, link(`/signin${next}`, { class: "account-link" }, t("app.sign_in")));
    } else {
      replace(slot);
    }
  }

  const group = document.querySelector(".lang-toggle");
  if (group) {
    group.setAttribute("aria-label", t("app.language"));
    for (const btn of group.querySelectorAll("button[data-lang]")) {
      btn.setAttribute("aria-pressed", String(btn.dataset.lang === getLang()));
    }
  }
  const offline = document.getElementById("offline");
  if (offline) offline.textContent = t("app.offline");
}

function wireHeader() {
  const group = document.querySelector(".lang-toggle");
  group?.addEventListener("click", (e) => {
    const btn = e.target instanceof Element ? e.target.closest("button[data-lang]") : null;
    if (!btn || !LANGS.includes(btn.dataset.lang) || btn.dataset.lang === getLang()) return;
    setLang(btn.dataset.lang);
    renderRoute();
  });

  const offline = document.getElementById("offline");
  const online = () => offline && (offline.hidden = navigator.onLine);
  window.addEventListener("online", online);
  window.addEventListener("offline", online);
  online();

  session.onChange(() => {
    renderHeader();
    // Signed out elsewhere (another tab, a failed refresh) while on a private screen.
    if (currentRoute?.auth && !session.isSignedIn()) {
      navigate(`/signin?next=${encodeURIComponent(currentPath())}`, { replace: true });
    } else if (session.needsPasskey() && currentRoute && !PASSKEY_FREE.has(currentRoute.name)) {
      navigate(`/me?next=${encodeURIComponent(currentPath())}`, { replace: true });
    }
  });
}

// --- service worker ------------------------------------------------------------

const toast = () => document.getElementById("toast");

function showToast(...children) {
  const el = toast();
  if (!el) return;
  const close = h("button", { type: "button", class: "btn btn-small btn-ghost", "aria-label": t("common.dismiss") }, "×");
  close.addEventListener("click", () => {
    el.hidden = true;
    replace(el);
  });
  replace(el, h("div", { class: "toast-body" }, children), close);
  el.hidden = false;
}

async function registerWorker() {
  if (!("serviceWorker" in navigator)) return;
  let reg;
  try {
    reg = await navigator.serviceWorker.register("/sw.js", { scope: "/" });
  } catch (err) {
    console.warn("service worker not registered", err); // file://, http on a LAN IP…
    return;
  }

  let accepted = false;
  const prompt = (worker) => {
    const reload = h("button", { type: "button", class: "btn btn-small btn-primary", dataset: { testid: "update-reload" } }, t("update.reload"));
    reload.addEventListener("click", () => {
      accepted = true;
      reload.disabled = true;
      worker.postMessage("skipWaiting");
    });
    showToast(h("span", {}, t("update.available")), " ", reload);
  };

  // A new version only waits when an older one controls this page; on the
  // very first install there is nothing to update.
  if (reg.waiting && navigator.serviceWorker.controller) prompt(reg.waiting);
  reg.addEventListener("updatefound", () => {
    const worker = reg.installing;
    worker?.addEventListener("statechange", () => {
      if (worker.state === "installed" && navigator.serviceWorker.controller) prompt(worker);
    });
  });
  // Reload once the new worker took over, but only when the user asked for it
  // (the first install's clients.claim() also fires controllerchange).
  navigator.serviceWorker.addEventListener("controllerchange", () => {
    if (accepted) {
      accepted = false;
      location.reload();
    }
  });
  // Phones keep a PWA open for days: look for updates when it comes back.
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") reg.update().catch(() => {});
  });

  // A push arrived while the app is open: show it in the page as well.
  navigator.serviceWorker.addEventListener("message", (e) => {
    const msg = e.data;
    if (!msg || msg.type !== "push" || !msg.payload) return;
    const { title, body, url } = msg.payload;
    const target = typeof url === "string" && url.startsWith("/") && !url.startsWith("//") ? url : null;
    showToast(
      h("strong", {}, title || t("app.name")),
      body ? h("span", {}, ` ${body}`) : null,
      target ? [" ", link(target, { class: "toast-link" }, t("update.open"))] : null,
    );
  });
}

// --- boot ------------------------------------------------------------------

function boot() {
  wireHeader();
  startRouter(renderRoute);
  registerWorker();
  // Refresh the cached account (name, passkey flags) without delaying the screen.
  if (session.isSignedIn()) {
    api("/api/me")
      .then((acc) => acc && session.setAccount(acc))
      .catch(() => {});
  }
}

boot();
