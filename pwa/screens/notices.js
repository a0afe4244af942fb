// /notices — the notices (信息发布) of the caller's communities, newest first,
// unread ones marked; /notices/:id — one notice (opening it records the read).

import { api, isAbort } from "../api.js";
import { h, link, errorBanner, notice } from "../dom.js";
import { t, label, formatDateTime } from "../i18n.js";

export async function render({ params, signal }) {
  return params.token ? page(params.token, signal) : list(signal);
}

async function list(signal) {
  const heading = h("h1", {}, t("notices.title"));
  let feeds;
  try {
    feeds = (await api("/api/notices", { signal })) || [];
  } catch (err) {
    if (isAbort(err)) throw err;
    return h("section", { class: "screen" }, heading, errorBanner(err));
  }
  const desk = feeds.some((f) => f.may_write) ? link("/notices/desk", { class: "btn btn-outline", dataset: { testid: "notice-desk" } }, t("notices.desk")) : null;
  return h(
    "section",
    { class: "screen" },
    heading,
    desk,
    feeds.length ? null : notice(t("notices.no_community")),
    feeds.map((f) => [
      h("h2", {}, f.community, " ", f.unread ? h("span", { class: "badge badge-unread", dataset: { testid: "unread" } }, t("notices.unread", { count: f.unread })) : null),
      f.notices.length ? h("ul", { class: "queue-list" }, f.notices.map(item)) : h("p", { class: "empty" }, t("notices.empty")),
    ]),
  );
}

function item(n) {
  return h(
    "li",
    { class: ["card", n.read ? "notice-read" : "notice-unread"], dataset: { testid: "notice", read: String(n.read) } },
    link(`/notices/${encodeURIComponent(n.id)}`, { class: "notice-title" }, n.urgent ? `【${t("notices.urgent")}】` : "", n.title),
    h("p", { class: "muted small" }, [label("notice_kind", n.kind), label("notice_author", n.author_label), formatDateTime(n.published_at)].join(" · ")),
  );
}

async function page(id, signal) {
  let n;
  try {
    n = await api(`/api/notices/${encodeURIComponent(id)}`, { signal });
  } catch (err) {
    if (isAbort(err)) throw err;
    return h("section", { class: "screen" }, h("h1", {}, t("notices.title")), errorBanner(err));
  }
  return h(
    "section",
    { class: "screen" },
    h("h1", {}, n.title),
    h("p", { class: "muted small" }, [label("notice_kind", n.kind), label("notice_author", n.author_label), n.published_at ? formatDateTime(n.published_at) : label("notice_status", n.status)].join(" · ")),
    h("div", { class: "notice-body", dataset: { testid: "notice-body" } }, n.body.split("\n").map((line) => h("p", {}, line))),
    link("/notices", { class: "btn btn-outline" }, t("notices.back")),
  );
}
