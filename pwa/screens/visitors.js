// /visitors — a resident invites a visitor (a pass for chosen doors, a window and a number of
// openings), shares its link, and sees, confirms (walk-ins the guard desk registered) and
// revokes the household's passes.

import { api, isAbort } from "../api.js";
import { h, replace, errorBanner, loading, busy, notice } from "../dom.js";
import { t, label, formatDateTime } from "../i18n.js";

const HOURS = [2, 4, 8, 24, 72, 168]; // the server allows up to 7 days
const DEFAULT_HOURS = 4;
const DEFAULT_USES = 4;

export async function render({ signal }) {
  const list = h("div", { dataset: { testid: "pass-list" } }, loading());
  const issued = h("div", { "aria-live": "polite" });
  let doors = [];
  try {
    doors = (await api("/api/doors", { signal })) || [];
  } catch (err) {
    if (isAbort(err)) throw err;
    return h("section", { class: "screen" }, h("h1", {}, t("visitors.title")), errorBanner(err));
  }
  const refresh = () => loadPasses(list, refresh, signal);
  refresh();
  return h(
    "section",
    { class: "screen" },
    h("h1", {}, t("visitors.title")),
    inviteForm(doors, issued, refresh),
    issued,
    h("h2", {}, t("visitors.mine")),
    list,
  );
}

function field(id, text, input) {
  return h("div", { class: "field" }, h("label", { for: id }, text), input);
}

function inviteForm(doors, issued, refresh) {
  const name = h("input", { id: "visitor-name", name: "visitor_name", required: true, maxlength: 50, autocomplete: "off" });
  const phone = h("input", { id: "visitor-phone", name: "phone", inputmode: "numeric", maxlength: 11, autocomplete: "off" });
  const plate = h("input", { id: "visitor-plate", name: "plate", maxlength: 8, autocomplete: "off" });
  const hours = h("select", { id: "visitor-hours" }, HOURS.map((n) => h("option", { value: String(n), selected: n === DEFAULT_HOURS }, t("visitors.hours", { n }))));
  const uses = h("input", { id: "visitor-uses", type: "number", min: 1, max: 50, value: String(DEFAULT_USES) });
  // By default the gates and the unit door; building doors on request.
  const boxes = doors.map((door) =>
    h("label", { class: "check" }, h("input", { type: "checkbox", value: String(door.id), checked: door.kind !== "building", dataset: { testid: "visitor-door" } }), " ", door.name),
  );
  const submit = h("button", { type: "submit", class: "btn btn-primary btn-block", dataset: { testid: "create-pass" } }, t("visitors.create"));
  const form = h(
    "form",
    { class: "form", novalidate: true },
    field("visitor-name", t("visitors.name"), name),
    field("visitor-phone", t("visitors.phone"), phone),
    field("visitor-hours", t("visitors.window"), hours),
    field("visitor-uses", t("visitors.uses"), uses),
    field("visitor-plate", t("visitors.plate"), plate),
    h("fieldset", { class: "field" }, h("legend", {}, t("visitors.doors")), boxes),
    submit,
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(submit, async () => {
      const now = new Date();
      const body = {
        visitor_name: name.value.trim(),
        phone: phone.value.trim(),
        plate: plate.value.trim(),
        uses: Number(uses.value) || DEFAULT_USES,
        valid_from: now.toISOString(),
        valid_until: new Date(now.getTime() + Number(hours.value) * 3600_000).toISOString(),
        door_ids: boxes.map((b) => b.querySelector("input")).filter((i) => i.checked).map((i) => Number(i.value)),
      };
      try {
        const result = await api("/api/passes", { body });
        replace(issued, shareBox(result));
        form.reset();
        refresh();
      } catch (err) {
        replace(issued, errorBanner(err));
      }
    });
  });
  return form;
}

/** The share link, shown once: the server keeps only its digest. */
function shareBox(result) {
  const url = result.share_url;
  const share = h("button", { type: "button", class: "btn btn-outline" }, t("visitors.share"));
  share.addEventListener("click", () => {
    if (navigator.share) navigator.share({ title: t("pass.title"), url }).catch(() => {});
    else navigator.clipboard?.writeText(url).catch(() => {});
  });
  return h(
    "div",
    { class: "card", dataset: { testid: "pass-created" } },
    notice(t("visitors.created", { name: result.visitor_pass.visitor_name }), "success"),
    h("p", {}, h("a", { href: url, dataset: { testid: "share-link" } }, url)),
    h("p", { class: "muted small" }, t("visitors.share_once")),
    share,
  );
}

async function loadPasses(list, refresh, signal) {
  try {
    const passes = (await api("/api/passes", { signal })) || [];
    replace(list, passes.length ? h("ul", { class: "pass-list" }, passes.map((p) => passItem(p, refresh))) : h("p", { class: "muted" }, t("visitors.none")));
  } catch (err) {
    if (!isAbort(err)) replace(list, errorBanner(err));
  }
}

function passItem(p, refresh) {
  const status = h("div", { "aria-live": "polite" });
  const act = (action, text) => {
    const button = h("button", { type: "button", class: "btn btn-small btn-outline", dataset: { testid: `pass-${action}` } }, text);
    button.addEventListener("click", () =>
      busy(button, async () => {
        try {
          await api(`/api/passes/${encodeURIComponent(p.id)}/${action}`, { method: "POST" });
          refresh();
        } catch (err) {
          replace(status, errorBanner(err));
        }
      }),
    );
    return button;
  };
  return h(
    "li",
    { class: "card", dataset: { testid: "pass-item", status: p.status } },
    h("div", { class: "door-head" }, h("strong", {}, p.visitor_name), h("span", { class: "badge" }, label("pass_status", p.status))),
    h("p", { class: "muted small" }, [p.doors.map((d) => d.name).join(t("common.list_sep")), t("visitors.until", { time: formatDateTime(p.valid_until) }), t("visitors.left", { n: p.uses_left })].join(" · ")),
    p.plate ? h("p", { class: "small" }, p.plate) : null,
    visitsButton(p, status),
    p.status === "pending" ? act("confirm", t("visitors.confirm")) : null,
    p.status !== "revoked" ? act("revoke", t("visitors.revoke")) : null,
    status,
  );
}

/** Who came with the pass: each door opening, or refusal with its reason. */
function visitsButton(p, status) {
  const names = new Map(p.doors.map((d) => [d.id, d.name]));
  const button = h("button", { type: "button", class: "btn btn-small btn-ghost", dataset: { testid: "pass-visits" } }, t("visitors.visits"));
  button.addEventListener("click", () =>
    busy(button, async () => {
      try {
        const visits = (await api(`/api/passes/${encodeURIComponent(p.id)}/visits`)) || [];
        const line = (v) => [formatDateTime(v.at), names.get(v.door_id) ?? String(v.door_id ?? ""), v.granted ? t("visitors.visit_in") : t(`error.${v.reason}`)].join(" · ");
        replace(status, visits.length ? h("ul", { class: "small" }, visits.map((v) => h("li", {}, line(v)))) : h("p", { class: "muted small" }, t("visitors.no_visits")));
      } catch (err) {
        replace(status, errorBanner(err));
      }
    }),
  );
  return button;
}
