// /d/{token} — what a doorplate shows. The server decides what this viewer
// may see and do (fields absent, `actions` subset); this screen renders only
// what the response contains and never offers an action it did not list.

import { api, isAbort } from "../api.js";
import { codeLabel, loadCodes } from "../codes.js";
import { h, link, replace, errorBanner, notice, busy, safeUrl, askReason, phoneLink } from "../dom.js";
import { t, label, formatDateTime, formatDate } from "../i18n.js";
import * as session from "../session.js";
import { historySection } from "./household_history.js";
import { recordTools } from "./residency.js";
import { tileList } from "./services.js";

export async function render({ params, signal }) {
  const token = params.token;
  // Code lists only matter when residents are shown, i.e. to signed-in viewers.
  const codes = session.isSignedIn()
    ? Promise.all([loadCodes("YZGX").catch(() => []), loadCodes("XB").catch(() => [])])
    : Promise.resolve([[], []]);

  const view = h("section", { class: "screen scan", dataset: { testid: "scan-view" } });
  const status = h("div", { class: "status-area", "aria-live": "polite" });

  async function load() {
    const data = await api(`/api/scan/${encodeURIComponent(token)}`, { signal });
    const [relations, genders] = await codes;
    view.dataset.viewer = data.viewer;
    replace(view, ...build(data, { token, status, relations, genders, reload }));
  }

  async function reload(message) {
    try {
      await load();
      replace(status, message ? notice(message, "success") : null);
      // The button that was pressed is gone with the re-render: keep
      // keyboard focus near the outcome instead of dropping it on <body>.
      status.tabIndex = -1;
      status.focus({ preventScroll: false });
    } catch (err) {
      if (!isAbort(err)) replace(status, errorBanner(err));
    }
  }

  try {
    await load();
  } catch (err) {
    if (isAbort(err)) throw err;
    return failed(err);
  }
  return view;
}

function failed(err) {
  const unknown = err.status === 404;
  return h(
    "section",
    { class: "screen" },
    h("h1", {}, unknown ? t("scan.unknown_title") : t("scan.title")),
    errorBanner(err),
    h("div", { class: "actions" }, link("/scanner", { class: "btn btn-primary" }, t("scan.scan_again"))),
  );
}

function build(data, ctx) {
  const actions = new Set(data.actions || []);
  const anonymous = data.viewer === "anonymous";
  const services = servicesSection(data.services);
  return [
    addressCard(data),
    ctx.status,
    actionBar(data, actions, ctx.token),
    anonymous ? services : null,
    anonymous ? signInPrompt(ctx.token) : null,
    data.residents ? residentsSection(data, actions, ctx) : null,
    data.owners ? ownersSection(data.owners) : null,
    anonymous ? null : fetched(`/api/communities/${encodeURIComponent(data.community.id)}/services`, tilesSection),
    data.viewer === "staff" || data.viewer === "police" ? fetched(`/api/plates/${encodeURIComponent(ctx.token)}/patrols`, patrolSection) : null,
    data.house && actions.has("view_residency_history") ? historySection(data.house.id) : null,
    anonymous ? null : services,
  ];
}

function addressCard(data) {
  const { plate = {}, community = {}, address = {}, house } = data;
  const facts = [
    [t("scan.community"), community.name],
    [t("scan.street"), community.street],
    [t("scan.police_station"), community.police_station],
    house ? [t("scan.floor"), house.floor] : null,
    house ? [t("scan.room_no"), house.room_no] : null,
    house && house.area != null ? [t("scan.area"), t("scan.area_value", { area: house.area })] : null,
    // `use` (self_occupied / rented / vacant / unknown); older servers said `status`.
    house && (house.use || house.status) ? [t("scan.house_status"), label("house_status", house.use || house.status)] : null,
    [t("scan.address_code"), address.code],
  ].filter((row) => row && row[1] != null && row[1] !== "");
  return h(
    "header",
    { class: "card address-card" },
    h("p", { class: "kicker" }, t("scan.plate_kind", { kind: label("plate_kind", plate.kind) })),
    h("h1", {}, address.text || t("scan.title")),
    h("dl", { class: "facts" }, facts.map(([k, v]) => [h("dt", {}, k), h("dd", {}, String(v))])),
    data.viewer !== "anonymous"
      ? h("p", { class: "viewer-note" }, t("scan.viewing_as", { viewer: label("viewer", data.viewer) }))
      : null,
  );
}

