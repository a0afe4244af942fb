// /key-persons — police: each assigned community's 重点人员 and where they live.
// Opening the list is an audited read of every person it shows.

import { api, isAbort } from "../api.js";
import { h, replace, errorBanner, loading } from "../dom.js";
import { t } from "../i18n.js";

export async function render({ signal }) {
  const communities = (await api("/api/communities", { signal })) || [];
  return h(
    "section",
    { class: "screen" },
    h("h1", {}, t("key_persons.title")),
    h("p", { class: "muted small" }, t("key_persons.audited")),
    communities.length ? communities.map((c) => communityList(c, signal)) : h("p", { class: "muted" }, t("metrics.none")),
  );
}

function communityList(community, signal) {
  const body = h("div", {}, loading());
  api(`/api/communities/${encodeURIComponent(community.id)}/key-persons`, { signal })
    .then((people) =>
      replace(body, people.length ? h("ul", { class: "resident-list" }, people.map(person)) : h("p", { class: "muted" }, t("key_persons.none"))),
    )
    .catch((err) => {
      if (!isAbort(err)) replace(body, errorBanner(err));
    });
  return h("section", { class: "card" }, h("h2", {}, community.name), body);
}

function person({ resident, address }) {
  return h(
    "li",
    { class: "resident", dataset: { testid: "key-person-entry" } },
    h("strong", {}, resident.name),
    resident.key_category ? h("span", { class: "badge badge-key" }, resident.key_category) : null,
    h("p", { class: "small" }, address),
    resident.id_number ? h("p", { class: "small muted" }, resident.id_number) : null,
  );
}
