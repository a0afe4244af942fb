// /desk — the guard desk (property staff): register a walk-in visitor by 身份证/居住证 and
// hand them the pass, and decide on the vehicles held at the community's barriers.

import { api, isAbort } from "../api.js";
import { h, replace, errorBanner, loading, busy, notice } from "../dom.js";
import { t, label, formatDateTime } from "../i18n.js";
import { parseIdNumber, normalize } from "../idnumber.js";

const HOURS = [1, 2, 4, 8, 24];
const DEFAULT_HOURS = 2;
const ID_TYPES = ["111", "112"]; // 居民身份证, 居住证 (the server accepts these two)
const HELD_POLL_MS = 15_000; // a vehicle waits at the barrier: look again without a tap

export function render({ signal }) {
  return communityScreen(t("desk.title"), signal, (id) => [walkInSection(id, signal), heldSection(id, signal)]);
}

/** A screen over the caller's communities: ``sections(id)`` of the first, a picker when there are several. */
export async function communityScreen(title, signal, sections, lead = null) {
  let communities = [];
  try {
    communities = (await api("/api/communities", { signal })) || [];
  } catch (err) {
    if (isAbort(err)) throw err;
    return h("section", { class: "screen" }, h("h1", {}, title), errorBanner(err));
  }
  const body = h("div");
  const draw = (id) => replace(body, ...sections(id));
  const picker = communityPicker(communities, draw);
  if (communities.length) draw(communities[0].id);
  return h(
    "section",
    { class: "screen" },
    h("h1", {}, title),
    lead ? h("p", { class: "muted small" }, lead) : null,
    picker,
    communities.length ? body : h("p", { class: "muted" }, t("metrics.none")),
  );
}

/** A guard serves one community; staff of several pick it here. */
function communityPicker(communities, onPick) {
  if (communities.length < 2) return null;
  const select = h(
    "select",
    { id: "desk-community", dataset: { testid: "desk-community" } },
    communities.map((c) => h("option", { value: String(c.id) }, c.name)),
  );
  select.addEventListener("change", () => onPick(Number(select.value)));
  return h("div", { class: "field" }, h("label", { for: "desk-community" }, t("metrics.community")), select);
}

function field(id, text, input) {
  return h("div", { class: "field" }, h("label", { for: id }, text), input);
}

// --- walk-in visitors ----------------------------------------------------------------

function walkInSection(communityId, signal) {
  const houses = h("select", { id: "walkin-house", required: true, dataset: { testid: "walkin-house" } }, h("option", { value: "" }, t("common.loading")));
  const issued = h("div", { "aria-live": "polite" });
  api(`/api/communities/${encodeURIComponent(communityId)}/desk/houses`, { signal })
    .then((rows) => replace(houses, h("option", { value: "" }, t("desk.pick_house")), (rows || []).map((r) => h("option", { value: String(r.id) }, r.address))))
    .catch((err) => isAbort(err) || replace(issued, errorBanner(err)));
  return h("section", { class: "card" }, h("h2", {}, t("desk.walk_in")), walkInForm(houses, issued), issued);
}

function walkInForm(houses, issued) {
  const name = h("input", { id: "walkin-name", required: true, maxlength: 50, autocomplete: "off" });
  const idType = h("select", { id: "walkin-id-type" }, ID_TYPES.map((code) => h("option", { value: code }, t(`desk.id_type_${code}`))));
  const idNumber = h("input", { id: "walkin-id-number", required: true, maxlength: 18, autocomplete: "off", spellcheck: "false" });
  const phone = h("input", { id: "walkin-phone", inputmode: "numeric", maxlength: 11, autocomplete: "off" });
  const plate = h("input", { id: "walkin-plate", maxlength: 8, autocomplete: "off" });
  const hours = h("select", { id: "walkin-hours" }, HOURS.map((n) => h("option", { value: String(n), selected: n === DEFAULT_HOURS }, t("visitors.hours", { n }))));
  const submit = h("button", { type: "submit", class: "btn btn-primary btn-block", dataset: { testid: "register-walk-in" } }, t("desk.register"));
  const form = h(
    "form",
    { class: "form", novalidate: true },
    field("walkin-house", t("desk.house"), houses),
    field("walkin-name", t("visitors.name"), name),
    field("walkin-id-type", t("desk.id_type"), idType),
    field("walkin-id-number", t("desk.id_number"), idNumber),
    field("walkin-phone", t("visitors.phone"), phone),
    field("walkin-plate", t("visitors.plate"), plate),
    field("walkin-hours", t("visitors.window"), hours),
    submit,
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    // A typo in the ID number is caught here, with what is wrong, before anything is sent.
    const checked = parseIdNumber(idNumber.value);
    if (!houses.value) return replace(issued, errorBanner(t("desk.house_required")));
    if (!name.value.trim()) return replace(issued, errorBanner(t("desk.name_required")));
    if (!checked.valid) return replace(issued, errorBanner(t(`desk.id_${checked.reason}`)));
    busy(submit, async () => {
      const body = {
        house_id: Number(houses.value),
        visitor_name: name.value.trim(),
        id_type: idType.value,
        id_number: normalize(idNumber.value),
        phone: phone.value.trim(),
        plate: plate.value.trim(),
        valid_until: new Date(Date.now() + Number(hours.value) * 3600_000).toISOString(),
      };
      try {
        const result = await api("/api/walk-ins", { body });
        replace(issued, await issuedPass(result));
        form.reset();
      } catch (err) {
        replace(issued, errorBanner(err));
      }
    });
  });
  return form;
}

