// /district — a district admin's overview: every community of their districts
// with its acceptance score, pass or fail, coverage, device health, open alarms
// and uplink lag; a community opens its score sheet (/compliance/{id}).

import { api, isAbort } from "../api.js";
import { h, link, replace, errorBanner, loading } from "../dom.js";
import { t, label, formatPercent } from "../i18n.js";

export function render({ signal }) {
  const body = h("div", { dataset: { testid: "district-communities" } }, loading());
  load(body, signal);
  return h("section", { class: "screen" }, h("h1", {}, t("district.title")), h("p", { class: "muted small" }, t("district.lead")), body);
}

/** The districts of the communities in the caller's scope, each as one overview. */
async function load(body, signal) {
  try {
    const communities = (await api("/api/communities", { signal })) || [];
    const districts = [...new Set(communities.map((c) => c.district_id))];
    const views = await Promise.all(districts.map((id) => api(`/api/districts/${encodeURIComponent(id)}/compliance`, { signal })));
    const rows = views.flatMap((view) => view.communities);
    replace(body, rows.length ? h("ul", { class: "pass-list" }, rows.map(row)) : h("p", { class: "muted" }, t("district.none")));
  } catch (err) {
    if (!isAbort(err)) replace(body, errorBanner(err));
  }
}

/** A target's share, or a dash when there is nothing to measure. */
export function share(target) {
  return target.value == null ? "—" : formatPercent(target.value);
}

export function lag(seconds) {
  return seconds < 60 ? t("district.seconds", { n: Math.round(seconds) }) : t("district.minutes", { n: Math.round(seconds / 60) });
}

function row(c) {
  const verdict = c.passed ? "pass" : "fail";
  return h(
    "li",
    { class: "card", dataset: { testid: "district-row", community: String(c.community_id), verdict } },
    h(
      "div",
      { class: "door-head" },
      link(`/compliance/${encodeURIComponent(c.community_id)}`, { dataset: { testid: "district-open" } }, h("strong", {}, c.community)),
      h("span", { class: `badge badge-${verdict}` }, t(`compliance.${verdict}`)),
    ),
    h("p", { class: "score-line" }, h("span", { class: "score", dataset: { testid: "district-score" } }, String(c.total)), " / 100 · ", label("tier", c.tier)),
    c.awaiting_entry ? h("p", { class: "muted small" }, t("compliance.awaiting", { count: c.awaiting_entry })) : null,
    h(
      "dl",
      { class: "facts" },
      c.coverage.flatMap((target) => [h("dt", {}, t(`compliance.target.${target.key}`)), h("dd", { class: target.met ? "ok" : "short" }, share(target))]),
      h("dt", {}, t("district.devices")),
      h("dd", { class: c.devices_online === c.devices_total ? "ok" : "short" }, `${c.devices_online} / ${c.devices_total}`),
      h("dt", {}, t("district.open_alarms")),
      h("dd", { class: c.open_alarms ? "short" : "ok" }, String(c.open_alarms)),
      h("dt", {}, t("district.uplink_lag")),
      h("dd", {}, `${lag(c.uplink_lag_seconds)} · ${t("district.uplink_pending", { n: c.uplink_pending, rejected: c.uplink_rejected })}`),
    ),
  );
}
