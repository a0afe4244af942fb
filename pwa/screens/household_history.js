// A flat's past: every residency it has had, ended and refused ones too, for
// the staff who may read residency histories (loaded on request: each read is
// audited, so it happens only when asked for).

import { api } from "../api.js";
import { h, replace, errorBanner, loading } from "../dom.js";
import { t, label, formatDate } from "../i18n.js";

export function historySection(houseId) {
  const body = h("div");
  const show = h("button", { type: "button", class: "btn btn-outline", dataset: { testid: "household-history" } }, t("history.show"));
  show.addEventListener("click", async () => {
    show.remove();
    replace(body, loading());
    try {
      const records = await api(`/api/houses/${encodeURIComponent(houseId)}/residencies`);
      replace(body, h("ol", { class: "timeline" }, records.map(record)));
    } catch (err) {
      replace(body, errorBanner(err));
    }
  });
  return h(
    "section",
    { class: "card", "aria-labelledby": "history-title" },
    h("h2", { id: "history-title" }, t("history.title")),
    show,
    body,
  );
}

function record({ resident, start_date: start, end_date: end }) {
  const period = end ? `${formatDate(start)} – ${formatDate(end)}` : t("history.since", { date: formatDate(start) });
  return h(
    "li",
    { dataset: { testid: "past-resident", status: resident.status } },
    h("strong", {}, resident.name),
    " ",
    h("span", { class: `badge badge-${resident.status}` }, label("status", resident.status)),
    resident.residence_category ? ` ${label("residence_category", resident.residence_category)}` : null,
    h("p", { class: "small muted" }, period),
  );
}
