// The e-bikes of a household, on its card under 我的家 (/homes): each bike with its
// anti-theft tag (masked), a form to add one (owner, brand, colour, tag number) and
// a field to fit a tag to a bike that has none. Tags are credentials of kind "tag".

import { api, isAbort } from "../api.js";
import { h, replace, errorBanner, loading, busy } from "../dom.js";
import { t } from "../i18n.js";

export function ebikesSection(home, signal) {
  const list = h("div", {}, loading());
  const refresh = () => load(home, list, refresh, signal);
  refresh();
  return h(
    "div",
    { class: "ebikes", dataset: { testid: "ebikes" } },
    h("h3", {}, t("ebikes.title")),
    list,
    h("div", {}, addForm(home, refresh, signal)),
  );
}

async function load(home, list, refresh, signal) {
  try {
    const bikes = (await api(`/api/houses/${encodeURIComponent(home.house_id)}/ebikes`, { signal })) || [];
    replace(list, bikes.length ? h("ul", { class: "pass-list" }, bikes.map((b) => bike(b, refresh))) : h("p", { class: "muted small" }, t("ebikes.none")));
  } catch (err) {
    if (!isAbort(err)) replace(list, errorBanner(err));
  }
}

function bike(b, refresh) {
  return h(
    "li",
    { class: "card", dataset: { testid: "ebike", tagged: String(b.tagged) } },
    h("strong", {}, [b.brand, b.colour].filter(Boolean).join(" ") || t("ebikes.unnamed")),
    h("span", { class: "muted small" }, ` · ${b.name}`),
    h("p", { class: "small" }, b.tagged ? t("ebikes.tag", { tag: b.tag_shown }) : t("ebikes.untagged")),
    b.tagged ? null : tagForm(b, refresh),
  );
}

function tagForm(b, refresh) {
  const number = h("input", { name: "tag", required: true, maxlength: 40, placeholder: t("ebikes.tag_number") });
  const submit = h("button", { type: "submit", class: "btn btn-outline" }, t("ebikes.fit_tag"));
  const status = h("div");
  const form = h("form", { class: "inline-form" }, number, submit, status);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(submit, async () => {
      try {
        await api(`/api/ebikes/${encodeURIComponent(b.id)}/tag`, { body: { tag: number.value.trim() } });
        refresh();
      } catch (err) {
        replace(status, errorBanner(err));
      }
    });
  });
  return form;
}

function addForm(home, refresh, signal) {
  const owner = h("select", { name: "person_id", required: true });
  const brand = h("input", { name: "brand", maxlength: 30, placeholder: t("ebikes.brand") });
  const colour = h("input", { name: "colour", maxlength: 20, placeholder: t("ebikes.colour") });
  const tag = h("input", { name: "tag", maxlength: 40, placeholder: t("ebikes.tag_number") });
  const submit = h("button", { type: "submit", class: "btn btn-primary" }, t("ebikes.add"));
  const status = h("div");
  if (home.plate) {
    // The household's members, as the flat's doorplate view shows them to its residents.
    api(`/api/scan/${encodeURIComponent(home.plate)}`, { signal })
      .then((view) => replace(owner, ...(view.residents || []).map((r) => h("option", { value: String(r.person_id) }, r.name))))
      .catch((err) => {
        if (!isAbort(err)) replace(status, errorBanner(err));
      });
  }
  const form = h(
    "form",
    { class: "stack", dataset: { testid: "add-ebike" } },
    h("label", {}, t("ebikes.owner"), owner),
    brand,
    colour,
    tag,
    submit,
    status,
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(submit, async () => {
      const body = { person_id: Number(owner.value), brand: brand.value.trim(), colour: colour.value.trim(), tag: tag.value.trim() };
      try {
        await api(`/api/houses/${encodeURIComponent(home.house_id)}/ebikes`, { body });
        form.reset();
        replace(status);
        refresh();
      } catch (err) {
        replace(status, errorBanner(err));
      }
    });
  });
  return form;
}
