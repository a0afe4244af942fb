// /organisations — 实有单位 of a community: property staff and police list and add them (the
// property's wait for the police), the police verify, both remove one that left.

import { api, isAbort } from "../api.js";
import { h, replace, errorBanner, loading, busy } from "../dom.js";
import { t, label } from "../i18n.js";
import * as session from "../session.js";
import { communityScreen } from "./desk.js";

const KINDS = ["enterprise", "individual", "government", "institution", "social", "property", "other"];

export function render({ signal }) {
  return communityScreen(t("orgs.title"), signal, (id) => [orgSection(id, signal)], t("orgs.lead"));
}

function orgSection(communityId, signal) {
  const path = `/api/communities/${encodeURIComponent(communityId)}/organisations`;
  const list = h("div", { dataset: { testid: "organisation-list" } }, loading());
  const status = h("div", { "aria-live": "polite" });
  const refresh = async () => {
    try {
      const rows = (await api(path, { signal })) || [];
      replace(list, rows.length ? h("ul", { class: "pass-list" }, rows.map((o) => entry(o, status, refresh))) : h("p", { class: "muted" }, t("orgs.none")));
    } catch (err) {
      if (!isAbort(err)) replace(list, errorBanner(err));
    }
  };
  refresh();
  return h("section", { class: "card" }, addForm(path, status, refresh), status, list);
}

function addForm(path, status, refresh) {
  const input = (id, max) => h("input", { id, maxlength: max, autocomplete: "off" });
  const name = input("org-name", 100);
  name.required = true;
  const credit = input("org-credit", 18);
  const place = input("org-place", 100);
  const contact = input("org-contact", 50);
  const phone = h("input", { id: "org-phone", type: "tel", maxlength: 20, autocomplete: "off" });
  const kind = h("select", { id: "org-kind" }, KINDS.map((k) => h("option", { value: k }, label("org_kind", k))));
  const submit = h("button", { type: "submit", class: "btn btn-primary", dataset: { testid: "organisation-add" } }, t("orgs.add"));
  const field = (id, key, control) => h("div", { class: "field" }, h("label", { for: id }, t(key)), control);
  const form = h(
    "form",
    { class: "form", novalidate: true },
    field("org-name", "orgs.name", name),
    field("org-kind", "orgs.kind", kind),
    field("org-credit", "orgs.credit_code", credit),
    field("org-place", "orgs.place", place),
    field("org-contact", "orgs.contact_name", contact),
    field("org-phone", "orgs.contact_phone", phone),
    submit,
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(submit, async () => {
      try {
        const body = {
          name: name.value.trim(),
          kind: kind.value,
          credit_code: credit.value.trim().toUpperCase(),
          place: place.value.trim(),
          contact_name: contact.value.trim(),
          contact_phone: phone.value.trim(),
        };
        await api(path, { body });
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

function entry(o, status, refresh) {
  const act = (button, fn) =>
    button.addEventListener("click", () =>
      busy(button, async () => {
        try {
          await fn();
          replace(status);
        } catch (err) {
          replace(status, errorBanner(err));
        }
        await refresh();
      }),
    );
  const remove = h("button", { type: "button", class: "btn btn-small btn-outline", dataset: { testid: "organisation-remove" } }, t("orgs.remove"));
  act(remove, () => api(`/api/organisations/${encodeURIComponent(o.id)}`, { method: "DELETE" }));
  let verify = null;
  if (o.status === "pending" && session.account()?.role === "police") {
    verify = h("button", { type: "button", class: "btn btn-small btn-primary", dataset: { testid: "organisation-verify" } }, t("orgs.verify"));
    act(verify, () => api(`/api/organisations/${encodeURIComponent(o.id)}/verify`, { method: "POST" }));
  }
  return h(
    "li",
    { class: "card", dataset: { testid: "organisation", status: o.status } },
    h("div", { class: "door-head" }, h("strong", {}, o.name), h("span", { class: `badge badge-${o.status}` }, label("status", o.status))),
    h("p", { class: "small" }, [label("org_kind", o.kind), o.credit_code, o.place].filter(Boolean).join(" · ")),
    o.contact_name || o.contact_phone ? h("p", { class: "muted small" }, [o.contact_name, o.contact_phone].filter(Boolean).join(" ")) : null,
    h("div", { class: "actions actions-inline" }, verify, remove),
  );
}
