// /service-queue — property staff: the service requests of their community,
// open ones first; take, add notes and close each in place.

import { api, isAbort } from "../api.js";
import { h, link, replace, errorBanner, notice, busy } from "../dom.js";
import { t } from "../i18n.js";
import * as session from "../session.js";
import { requestItem } from "./services.js";

export async function render({ signal }) {
  const heading = h("h1", {}, t("servicequeue.title"));
  if (session.account()?.role !== "property") {
    return h("section", { class: "screen" }, heading, notice(t("servicequeue.property_only")), link("/", { class: "btn btn-outline" }, t("common.home")));
  }
  try {
    const communities = (await api("/api/communities", { signal })) || [];
    const queues = await Promise.all(communities.map((c) => api(`/api/communities/${encodeURIComponent(c.id)}/service-requests`, { signal })));
    return h(
      "section",
      { class: "screen" },
      heading,
      communities.map((c, i) => [
        h("h2", {}, c.name),
        queues[i].length ? h("ul", { class: "queue-list" }, queues[i].map((r) => requestItem(r, { actions: staffActions }))) : h("p", { class: "empty" }, t("servicequeue.empty")),
      ]),
    );
  } catch (err) {
    if (isAbort(err)) throw err;
    return h("section", { class: "screen" }, heading, errorBanner(err));
  }
}

// The steps a request in this status may take next (the server refuses the others).
const NEXT = { open: ["take"], taken: ["note", "close"], closed: [] };
const STEP_LABELS = { take: "servicequeue.take", note: "servicequeue.note_step", close: "servicequeue.close" };

function staffActions(request, fill, status) {
  const steps = NEXT[request.status] || [];
  if (!steps.length) return null;
  const id = `note-${request.id}`;
  const note = h("input", { id, type: "text", maxlength: 500, dataset: { testid: "step-note-text" } });
  const buttons = steps.map((step) => {
    const button = h("button", { type: "button", class: "btn btn-small btn-primary", dataset: { testid: `step-${step}` } }, t(STEP_LABELS[step]));
    button.addEventListener("click", () =>
      busy(button, async () => {
        try {
          fill(await api(`/api/service-requests/${encodeURIComponent(request.id)}/steps`, { body: { step, note: note.value.trim() } }));
        } catch (err) {
          if (!isAbort(err)) replace(status, errorBanner(err));
        }
      }),
    );
    return button;
  });
  return h("div", { class: "form" }, h("div", { class: "field" }, h("label", { for: id }, t("servicequeue.note")), note), h("div", { class: "actions actions-inline" }, buttons));
}
