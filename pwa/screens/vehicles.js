// /homes/{house}/vehicles — a resident's household's vehicles: register one (plate, 号牌种类,
// colour), revoke one, and see the household's vehicles at the community's barriers.

import { api, isAbort } from "../api.js";
import { h, link, replace, errorBanner, loading, busy } from "../dom.js";
import { t, label, formatDateTime } from "../i18n.js";

// The 号牌种类 (HPZL) a household's vehicle usually has; the server knows the whole dictionary.
const KINDS = ["02", "52", "01", "51", "07", "08"];
const COLOURS = ["", "A", "B", "J", "E", "H", "C", "G", "I", "Z"];

export function render({ params, signal }) {
  const house = encodeURIComponent(params.token);
  const list = h("div", { dataset: { testid: "vehicle-list" } }, loading());
  const passages = h("div", { dataset: { testid: "vehicle-passages" } }, loading());
  const refresh = () => load(house, list, passages, refresh, signal);
  refresh();
  return h(
    "section",
    { class: "screen" },
    link("/homes", { class: "btn btn-ghost btn-small" }, t("homes.title")),
    h("h1", {}, t("vehicles.title")),
    list,
    registerForm(house, refresh),
    h("h2", {}, t("vehicles.passages")),
    passages,
  );
}

async function load(house, list, passages, refresh, signal) {
  try {
    const [vehicles, seen] = await Promise.all([
      api(`/api/houses/${house}/vehicles`, { signal }),
      api(`/api/houses/${house}/vehicle-passages`, { signal }),
    ]);
    replace(list, vehicles.length ? h("ul", { class: "pass-list" }, vehicles.map((v) => vehicleItem(v, refresh))) : h("p", { class: "muted" }, t("vehicles.none")));
    replace(passages, seen.length ? h("ul", { class: "small" }, seen.map(passageItem)) : h("p", { class: "muted small" }, t("vehicles.no_passages")));
  } catch (err) {
    if (!isAbort(err)) replace(list, errorBanner(err));
  }
}

function field(id, text, input) {
  return h("div", { class: "field" }, h("label", { for: id }, text), input);
}

function registerForm(house, refresh) {
  const plate = h("input", { id: "vehicle-plate", name: "plate", required: true, maxlength: 10, autocomplete: "off", placeholder: "鄂A12345" });
  const kind = h("select", { id: "vehicle-kind" }, KINDS.map((code) => h("option", { value: code }, label("hpzl", code))));
  const colour = h("select", { id: "vehicle-colour" }, COLOURS.map((code) => h("option", { value: code }, code ? label("csys", code) : "—")));
  const status = h("div", { "aria-live": "polite" });
  const submit = h("button", { type: "submit", class: "btn btn-primary btn-block", dataset: { testid: "register-vehicle" } }, t("vehicles.register"));
  const form = h(
    "form",
    { class: "form", novalidate: true },
    field("vehicle-plate", t("vehicles.plate"), plate),
    field("vehicle-kind", t("vehicles.kind"), kind),
    field("vehicle-colour", t("vehicles.colour"), colour),
    submit,
    status,
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(submit, async () => {
      try {
        await api(`/api/houses/${house}/vehicles`, { body: { plate: plate.value.trim(), hpzl: kind.value, color: colour.value } });
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

function vehicleItem(v, refresh) {
  const status = h("div", { "aria-live": "polite" });
  const revoke = h("button", { type: "button", class: "btn btn-small btn-outline", dataset: { testid: "revoke-vehicle" } }, t("vehicles.revoke"));
  revoke.addEventListener("click", () =>
    busy(revoke, async () => {
      try {
        await api(`/api/vehicles/${encodeURIComponent(v.id)}/revoke`, { method: "POST" });
        refresh();
      } catch (err) {
        replace(status, errorBanner(err));
      }
    }),
  );
  return h(
    "li",
    { class: "card", dataset: { testid: "vehicle-item" } },
    h("div", { class: "door-head" }, h("strong", {}, v.plate), h("span", { class: "badge" }, v.hpzl_name)),
    v.color ? h("p", { class: "muted small" }, label("csys", v.color)) : null,
    revoke,
    status,
  );
}

function passageItem(p) {
  return h("li", {}, [formatDateTime(p.at), p.plate, p.device_name, label("direction", p.direction), label("vehicle_outcome", p.outcome)].join(" · "));
}