/** The walk-in's pass: its share link (shown once) and, when it opens doors already, its QR. */
async function issuedPass(result) {
  const p = result.visitor_pass;
  const share = result.share_url.split("/").pop();
  let shown = null;
  try {
    shown = await api(`/api/shared-passes/${encodeURIComponent(share)}`);
  } catch {
    // The link below still works; the QR is a convenience at the desk.
  }
  const pending = p.status === "pending";
  return h(
    "div",
    { class: "card", dataset: { testid: "walk-in-pass", status: p.status } },
    notice(t(pending ? "desk.awaits_household" : "desk.pass_ready", { name: p.visitor_name }), pending ? "info" : "success"),
    h("div", { class: "door-head" }, h("strong", {}, p.visitor_name), h("span", { class: "badge", dataset: { testid: "walk-in-status" } }, label("pass_status", p.status))),
    h("p", { class: "muted small" }, [p.doors.map((d) => d.name).join(t("common.list_sep")), t("visitors.until", { time: formatDateTime(p.valid_until) }), t("visitors.left", { n: p.uses_left })].join(" · ")),
    shown?.qr_image ? h("img", { class: "pass-qr", src: shown.qr_image, alt: t("pass.qr_alt"), width: 246, height: 246, dataset: { testid: "pass-qr" } }) : null,
    h("p", {}, h("a", { href: result.share_url, dataset: { testid: "share-link" } }, result.share_url)),
    h("p", { class: "muted small" }, t("visitors.share_once")),
  );
}

// --- vehicles held at the barrier ----------------------------------------------------------

function heldSection(communityId, signal) {
  const list = h("div", { dataset: { testid: "held-list" } }, loading());
  const status = h("div", { "aria-live": "polite" });
  const refresh = () => loadHeld(communityId, list, status, refresh, signal);
  const again = h("button", { type: "button", class: "btn btn-small btn-ghost", dataset: { testid: "held-refresh" } }, t("desk.refresh"));
  again.addEventListener("click", () => busy(again, refresh));
  const timer = setInterval(() => (list.isConnected ? refresh() : clearInterval(timer)), HELD_POLL_MS);
  signal.addEventListener("abort", () => clearInterval(timer));
  refresh();
  return h("section", { class: "card" }, h("div", { class: "door-head" }, h("h2", {}, t("desk.held")), again), status, list);
}

async function loadHeld(communityId, list, status, refresh, signal) {
  try {
    const rows = (await api(`/api/communities/${encodeURIComponent(communityId)}/vehicle-passages/held`, { signal })) || [];
    replace(list, rows.length ? h("ul", { class: "pass-list" }, rows.map((p) => heldItem(p, status, refresh))) : h("p", { class: "muted" }, t("desk.none_held")));
  } catch (err) {
    if (!isAbort(err)) replace(list, errorBanner(err));
  }
}

function heldItem(p, status, refresh) {
  const decide = (action, text, kind) => {
    const button = h("button", { type: "button", class: `btn btn-small ${kind}`, dataset: { testid: `vehicle-${action}` } }, text);
    button.addEventListener("click", () =>
      busy(button, async () => {
        try {
          await api(`/api/vehicle-passages/${encodeURIComponent(p.id)}/${action}`, { method: "POST" });
          replace(status, notice(t(`desk.done_${action}`, { plate: p.plate }), "success"));
        } catch (err) {
          // 409: another guard decided first; the list below shows what is still waiting.
          replace(status, errorBanner(err));
        }
        await refresh();
      }),
    );
    return button;
  };
  return h(
    "li",
    { class: "card", dataset: { testid: "held-vehicle", plate: p.plate } },
    h("div", { class: "door-head" }, h("strong", {}, p.plate), h("span", { class: "badge" }, label("vehicle_reason", p.reason))),
    h("p", { class: "muted small" }, [p.device_name, label("direction", p.direction), formatDateTime(p.at)].join(" · ")),
    h("div", { class: "actions" }, decide("let-in", t("desk.let_in"), "btn-primary"), decide("refuse", t("desk.refuse"), "btn-outline")),
  );
}
