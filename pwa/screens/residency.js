// A verified residency's record in the scan view: police correct one that was
// verified by mistake (category, wrong person) with a reason; field staff read
// its history. Both open in a panel under the resident, and only when the
// view's `actions` list them.

import { api } from "../api.js";
import { h, replace, busy, errorBanner } from "../dom.js";
import { t, label, errorMessage, formatDateTime } from "../i18n.js";

const CATEGORIES = ["permanent", "lodger", "floating"];

/** <option>s for the residence categories (常住/寄住/流动), `selected` preselected. */
export function categoryOptions(selected) {
  return CATEGORIES.map((c) => h("option", { value: c, selected: c === selected }, label("residence_category_long", c)));
}

/** The Correct / History buttons this viewer may use on resident `r`, and the panel they open. */
export function recordTools(r, actions, ctx) {
  const buttons = [];
  const panel = h("div", { id: `record-${r.residency_id}`, class: "record-panel", dataset: { testid: "record-panel" } });
  // Only a verified residency is corrected; anything else is verified, rejected or deregistered.
  if (r.status === "verified" && actions.has("correct_residency")) {
    buttons.push(panelButton("correct", t("residency.correct"), panel, () => correctionForm(r, ctx)));
  }
  if (actions.has("view_residency_history")) {
    buttons.push(panelButton("history", t("residency.history"), panel, () => historyTimeline(r)));
  }
  return { buttons, panel: buttons.length ? panel : null };
}

// Opens its content in the panel, or closes the panel when that content is already open.
function panelButton(testid, text, panel, content) {
  const b = h("button", { type: "button", class: "btn btn-small btn-outline", "aria-expanded": "false", "aria-controls": panel.id, dataset: { testid } }, text);
  b.addEventListener("click", () =>
    busy(b, async () => {
      const open = panel.dataset.showing !== testid;
      replace(panel, open ? await content() : null);
      panel.dataset.showing = open ? testid : "";
      for (const other of b.parentElement.querySelectorAll("[aria-controls]")) other.setAttribute("aria-expanded", String(other === b && open));
    }),
  );
  return b;
}

function correctionForm(r, ctx) {
  const id = `correct-${r.residency_id}`;
  const fields = {
    category: h("select", { id: `${id}-category`, name: "residence_category", dataset: { testid: "correct-category" } }, categoryOptions(r.residence_category)),
    unlink: h("input", { type: "checkbox", name: "wrong_person", dataset: { testid: "correct-unlink" } }),
    reason: h("input", { id: `${id}-reason`, name: "reason", required: true, maxlength: 200, "aria-describedby": `${id}-error`, dataset: { testid: "correct-reason" } }),
    error: h("div", { id: `${id}-error`, "aria-live": "polite" }),
  };
  const submit = h("button", { type: "submit", class: "btn btn-small btn-primary", dataset: { testid: "submit-correction" } }, t("residency.submit_correction"));
  const form = h(
    "form",
    { class: "form", novalidate: true, dataset: { testid: "correct-form" } },
    h("div", { class: "field" }, h("label", { for: fields.category.id }, t("field.residence_category")), fields.category),
    h("div", { class: "field" }, h("label", { class: "check" }, fields.unlink, t("residency.wrong_person"))),
    h("div", { class: "field" }, h("label", { for: fields.reason.id }, t("residency.reason")), fields.reason),
    fields.error,
    submit,
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(submit, () => sendCorrection(r, fields, ctx));
  });
  return form;
}

// Errors stay in the form, next to what was typed; success re-renders the view.
async function sendCorrection(r, fields, ctx) {
  const reason = fields.reason.value.trim();
  fields.reason.removeAttribute("aria-invalid");
  if (!reason) return showError(fields, t("validation.reason_required"), "reason");
  const body = { residence_category: fields.category.value, wrong_person: fields.unlink.checked, reason };
  try {
    await api(`/api/residencies/${encodeURIComponent(r.residency_id)}/correct`, { body });
  } catch (err) {
    return showError(fields, errorMessage(err), err.field);
  }
  await ctx.reload(t("residency.corrected", { name: r.name }));
}

function showError(fields, message, field) {
  if (field === "reason") fields.reason.setAttribute("aria-invalid", "true");
  replace(fields.error, errorBanner(message));
}

async function historyTimeline(r) {
  try {
    const entries = await api(`/api/residencies/${encodeURIComponent(r.residency_id)}/history`);
    return h("ol", { class: "timeline", dataset: { testid: "history-timeline" } }, entries.map(historyEntry));
  } catch (err) {
    return errorBanner(err);
  }
}

function historyEntry(e) {
  const changes = changeTexts(e.changes || {});
  return h(
    "li",
    { dataset: { testid: "history-entry", action: e.action } },
    h("time", { datetime: e.at }, formatDateTime(e.at)),
    " ",
    label("history_action", e.action),
    e.by ? ` · ${e.by === "self" ? t("queue.by_self") : e.by}` : null,
    changes.length ? h("p", { class: "small" }, changes.join(t("common.list_sep"))) : null,
    e.reason ? h("p", { class: "small" }, t("residency.reason_was", { reason: e.reason })) : null,
  );
}

function changeTexts({ proposed_category: proposed, residence_category: category, account_unlinked: unlinked }) {
  const cat = (c) => label("residence_category", c);
  return [
    proposed ? t("residency.proposed", { category: cat(proposed) }) : null,
    category ? t("residency.category_changed", { from: cat(category[0]), to: cat(category[1]) }) : null,
    unlinked ? t("residency.account_unlinked") : null,
  ].filter(Boolean);
}
