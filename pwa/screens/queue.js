// /queue — pending self-registrations in the staff member's communities,
// oldest first as the server sends them; verify or reject each in place.

import { api, isAbort } from "../api.js";
import { codeLabel, loadCodes } from "../codes.js";
import { h, link, replace, errorBanner, notice, busy, askReason, phoneLink } from "../dom.js";
import { t, label, formatDateTime, formatDate } from "../i18n.js";
import * as session from "../session.js";

export async function render({ signal }) {
  const heading = h("h1", {}, t("queue.title"));
  if (!session.isStaff()) {
    return h("section", { class: "screen" }, heading, notice(t("queue.staff_only")), link("/", { class: "btn btn-outline" }, t("common.home")));
  }

  const status = h("div", { class: "status-area", "aria-live": "polite" });
  let items;
  try {
    items = (await api("/api/verification-queue", { signal })) || [];
  } catch (err) {
    if (isAbort(err)) throw err;
    return h("section", { class: "screen" }, heading, errorBanner(err));
  }
  const [relations, genders] = await Promise.all([loadCodes("YZGX").catch(() => []), loadCodes("XB").catch(() => [])]);

  const count = h("p", { class: "muted" });
  const list = h("ul", { class: "queue-list" });
  const empty = h("p", { class: "empty" }, t("queue.empty"));

  function refreshCount() {
    const n = list.children.length;
    count.textContent = t("queue.count", { count: n });
    empty.hidden = n > 0;
  }

  function removeItem(li, message) {
    // Move focus to the next item (or the heading) so keyboard and screen
    // reader users are not dropped at the top of the page.
    const next = li.nextElementSibling || li.previousElementSibling;
    li.remove();
    refreshCount();
    replace(status, notice(message, "success"));
    (next?.querySelector("button") || heading).focus();
  }

  for (const item of items) list.append(queueItem(item, { relations, genders, status, removeItem }));
  heading.tabIndex = -1;
  refreshCount();

  return h("section", { class: "screen" }, heading, count, status, list, empty);
}

function queueItem(item, ctx) {
  const p = item.person || {};
  const id = item.residency_id;
  const facts = [
    [t("queue.community"), item.community?.name],
    [t("queue.address"), addressText(item.address)],
    [t("queue.registered_at"), item.registered_at ? formatDateTime(item.registered_at) : null],
    [t("queue.registered_by"), byText(item.registered_by)],
    [t("person.relation"), p.relation ? codeLabel(ctx.relations, p.relation) : null],
    [t("person.gender"), p.gender ? codeLabel(ctx.genders, p.gender) || label("gender", p.gender) : null],
    [t("person.birth_date"), p.birth_date ? formatDate(p.birth_date) : null],
    [t("person.phone"), p.phone ? phoneLink(p.phone) : null],
    [t("person.id_number"), p.id_number ? h("span", { class: "mono", dataset: { testid: "id-number" } }, p.id_number) : null],
  ].filter(([, v]) => v != null && v !== "");

  const verifyBtn = h("button", { type: "button", class: "btn btn-primary", dataset: { testid: "verify" } }, t("queue.verify"));
  const rejectBtn = h("button", { type: "button", class: "btn btn-danger-outline", dataset: { testid: "reject" } }, t("queue.reject"));
  const li = h(
    "li",
    { class: "card queue-item", dataset: { testid: "queue-item", residencyId: String(id) } },
    h(
      "div",
      { class: "resident-head" },
      h("span", { class: "resident-name", dataset: { testid: "resident-name" } }, p.name),
      h(
        "span",
        { class: "badges" },
        p.residence_category ? h("span", { class: `badge badge-${p.residence_category}` }, label("residence_category", p.residence_category)) : null,
        h("span", { class: "badge badge-pending" }, label("status", "pending")),
      ),
    ),
    h("dl", { class: "facts facts-compact" }, facts.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
    h("div", { class: "actions actions-inline" }, verifyBtn, rejectBtn),
  );

  const act = (fn) => async () => {
    try {
      await fn();
    } catch (err) {
      if (!isAbort(err)) replace(ctx.status, errorBanner(err));
    }
  };

  verifyBtn.addEventListener("click", () =>
    busy(
      verifyBtn,
      act(async () => {
        await api(`/api/residencies/${encodeURIComponent(id)}/verify`, { method: "POST" });
        ctx.removeItem(li, t("queue.verified", { name: p.name }));
      }),
    ),
  );
  rejectBtn.addEventListener("click", () =>
    busy(
      rejectBtn,
      act(async () => {
        const reason = askReason(t("queue.reject_reason", { name: p.name }), ctx.status);
        if (reason === null) return;
        await api(`/api/residencies/${encodeURIComponent(id)}/reject`, { body: { reason } });
        ctx.removeItem(li, t("queue.rejected", { name: p.name }));
      }),
    ),
  );
  return li;
}

// `address` is the standard address; accept {code, text} or a plain string.
function addressText(a) {
  if (!a) return null;
  return typeof a === "string" ? a : a.text || a.code || null;
}

// `registered_by` is not pinned down by the API brief: a name, an account or "self".
function byText(by) {
  if (by == null) return null;
  if (typeof by === "string") return by === "self" ? t("queue.by_self") : by;
  return by.name || null;
}
