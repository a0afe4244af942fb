// /buildings — 楼栋信息 of a community's buildings: property staff and police see what each still
// lacks for the police platform, and fill it in (floors, build date, photo, entrusted agent).

import { api, isAbort } from "../api.js";
import { loadCodes } from "../codes.js";
import { h, replace, errorBanner, loading, busy } from "../dom.js";
import { t } from "../i18n.js";
import { communityScreen } from "./desk.js";

export function render({ signal }) {
  return communityScreen(t("buildings.title"), signal, (id) => [listSection(id, signal)], t("buildings.lead"));
}

function listSection(communityId, signal) {
  const list = h("div", { dataset: { testid: "building-list" } }, loading());
  const editor = h("div");
  const refresh = async () => {
    try {
      const rows = (await api(`/api/communities/${encodeURIComponent(communityId)}/buildings`, { signal })) || [];
      replace(list, rows.length ? h("ul", { class: "pass-list" }, rows.map((b) => entry(b, editor, refresh, signal))) : h("p", { class: "muted" }, t("buildings.none")));
    } catch (err) {
      if (!isAbort(err)) replace(list, errorBanner(err));
    }
  };
  refresh();
  return h("section", { class: "card" }, list, editor);
}

function entry(b, editor, refresh, signal) {
  const edit = h("button", { type: "button", class: "btn btn-small btn-outline", dataset: { testid: "building-edit" } }, t("buildings.edit"));
  edit.addEventListener("click", () => busy(edit, () => openEditor(b, editor, refresh, signal)));
  const complete = b.missing.length === 0;
  return h(
    "li",
    { class: "card", dataset: { testid: "building", complete: String(complete) } },
    h(
      "div",
      { class: "door-head" },
      h("strong", {}, b.name),
      h("span", { class: `badge badge-${complete ? "verified" : "pending"}` }, complete ? t("buildings.complete") : t("buildings.missing_count", { n: b.missing.length })),
    ),
    h("p", { class: "small muted" }, t("buildings.units", { n: b.units })),
    complete ? null : h("p", { class: "small", dataset: { testid: "building-missing" } }, b.missing.map((f) => f.meaning).join("、")),
    h("div", { class: "actions actions-inline" }, edit),
  );
}

async function openEditor(b, editor, refresh, signal) {
  replace(editor, loading());
  try {
    const [details, idTypes] = await Promise.all([api(`/api/buildings/${encodeURIComponent(b.id)}`, { signal }), loadCodes("ZJLX")]);
    replace(editor, form(details, idTypes, editor, refresh));
    editor.scrollIntoView({ block: "start" });
  } catch (err) {
    if (!isAbort(err)) replace(editor, errorBanner(err));
  }
}

function form(d, idTypes, editor, refresh) {
  const status = h("div", { "aria-live": "polite" });
  const input = (id, attrs, value) => {
    const el = h("input", { id, autocomplete: "off", ...attrs });
    el.value = value ?? "";
    return el;
  };
  const number = (id, value, min, max) => input(id, { type: "number", min, max, inputmode: "numeric" }, value);
  const controls = {
    nature: input("b-nature", { maxlength: 100 }, d.nature),
    floors_above: number("b-floors-above", d.floors_above, 1, 999),
    floors_below: number("b-floors-below", d.floors_below, 0, 99),
    floors_below_lived_in: number("b-floors-lived", d.floors_below_lived_in, 0, 99),
    built_on: input("b-built-on", { type: "date" }, d.built_on),
    photo: input("b-photo", { maxlength: 400, type: "url" }, d.photo),
    agent_name: input("b-agent-name", { maxlength: 50 }, d.agent_name),
    agent_id_type: h("select", { id: "b-agent-id-type" }, h("option", { value: "" }, "—"), idTypes.map((c) => h("option", { value: c.code }, `${c.code} ${c.label}`))),
    agent_id_number: input("b-agent-id-number", { maxlength: 30 }, d.agent_id_number),
    agent_phone: input("b-agent-phone", { type: "tel", maxlength: 18 }, d.agent_phone),
  };
  controls.agent_id_type.value = d.agent_id_type || "";
  controls.floors_above.required = true;
  const field = (key, control) => h("div", { class: "field" }, h("label", { for: control.id }, t(`buildings.${key}`)), control);
  const save = h("button", { type: "submit", class: "btn btn-primary", dataset: { testid: "building-save" } }, t("buildings.save"));
  const el = h(
    "form",
    { class: "form", novalidate: true, dataset: { testid: "building-form" } },
    h("h2", {}, d.name),
    ...Object.entries(controls).map(([key, control]) => field(key, control)),
    status,
    save,
  );
  el.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(save, async () => {
      const body = {};
      for (const [key, control] of Object.entries(controls)) {
        const value = control.value.trim();
        if (control.type === "number") body[key] = Number(value || 0);
        else if (key === "built_on") body[key] = value || null;
        else body[key] = value;
      }
      try {
        await api(`/api/buildings/${encodeURIComponent(d.id)}`, { method: "PUT", body });
        replace(editor);
        await refresh();
      } catch (err) {
        replace(status, errorBanner(err));
      }
    });
  });
  return el;
}
