// /v/{share} — a visitor's pass, opened from the link the resident shared, without an
// account: the QR to show at a door, the doors, a live countdown and an "open" button
// per door while the pass is valid. The share token in the path is the credential.

import { api, isAbort } from "../api.js";
import { h, replace, errorBanner, loading, busy } from "../dom.js";
import { t, formatDateTime } from "../i18n.js";

const TICK_MS = 1000;

export async function render({ params, signal }) {
  const share = params.token;
  try {
    const pass = await api(`/api/shared-passes/${encodeURIComponent(share)}`, { signal, auth: false });
    return view(share, pass);
  } catch (err) {
    if (isAbort(err)) throw err;
    return h("section", { class: "screen" }, h("h1", {}, t("pass.title")), errorBanner(err));
  }
}

function view(share, pass) {
  const valid = !pass.refusal;
  return h(
    "section",
    { class: "screen pass", dataset: { testid: "pass-view" } },
    h("h1", {}, t("pass.title")),
    h("p", { class: "lead" }, t("pass.for", { name: pass.visitor_name, community: pass.community })),
    valid ? null : h("div", { class: "banner banner-error", role: "alert", dataset: { testid: "pass-refusal" } }, t(`error.${pass.refusal}`)),
    valid ? h("img", { class: "pass-qr", src: pass.qr_image, alt: t("pass.qr_alt"), width: 246, height: 246, dataset: { testid: "pass-qr" } }) : null,
    h("dl", { class: "facts" }, h("dt", {}, t("pass.until")), h("dd", {}, formatDateTime(pass.valid_until)), h("dt", {}, t("pass.uses_left")), h("dd", {}, String(pass.uses_left))),
    valid ? countdown(pass.valid_until) : null,
    h("h2", {}, t("pass.doors")),
    h("ul", { class: "door-list" }, pass.doors.map((door) => doorItem(share, door, valid))),
  );
}

/** Time left, to the second; stops itself once the page moved on or the pass expired. */
function countdown(until) {
  const end = new Date(until).getTime();
  const el = h("p", { class: "countdown", role: "timer", "aria-live": "off", dataset: { testid: "pass-countdown" } });
  const tick = () => {
    const left = Math.max(0, Math.floor((end - Date.now()) / 1000));
    const hms = [Math.floor(left / 3600), Math.floor(left / 60) % 60, left % 60].map((n) => String(n).padStart(2, "0")).join(":");
    el.textContent = left ? t("pass.time_left", { time: hms }) : t("error.expired");
    return left;
  };
  tick();
  const timer = setInterval(() => {
    if (!tick() || !el.isConnected) clearInterval(timer);
  }, TICK_MS);
  return el;
}

function doorItem(share, door, valid) {
  const status = h("div", { class: "door-status", "aria-live": "polite" });
  const button = h("button", { type: "button", class: "btn btn-primary", disabled: !valid, dataset: { testid: "pass-open" } }, t("doors.open"));
  button.addEventListener("click", () =>
    busy(button, async () => {
      replace(status, loading());
      try {
        // One key per tap: a retried request opens the door, and counts a use, once.
        const opened = await api(`/api/shared-passes/${encodeURIComponent(share)}/doors/${encodeURIComponent(door.id)}/open`, {
          method: "POST",
          auth: false,
          headers: { "Idempotency-Key": crypto.randomUUID() },
        });
        replace(status, opened.opened ? h("p", { class: "banner banner-success", role: "status", dataset: { testid: "pass-opened" } }, t("doors.opened")) : errorBanner(t("doors.refused")));
      } catch (err) {
        replace(status, errorBanner(err));
      }
    }),
  );
  return h("li", { class: "door", dataset: { testid: "pass-door", doorId: String(door.id) } }, h("div", { class: "door-head" }, h("strong", {}, door.name)), button, status);
}
