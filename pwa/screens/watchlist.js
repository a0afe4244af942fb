// /watch-list — 布控 (police only): the plates watched in a community, add one with a note,
// remove one. A watched plate at a barrier alerts the police; the guard desk never sees the list.

import { api, isAbort } from "../api.js";
import { h, replace, errorBanner, loading, busy } from "../dom.js";
import { t, formatDateTime } from "../i18n.js";
import { communityScreen } from "./desk.js";

export function render({ signal }) {
  return communityScreen(t("watch.title"), signal, (id) => [watchSection(id, signal)], t("watch.lead"));
}

function watchSection(communityId, signal) {
  const path = `/api/communities/${encodeURIComponent(communityId)}/watch-list`;
  const list = h("div", { dataset: { testid: "watch-list" } }, loading());
  const status = h("div", { "aria-live": "polite" });
  const refresh = async () => {
    try {
      const rows = (await api(path, { signal })) || [];
      replace(list, rows.length ? h("ul", { class: "pass-list" }, rows.map((w) => entry(w, status, refresh))) : h("p", { class: "muted" }, t("watch.none")));
    } catch (err) {
      if (!isAbort(err)) replace(list, errorBanner(err));
    }
  };
  refresh();
  return h("section", { class: "card" }, addForm(path, status, refresh), status, list);
}

function addForm(path, status, refresh) {
  const plate = h("input", { id: "watch-plate", required: true, maxlength: 20, autocomplete: "off" });
  const note = h("input", { id: "watch-note", maxlength: 200, autocomplete: "off" });
  const submit = h("button", { type: "submit", class: "btn btn-primary", dataset: { testid: "watch-add" } }, t("watch.add"));
  const form = h(
    "form",
    { class: "form", novalidate: true },
    h("div", { class: "field" }, h("label", { for: "watch-plate" }, t("watch.plate")), plate),
    h("div", { class: "field" }, h("label", { for: "watch-note" }, t("watch.note")), note),
    submit,
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(submit, async () => {
      try {
        await api(path, { body: { plate: plate.value.trim(), note: note.value.trim() } });
        form.reset();
        replace(status);
        await refresh();
      } catch (err) {
        replace(status, errorBanner(err));
      }
    });
  });
  return form;
}

function entry(w, status, refresh) {
  const remove = h("button", { type: "button", class: "btn btn-small btn-outline", dataset: { testid: "watch-remove" } }, t("watch.remove"));
  remove.addEventListener("click", () =>
    busy(remove, async () => {
      try {
        await api(`/api/watch-list/${encodeURIComponent(w.id)}/remove`, { method: "POST" });
        replace(status);
      } catch (err) {
        replace(status, errorBanner(err));
      }
      await refresh();
    }),
  );
  return h(
    "li",
    { class: "card", dataset: { testid: "watched-plate", plate: w.plate } },
    h("div", { class: "door-head" }, h("strong", {}, w.plate), remove),
    w.note ? h("p", { class: "small" }, w.note) : null,
    h("p", { class: "muted small" }, t("watch.since", { time: formatDateTime(w.created_at) })),
  );
}
