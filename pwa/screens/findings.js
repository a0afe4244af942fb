// /findings — 研判: the analysis jobs' findings of each community the police officer or
// warden serves (重点人员 ones reach police only: the server leaves them out for wardens).
// Open ones first; closing one (a welfare task: the person was visited) takes a note.
// Opening the list is an audited read.

import { api, isAbort } from "../api.js";
import { h, replace, errorBanner, loading, busy, askReason } from "../dom.js";
import { t, label, formatDateTime } from "../i18n.js";

export async function render({ signal }) {
  const communities = (await api("/api/communities", { signal })) || [];
  const showClosed = h("input", { type: "checkbox", dataset: { testid: "show-closed" } });
  const lists = h("div");
  const draw = () => replace(lists, ...communities.map((c) => communityFindings(c, showClosed.checked, signal)));
  showClosed.addEventListener("change", draw);
  draw();
  return h(
    "section",
    { class: "screen" },
    h("h1", {}, t("findings.title")),
    h("p", { class: "muted small" }, t("findings.audited")),
    h("label", { class: "small" }, showClosed, " ", t("findings.show_closed")),
    communities.length ? lists : h("p", { class: "muted" }, t("metrics.none")),
  );
}

function communityFindings(community, withClosed, signal) {
  const body = h("div", {}, loading());
  const refresh = async () => {
    try {
      const query = withClosed ? "" : "?state=open";
      const rows = (await api(`/api/communities/${encodeURIComponent(community.id)}/findings${query}`, { signal })) || [];
      replace(body, rows.length ? h("ul", { class: "pass-list" }, rows.map((f) => finding(f, refresh))) : h("p", { class: "muted" }, t("findings.none")));
    } catch (err) {
      if (!isAbort(err)) replace(body, errorBanner(err));
    }
  };
  refresh();
  return h("section", { class: "card" }, h("h2", {}, community.name), body);
}

function finding(f, refresh) {
  const status = h("div");
  const close = h("button", { type: "button", class: "btn btn-outline", dataset: { testid: "close-finding" } }, t("findings.close"));
  close.addEventListener("click", () =>
    busy(close, async () => {
      const note = askReason(t("findings.close_note"), status);
      if (note === null) return;
      try {
        await api(`/api/findings/${encodeURIComponent(f.id)}/close`, { body: { note } });
        refresh();
      } catch (err) {
        replace(status, errorBanner(err));
      }
    }),
  );
  return h(
    "li",
    { class: "card", dataset: { testid: "finding", rule: f.rule, state: f.state } },
    h("div", { class: "door-head" }, h("strong", {}, label("finding_rule", f.rule)), h("span", { class: `badge badge-${f.state}` }, label("finding_state", f.state))),
    h("p", { class: "small" }, [f.name, f.address].filter(Boolean).join(" · ")),
    h("p", { class: "small muted" }, summary(f)),
    h("p", { class: "small muted" }, `${f.period} · ${formatDateTime(f.created_at)}`),
    f.state === "open" ? close : h("p", { class: "small" }, f.note),
    status,
  );
}

/** The evidence in a line: the figures each rule found. */
function summary(f) {
  const e = f.evidence || {};
  switch (f.rule) {
    case "occupancy":
      return t("findings.occupancy", { derived: label("house_use", e.derived), recorded: label("house_use", e.recorded) });
    case "visitor_surge":
      return t("findings.visitor_surge", { visitors: e.visitors, baseline: e.baseline, days: e.days });
    case "night_entries":
      return t("findings.night_entries", { entries: e.entries, hours: e.hours, days: e.days });
    case "welfare":
      return t("findings.welfare", { days: e.days, last: formatDateTime(e.last_seen) });
    case "credential_after_end":
      return t("findings.credential_after_end", { kind: e.kind, at: formatDateTime(e.at), ended: label("credential_end", e.ended) });
    case "key_person_movement":
      return t("findings.key_person_movement", { passes: (e.passes || []).length });
    default:
      return "";
  }
}
