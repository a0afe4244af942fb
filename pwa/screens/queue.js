// /queue — pending self-registrations in the staff member's communities,
// oldest first as the server sends them; verify or reject each in place.

import { api, isAbort } from "../api.js";
import { codeLabel, loadCodes } from "../codes.js";
import { h, link, replace, errorBanner, notice, busy, askReason, phoneLink } from "../dom.js";
import { t, label, formatDateTime, formatDate } from "../i18n.js";
import * as session from "../session.js";
import { categoryOptions } from "./residency.js";

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
  const standardLists = Object.fromEntries(
    await Promise.all(Object.entries(STANDARD_LISTS).map(async ([field, list]) => [field, await loadCodes(list).catch(() => [])])),
  );

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

  for (const item of items) list.append(queueItem(item, { relations, genders, status, removeItem, standardLists }));
  heading.tabIndex = -1;
  refreshCount();

  return h("section", { class: "screen" }, heading, count, status, list, empty);
}

// 一标三实 details the verifier may complete or correct on site (sent only when changed).
const STANDARD_LISTS = { occupation: "ZYLB", education: "WHCD", marital_status: "HYZK", native_place: "XZQH", lodging: "ZZCS" };

function standardFields(item, lists) {
  const p = item.person || {};
  const controls = {};
  const rows = [];
  for (const [field, list] of Object.entries(STANDARD_LISTS)) {
    const id = `${field}-${item.residency_id}`;
    controls[field] = h(
      "select",
      { id, name: field, dataset: { testid: `standard-${field}` } },
      h("option", { value: "" }, t("register.choose")),
      (lists[field] || []).map((o) => h("option", { value: o.code, selected: o.code === p[field] }, o.label)),
    );
    rows.push(h("div", { class: "field" }, h("label", { for: id }, t(`field.${field}`)), controls[field]));
  }
  const placeId = `service_place-${item.residency_id}`;
  controls.service_place = h("input", { id: placeId, type: "text", maxlength: "100", value: p.service_place || "", dataset: { testid: "standard-service_place" } });
  rows.push(h("div", { class: "field" }, h("label", { for: placeId }, t("field.service_place")), controls.service_place));
  return {
    /** The fields the verifier set or changed: what the server is asked to store. */
    changed() {
      const out = {};
      for (const [field, c] of Object.entries(controls)) {
        const value = c.value.trim();
        if (value && value !== (p[field] || "")) out[field] = value;
      }
      return Object.keys(out).length ? out : null;
    },
    element: h("details", { class: "standard-fields" }, h("summary", {}, t("register.section_standard")), rows),
  };
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
    [t("person.age_band"), p.age_band || null],
    [t("person.phone"), p.phone ? phoneLink(p.phone) : null],
    [t("person.id_number"), p.id_number ? h("span", { class: "mono", dataset: { testid: "id-number" } }, p.id_number) : null],
  ].filter(([, v]) => v != null && v !== "");

  const category = categoryChoice(item);
  const standard = standardFields(item, ctx.standardLists || {});
  const merge = item.same_person_as ? mergeChoice(item.same_person_as) : null;
  const verifyBtn = h("button", { type: "button", class: "btn btn-primary", dataset: { testid: "verify" } }, t("queue.verify"));
  // A known person with this ID number: verifying means merging into them (otherwise reject).
  if (merge) merge.input.addEventListener("change", () => (verifyBtn.disabled = !merge.input.checked));
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
        h("span", { class: "badge badge-pending" }, label("status", "pending")),
        item.already_registered_here
          ? h("span", { class: "badge badge-warning", dataset: { testid: "already-registered" } }, t("queue.already_registered_here"))
          : null,
      ),
    ),
    h("dl", { class: "facts facts-compact" }, facts.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
    merge ? merge.element : null,
    category.element,
    standard.element,
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
        const body = { residence_category: category.select.value };
        if (merge) body.merge_into = item.same_person_as.person_id;
        const filled = standard.changed();
        if (filled) {
          // A permanent resident has no temporary lodging (the server refuses one).
          if (category.select.value === "permanent") delete filled.lodging;
          if (Object.keys(filled).length) body.standard = filled;
        }
        await api(`/api/residencies/${encodeURIComponent(id)}/verify`, { body });
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

// The registrant's category is a proposal: the verifier confirms it or picks another.
function categoryChoice(item) {
  const id = `category-${item.residency_id}`;
  const proposed = item.proposed_category || item.person?.residence_category || "floating";
  const select = h(
    "select",
    { id, dataset: { testid: "confirm-category" } },
    categoryOptions(proposed),
  );
  const hint = item.proposed_category ? t("queue.proposed", { category: label("residence_category", item.proposed_category) }) : null;
  return {
    select,
    element: h("div", { class: "field" }, h("label", { for: id }, t("queue.confirm_category")), select, hint ? h("p", { class: "hint" }, hint) : null),
  };
}

// "Same person as …": the record with this ID number the registration merges into.
function mergeChoice(known) {
  const input = h("input", { type: "checkbox", checked: true, dataset: { testid: "merge" } });
  const who = [known.name, known.id_number, known.age_band || (known.birth_date ? formatDate(known.birth_date) : null)].filter(Boolean).join(" · ");
  return {
    input,
    element: h(
      "div",
      { class: "banner banner-warning", dataset: { testid: "same-person" } },
      h("p", {}, t("queue.same_person_as", { who })),
      h("label", {}, input, " ", t("queue.merge")),
    ),
  };
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
