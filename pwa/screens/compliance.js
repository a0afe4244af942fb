// /compliance/{id} — a community's acceptance self-assessment: the score item
// by item with what was measured, the items the police enter (editable by the
// police and district admins), the configuration matrix for its tier, the
// coverage targets, the uplink to the police platform, and the printable sheet.

import { api, isAbort } from "../api.js";
import { h, replace, errorBanner, loading, busy } from "../dom.js";
import { t, label, formatDateTime } from "../i18n.js";
import * as session from "../session.js";
import { communityScreen } from "./desk.js";
import { share, lag } from "./district.js";

// Who enters the items no live data shows (roles/matrix.py: enter_compliance).
const ENTERING_ROLES = new Set(["police", "district_admin"]);

export function render({ params, signal }) {
  if (params.token === undefined) return communityScreen(t("compliance.title"), signal, (id) => [assessment(id, signal)]);
  return h("section", { class: "screen" }, h("h1", {}, t("compliance.title")), assessment(params.token, signal));
}

function assessment(id, signal) {
  const body = h("div", { dataset: { testid: "compliance" } }, loading());
  const draw = (view) => replace(body, ...sections(id, view, draw, signal));
  api(`/api/communities/${encodeURIComponent(id)}/compliance`, { signal })
    .then(draw)
    .catch((err) => isAbort(err) || replace(body, errorBanner(err)));
  return body;
}

function sections(id, view, redraw, signal) {
  const verdict = view.passed ? "pass" : "fail";
  return [
    h(
      "div",
      { class: "card" },
      h("h2", {}, view.community),
      h(
        "p",
        { class: "score-line" },
        h("span", { class: "score", dataset: { testid: "compliance-total" } }, String(view.total)),
        ` / 100 · ${t("compliance.pass_at", { score: view.pass_score })} `,
        h("span", { class: `badge badge-${verdict}`, dataset: { testid: "compliance-verdict" } }, t(`compliance.${verdict}`)),
      ),
      h("p", { class: "muted small" }, label("tier", view.tier), view.awaiting_entry ? ` · ${t("compliance.awaiting", { count: view.awaiting_entry })}` : ""),
      downloadButton(id, view),
    ),
    h("h2", {}, t("compliance.items")),
    h("ol", { class: "pass-list" }, view.items.map((item) => itemCard(id, item, redraw))),
    h("h2", {}, t("compliance.coverage")),
    h("dl", { class: "facts card" }, view.coverage.flatMap((target) => [h("dt", {}, target.label), h("dd", { class: target.met ? "ok" : "short", title: target.evidence }, share(target))])),
    h("h2", {}, t("compliance.subsystems")),
    h("ul", { class: "pass-list" }, view.subsystems.map(subsystemCard)),
    uplinkSection(id, signal),
  ];
}

function itemCard(communityId, item, redraw) {
  const score = item.score == null ? t("compliance.not_entered") : String(item.score);
  return h(
    "li",
    { class: "card", dataset: { testid: "compliance-item", item: item.item } },
    h("div", { class: "door-head" }, h("strong", {}, t(`compliance.sheet.${item.sheet}`, { no: item.no })), h("span", { class: "score-small" }, `${score} / ${item.points}`)),
    h("p", { class: "small" }, item.text),
    item.measured
      ? h(
          "ul",
          { class: "checks" },
          item.checks.map((c) => h("li", { class: c.ok ? "ok" : "short", dataset: { testid: "compliance-check" } }, h("strong", {}, `${c.ok ? "✓" : "✗"} ${c.label}`), h("span", { class: "small" }, ` ${c.evidence}`))),
        )
      : entered(communityId, item, redraw),
  );
}