function actionBar(data, actions, token) {
  const register = `/d/${encodeURIComponent(token)}/register`;
  const items = [];
  // Self-registration only makes sense on a flat's own plate.
  if (actions.has("self_register") && data.plate?.kind === "house") {
    items.push(link(register, { class: "btn btn-primary btn-block", dataset: { testid: "self-register" } }, t("scan.self_register")));
  }
  if (actions.has("add_member")) {
    items.push(link(register, { class: "btn btn-primary", dataset: { testid: "add-member" } }, t("scan.add_member")));
  }
  if (actions.has("register")) {
    items.push(link(register, { class: "btn btn-primary", dataset: { testid: "register-resident" } }, t("scan.register")));
  }
  if (actions.has("pair_button")) {
    const pair = `/d/${encodeURIComponent(token)}/button`;
    items.push(link(pair, { class: "btn btn-outline", dataset: { testid: "pair-button" } }, t("scan.pair_button")));
  }
  return items.length ? h("div", { class: "actions" }, items) : null;
}

function signInPrompt(token) {
  if (session.isSignedIn()) {
    // Signed in but not linked to this flat or community: only public info.
    return h("p", { class: "muted" }, t("scan.public_only"));
  }
  return h(
    "div",
    { class: "card" },
    h("p", {}, t("scan.sign_in_hint")),
    link(`/signin?next=${encodeURIComponent(`/d/${token}`)}`, { class: "btn btn-outline", dataset: { testid: "scan-sign-in" } }, t("scan.sign_in")),
  );
}

function servicesSection(services) {
  if (!services || !services.length) return null;
  return h(
    "section",
    { class: "card", "aria-labelledby": "services-title" },
    h("h2", { id: "services-title" }, t("scan.services")),
    h(
      "ul",
      { class: "link-list" },
      services.map((s) => {
        const href = safeUrl(s.url);
        if (!href) return h("li", {}, s.title);
        const external = new URL(href).origin !== location.origin;
        return h(
          "li",
          {},
          external
            ? h("a", { href, target: "_blank", rel: "noopener noreferrer" }, s.title, h("span", { class: "visually-hidden" }, ` (${t("common.opens_new_window")})`))
            : link(href, {}, s.title),
        );
      }),
    ),
  );
}

function residentsSection(data, actions, ctx) {
  const own = data.viewer === "resident";
  const list = data.residents;
  return h(
    "section",
    { class: "card", "aria-labelledby": "residents-title" },
    h("h2", { id: "residents-title" }, own ? t("scan.household") : t("scan.residents"), " ", h("span", { class: "count" }, `(${list.length})`)),
    list.length
      ? h("ul", { class: "resident-list" }, list.map((r) => residentItem(r, data, actions, ctx)))
      : h("p", { class: "muted" }, t("scan.no_residents")),
  );
}

function residentItem(r, data, actions, ctx) {
  const pending = r.status === "pending";
  const facts = [
    r.relation ? [t("person.relation"), codeLabel(ctx.relations, r.relation)] : null,
    r.gender ? [t("person.gender"), codeLabel(ctx.genders, r.gender) || label("gender", r.gender)] : null,
    // Police see the birth date; beside a masked ID number others get an age band only.
    r.birth_date ? [t("person.birth_date"), formatDate(r.birth_date)] : null,
    r.age_band ? [t("person.age_band"), h("span", { dataset: { testid: "age-band" } }, r.age_band)] : null,
    r.phone ? [t("person.phone"), phoneLink(r.phone)] : null,
    r.id_number ? [t("person.id_number"), h("span", { class: "mono", dataset: { testid: "id-number" } }, r.id_number)] : null,
    r.key_person && r.key_category ? [t("person.key_category"), r.key_category] : null,
  ].filter(Boolean);

  const record = recordTools(r, actions, ctx);
  const buttons = [...record.buttons];
  if (pending && actions.has("verify")) {
    buttons.push(actionButton("verify", t("queue.verify"), "btn-primary", () => verify(r, ctx)));
    buttons.push(actionButton("reject", t("queue.reject"), "btn-danger-outline", () => reject(r, ctx)));
  }
  // The seed forbids deregistering a permanent (常住) resident: never offer it.
  if (!pending && actions.has("deregister") && r.residence_category !== "permanent") {
    buttons.push(actionButton("deregister", t("scan.deregister"), "btn-danger-outline", () => deregister(r, ctx)));
  }
  if (actions.has("flag_key_person") && r.person_id != null) {
    buttons.push(
      r.key_person
        ? actionButton("unflag-key-person", t("scan.unflag_key_person"), "btn-outline", () => flagKeyPerson(r, false, ctx))
        : actionButton("flag-key-person", t("scan.flag_key_person"), "btn-outline", () => flagKeyPerson(r, true, ctx)),
    );
  }

  return h(
    "li",
    { class: ["resident", pending ? "is-pending" : null], dataset: { testid: "resident", residencyId: String(r.residency_id) } },
    h(
      "div",
      { class: "resident-head" },
      h("span", { class: "resident-name", dataset: { testid: "resident-name" } }, r.name),
      h(
        "span",
        { class: "badges" },
        r.status ? h("span", { class: `badge badge-${r.status}`, dataset: { testid: "status" } }, label("status", r.status)) : null,
        r.residence_category
          ? h("span", { class: `badge badge-${r.residence_category}`, dataset: { testid: "category" } }, label("residence_category", r.residence_category))
          : null,
        r.key_person ? h("span", { class: "badge badge-key", dataset: { testid: "key-person" } }, t("person.key_person")) : null,
      ),
    ),
    facts.length ? h("dl", { class: "facts facts-compact" }, facts.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])) : null,
    buttons.length ? h("div", { class: "actions actions-inline" }, buttons) : null,
    record.panel,
  );
}

