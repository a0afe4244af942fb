// /passes — who passed which door. A resident sees their own households'
// passes; wardens and police their community's, filtered, with a CSV export.

import { api, isAbort } from "../api.js";
import { h, replace, errorBanner, notice, busy } from "../dom.js";
import { t, label, formatDateTime } from "../i18n.js";
import * as session from "../session.js";

const METHODS = ["card", "id_card", "pin", "tag", "face", "phone", "qr_pass", "visitor_call"];

export async function render({ signal }) {
  const heading = h("h1", {}, t("passes.title"));
  const status = h("div", { class: "status-area", "aria-live": "polite" });
  const screen = (...children) => h("section", { class: "screen" }, heading, status, ...children);
  try {
    if (!session.isStaff()) return screen(await passList("/api/me/access-records", new URLSearchParams(), status, signal));
    const communities = (await api("/api/communities", { signal })) || [];
    return communities.length ? screen(await staffView(communities, status, signal)) : screen(notice(t("passes.no_community")));
  } catch (err) {
    if (isAbort(err)) throw err;
    return screen(errorBanner(err));
  }
}

async function staffView(communities, status, signal) {
  const community = select("passes-community", communities.map((c) => h("option", { value: String(c.id) }, c.name)));
  const method = select("passes-method", [h("option", { value: "" }, t("passes.any_method")), METHODS.map((m) => h("option", { value: m }, label("method", m)))]);
  const since = h("input", { id: "passes-since", type: "date", dataset: { testid: "passes-since" } });
  const results = h("div");
  const url = () => `/api/communities/${encodeURIComponent(community.value)}/access-records`;
  const query = () => {
    const q = new URLSearchParams();
    if (method.value) q.set("method", method.value);
    if (since.value) q.set("since", new Date(`${since.value}T00:00:00`).toISOString()); // local midnight
    return q;
  };
  const load = async () => {
    try {
      replace(results, await passList(url(), query(), status, signal));
    } catch (err) {
      if (!isAbort(err)) replace(results, errorBanner(err));
    }
  };
  for (const el of [community, method, since]) el.addEventListener("change", load);
  const exportButton = h("button", { type: "button", class: "btn btn-outline", dataset: { testid: "passes-export" } }, t("passes.export"));
  exportButton.addEventListener("click", () =>
    busy(exportButton, async () => {
      try {
        download(await api(`${url()}.csv?${query()}`), `access-records-${community.value}.csv`);
      } catch (err) {
        if (!isAbort(err)) replace(status, errorBanner(err));
      }
    }),
  );
  await load();
  return [
    h(
      "div",
      { class: "filters" },
      field("passes-community", t("passes.community"), community),
      field("passes-method", t("passes.method"), method),
      field("passes-since", t("passes.since"), since),
      exportButton,
    ),
    results,
  ];
}

/** One page of passes, and a button that appends the older ones. */
async function passList(url, query, status, signal) {
  const list = h("ul", { class: "pass-list", dataset: { testid: "pass-list" } });
  const more = h("button", { type: "button", class: "btn btn-outline btn-block", hidden: true }, t("passes.more"));
  let before = null;
  const next = async () => {
    const q = new URLSearchParams(query);
    if (before) q.set("before", String(before));
    const page = await api(`${url}?${q}`, { signal });
    list.append(...page.items.map(passItem));
    before = page.next_before;
    more.hidden = !before;
  };
  more.addEventListener("click", () =>
    busy(more, () =>
      next().catch((err) => {
        if (!isAbort(err)) replace(status, errorBanner(err));
      }),
    ),
  );
  await next();
  return list.children.length ? [list, more] : h("p", { class: "empty" }, t("passes.empty"));
}

function passItem(pass) {
  const who = pass.resolution === "unknown" ? h("span", { class: "badge badge-warning" }, t("passes.unknown")) : pass.name || "";
  return h(
    "li",
    { class: "card pass-item", dataset: { testid: "pass", resolution: pass.resolution } },
    h("div", { class: "resident-head" }, h("span", { class: "resident-name" }, who), h("span", { class: "muted" }, formatDateTime(pass.at))),
    h(
      "p",
      {},
      [pass.door, label("method", pass.method), t(`passes.${pass.direction}`), pass.granted ? null : t("passes.refused")].filter(Boolean).join(" · "),
    ),
    pass.id_number ? h("p", { class: "mono", dataset: { testid: "pass-id-number" } }, pass.id_number) : null,
  );
}

function select(id, options) {
  return h("select", { id, dataset: { testid: id } }, options);
}

function field(id, text, control) {
  return h("div", { class: "field" }, h("label", { for: id }, text), control);
}

/** Save the CSV the server sent; the BOM that text() dropped goes back so Excel reads UTF-8. */
function download(csv, name) {
  const href = URL.createObjectURL(new Blob(["\ufeff", csv], { type: "text/csv;charset=utf-8" }));
  const a = h("a", { href, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(href), 1000);
}