function entered(communityId, item, redraw) {
  const entry = item.entry;
  const shown = entry
    ? h("p", { class: "muted small", dataset: { testid: "compliance-entry" } }, t("compliance.entered_by", { name: entry.entered_by, at: formatDateTime(entry.entered_at) }), entry.note ? ` · ${entry.note}` : "")
    : h("p", { class: "muted small" }, t("compliance.entered_by_police"));
  if (!ENTERING_ROLES.has(session.account()?.role)) return shown;
  const points = h("input", { id: `points-${item.item}`, type: "number", min: "0", max: String(item.points), step: "0.5", value: entry ? String(entry.points) : "", dataset: { testid: "entry-points" } });
  points.required = true;
  const note = h("input", { id: `note-${item.item}`, maxlength: 500, autocomplete: "off", value: entry ? entry.note : "", dataset: { testid: "entry-note" } });
  const status = h("div", { "aria-live": "polite" });
  const submit = h("button", { type: "submit", class: "btn btn-small btn-primary", dataset: { testid: "entry-save" } }, t("compliance.save"));
  const form = h(
    "form",
    { class: "form form-inline" },
    h("div", { class: "field" }, h("label", { for: points.id }, t("compliance.points")), points),
    h("div", { class: "field" }, h("label", { for: note.id }, t("compliance.note")), note),
    submit,
    status,
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(submit, async () => {
      try {
        const body = { points: Number(points.value), note: note.value.trim() };
        redraw(await api(`/api/communities/${encodeURIComponent(communityId)}/compliance/items/${encodeURIComponent(item.item)}`, { method: "PUT", body }));
      } catch (err) {
        replace(status, errorBanner(err));
      }
    });
  });
  return h("div", {}, shown, form);
}

function subsystemCard(s) {
  const health = s.online == null ? null : t("compliance.health", { health: `${s.online} / ${s.total}` });
  return h(
    "li",
    { class: ["card", s.present ? "" : "missing"], dataset: { testid: "compliance-subsystem", present: String(s.present) } },
    h("div", { class: "door-head" }, h("strong", {}, s.name), h("span", { class: `badge badge-${s.present ? "verified" : "rejected"}` }, t(`compliance.level.${s.level}`))),
    h("p", { class: "small" }, `${s.area} · ${s.evidence}`),
    s.present ? (health ? h("p", { class: "muted small" }, health) : null) : h("p", { class: "muted small" }, t("compliance.absent")),
  );
}

/** The sheet is fetched with the bearer token and saved from a blob: URL (no token in a link). */
function downloadButton(communityId, view) {
  const button = h("button", { type: "button", class: "btn btn-outline", dataset: { testid: "compliance-download" } }, t("compliance.download"));
  const status = h("div", { "aria-live": "polite" });
  button.addEventListener("click", () =>
    busy(button, async () => {
      try {
        const blob = await api(`/api/communities/${encodeURIComponent(communityId)}/compliance/sheet`, { blob: true });
        const url = URL.createObjectURL(blob);
        const a = h("a", { href: url, download: `compliance-${view.community_id}.pdf`, hidden: true });
        document.body.append(a);
        a.click();
        a.remove();
        setTimeout(() => URL.revokeObjectURL(url), 10000);
        replace(status);
      } catch (err) {
        replace(status, errorBanner(err));
      }
    }),
  );
  return h("div", { class: "actions actions-inline" }, button, status);
}

/** The uplink to the police platform, for those who may see it (district admins, police). */
function uplinkSection(communityId, signal) {
  const body = h("div", { dataset: { testid: "compliance-uplink" } }, loading());
  api(`/api/communities/${encodeURIComponent(communityId)}/uplink`, { signal })
    .then((status) => replace(body, uplinkView(status)))
    .catch((err) => {
      if (isAbort(err)) return;
      replace(body, err.status === 403 ? h("p", { class: "muted small" }, t("compliance.uplink_hidden")) : errorBanner(err));
    });
  return h("section", {}, h("h2", {}, t("compliance.uplink")), body);
}

function uplinkView(status) {
  return h(
    "div",
    { class: "card" },
    h("p", {}, status.configured ? t("compliance.uplink_on") : t("compliance.uplink_off"), ` · ${t("district.uplink_lag")} ${lag(status.lag_seconds)}`),
    status.tables.length
      ? h(
          "dl",
          { class: "facts" },
          status.tables.flatMap((table) => [h("dt", {}, table.name), h("dd", { dataset: { testid: "uplink-table" } }, t("compliance.uplink_counts", table))]),
        )
      : h("p", { class: "muted small" }, t("compliance.uplink_none")),
    status.recent_rejected.length
      ? h(
          "ul",
          { class: "checks" },
          status.recent_rejected.map((r) => h("li", { class: "short small" }, `${r.table} ${r.record}: ${r.reason || r.problems.map((p) => `${p.field} ${p.reason}`).join(", ")}`)),
        )
      : null,
  );
}