function actionButton(testid, text, kind, fn) {
  const b = h("button", { type: "button", class: `btn btn-small ${kind}`, dataset: { testid } }, text);
  b.addEventListener("click", () => busy(b, fn));
  return b;
}

async function run(ctx, request, success) {
  try {
    await request();
    await ctx.reload(success);
  } catch (err) {
    if (!isAbort(err)) replace(ctx.status, errorBanner(err));
  }
}

function verify(r, ctx) {
  return run(ctx, () => api(`/api/residencies/${encodeURIComponent(r.residency_id)}/verify`, { method: "POST" }), t("queue.verified", { name: r.name }));
}

function reject(r, ctx) {
  const reason = askReason(t("queue.reject_reason", { name: r.name }), ctx.status);
  if (reason === null) return;
  return run(ctx, () => api(`/api/residencies/${encodeURIComponent(r.residency_id)}/reject`, { body: { reason } }), t("queue.rejected", { name: r.name }));
}

function deregister(r, ctx) {
  const reason = askReason(t("scan.deregister_reason", { name: r.name }), ctx.status);
  if (reason === null) return;
  return run(ctx, () => api(`/api/residencies/${encodeURIComponent(r.residency_id)}/end`, { body: { reason } }), t("scan.deregistered", { name: r.name }));
}

// POST /api/people/{person_id}/key-person {key_person, key_category} → 204;
// key_category is a string (empty when unflagging).
function flagKeyPerson(r, flag, ctx) {
  let category = "";
  if (flag) {
    category = window.prompt(t("scan.key_category_prompt", { name: r.name }));
    if (category === null) return;
  } else if (!window.confirm(t("scan.unflag_confirm", { name: r.name }))) {
    return;
  }
  return run(
    ctx,
    () => api(`/api/people/${encodeURIComponent(r.person_id)}/key-person`, { body: { key_person: flag, key_category: category.trim() } }),
    flag ? t("scan.flagged", { name: r.name }) : t("scan.unflagged", { name: r.name }),
  );
}

function ownersSection(owners) {
  return h(
    "section",
    { class: "card", "aria-labelledby": "owners-title" },
    h("h2", { id: "owners-title" }, t("scan.owners")),
    owners.length
      ? h(
          "ul",
          { class: "plain-list" },
          owners.map((o) =>
            h(
              "li",
              { dataset: { testid: "owner" } },
              h("strong", {}, o.name),
              o.phone ? [" · ", phoneLink(o.phone)] : null,
              o.id_number ? [" · ", h("span", { class: "mono", dataset: { testid: "owner-id-number" } }, o.id_number)] : null,
            ),
          ),
        )
      : h("p", { class: "muted" }, t("scan.no_owners")),
  );
}

/**
 * A section read beside the scan (which stays one query): filled when its
 * request answers, gone when it is refused (a viewer roles/ does not let see it).
 */
function fetched(path, render) {
  const slot = h("div");
  api(path)
    .then((data) => replace(slot, render(data)))
    .catch(() => slot.remove());
  return slot;
}

function tilesSection(all) {
  const tiles = all.filter((tile) => tile.enabled); // managers also receive the disabled ones
  if (!tiles.length) return null;
  return h("section", { class: "card", "aria-labelledby": "tiles-title" }, h("h2", { id: "tiles-title" }, t("services.community_services")), tileList(tiles), link("/services", { class: "btn btn-small btn-outline" }, t("services.title")));
}

function patrolSection(records) {
  return h(
    "section",
    { class: "card", "aria-labelledby": "patrol-title" },
    h("h2", { id: "patrol-title" }, t("scan.patrol")),
    records.length
      ? h(
          "ol",
          { class: "timeline" },
          records.map((p) =>
            h(
              "li",
              { dataset: { testid: "patrol-record" } },
              h("time", { datetime: p.at }, formatDateTime(p.at)),
              " ",
              h("span", {}, p.checkpoint),
              " · ",
              h("span", {}, p.guard),
            ),
          ),
        )
      : h("p", { class: "muted" }, t("scan.no_patrols")),
  );
}
