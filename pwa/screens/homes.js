// /homes — a resident's flats: where they live (verified) or asked to live
// (pending), each leading to its household through the flat's doorplate view,
// which is the one place that renders a household and its actions.

import { api, isAbort } from "../api.js";
import { h, link, replace, errorBanner, loading } from "../dom.js";
import { t, label, formatDate } from "../i18n.js";
import { ebikesSection } from "./ebikes.js";
import { facesSection } from "./faces.js";

export function render({ signal }) {
  const body = h("div", {}, loading());
  api("/api/me/homes", { signal })
    .then((homes) => replace(body, homes && homes.length ? h("ul", { class: "home-list" }, homes.map((home) => homeItem(home, signal))) : none()))
    .catch((err) => {
      if (!isAbort(err)) replace(body, errorBanner(err));
    });
  return h("section", { class: "screen" }, h("h1", {}, t("homes.title")), body);
}

function none() {
  return h(
    "div",
    {},
    h("p", { class: "muted", dataset: { testid: "no-homes" } }, t("homes.none")),
    link("/scanner", { class: "btn btn-primary" }, t("home.scan")),
  );
}

function homeItem(home, signal) {
  const verified = home.status === "verified";
  return h(
    "li",
    { class: "card", dataset: { testid: "my-home", status: home.status } },
    h("div", { class: "door-head" }, h("strong", {}, home.address), h("span", { class: `badge badge-${home.status}` }, label("status", home.status))),
    h("p", { class: "muted small" }, `${home.community} · ${t("homes.since", { date: formatDate(home.since) })}`),
    verified
      ? null
      : h("p", { class: "small" }, t("homes.pending_text")),
    verified && home.plate
      ? link(`/d/${encodeURIComponent(home.plate)}`, { class: "btn btn-primary", dataset: { testid: "open-household" } }, t("homes.household"))
      : null,
    verified ? link(`/homes/${encodeURIComponent(home.house_id)}/vehicles`, { class: "btn btn-outline", dataset: { testid: "open-vehicles" } }, t("homes.vehicles")) : null,
    verified ? ebikesSection(home, signal) : null,
    verified ? facesSection(home, signal) : null,
  );
}
