// /d/{token}/button — pair an emergency (SOS) button with a resident of this
// flat: its serial is printed in the button's QR. Offered on the flat's plate
// when the server lists `pair_button` (staff, or a verified resident here).

import { api, isAbort } from "../api.js";
import { h, link, replace, errorBanner, notice, busy } from "../dom.js";
import { t, formatDateTime } from "../i18n.js";

export async function render({ params, signal }) {
  const token = params.token;
  const plate = await api(`/api/scan/${encodeURIComponent(token)}`, { signal });
  const back = link(`/d/${encodeURIComponent(token)}`, { class: "btn btn-outline" }, t("button.back"));
  if (!plate.house || !(plate.actions || []).includes("pair_button")) {
    return h("section", { class: "screen" }, h("h1", {}, t("button.title")), errorBanner(t("error.forbidden")), back);
  }
  const houseId = plate.house.id;
  const status = h("div", { class: "status-area", "aria-live": "polite" });
  const list = h("ul", { class: "list", dataset: { testid: "buttons" } });

  async function refresh() {
    const buttons = await api(`/api/houses/${houseId}/buttons`, { signal });
    replace(list, ...(buttons.length ? buttons.map((b) => buttonItem(b, houseId, refresh, status)) : [h("li", { class: "muted" }, t("button.none"))]));
  }

  const serial = h("input", { id: "button-serial", name: "serial", required: true, autocomplete: "off", pattern: "[A-Za-z0-9_.\\-]{1,64}" });
  const residents = (plate.residents || []).filter((r) => r.status === "verified");
  const person = h("select", { id: "button-person", name: "person", required: true }, residents.map((r) => h("option", { value: r.person_id }, r.name)));
  const submit = h("button", { type: "submit", class: "btn btn-primary" }, t("button.pair"));
  const form = h(
    "form",
    { class: "card", dataset: { testid: "pair-form" } },
    h("label", { for: "button-serial" }, t("button.serial")),
    serial,
    h("p", { class: "muted" }, t("button.serial_hint")),
    h("label", { for: "button-person" }, t("button.person")),
    person,
    submit,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(submit, async () => {
      try {
        const body = { serial: serial.value.trim(), house_id: houseId, person_id: Number(person.value) };
        await api("/api/buttons/pairings", { body });
        serial.value = "";
        replace(status, notice(t("button.paired"), "success"));
        await refresh();
      } catch (err) {
        if (!isAbort(err)) replace(status, errorBanner(err));
      }
    });
  });

  await refresh();
  return h(
    "section",
    { class: "screen" },
    h("h1", {}, t("button.title")),
    h("p", { class: "kicker" }, plate.address?.text || ""),
    status,
    form,
    h("h2", {}, t("button.paired_here")),
    list,
    h("div", { class: "actions" }, back),
  );
}

function buttonItem(button, houseId, refresh, status) {
  const unpair = h("button", { type: "button", class: "btn btn-outline" }, t("button.unpair"));
  unpair.addEventListener("click", () =>
    busy(unpair, async () => {
      try {
        await api(`/api/houses/${houseId}/buttons/${button.device_id}`, { method: "DELETE" });
        replace(status, notice(t("button.unpaired"), "success"));
        await refresh();
      } catch (err) {
        if (!isAbort(err)) replace(status, errorBanner(err));
      }
    }),
  );
  const battery = button.battery == null ? t("button.battery_unknown") : t("button.battery", { percent: button.battery });
  const seen = button.last_seen ? t("button.last_seen", { at: formatDateTime(button.last_seen) }) : t("button.never_seen");
  return h(
    "li",
    { dataset: { testid: "button-item" } },
    h("strong", {}, `${button.name} · ${button.serial}`),
    h("p", { class: "muted" }, `${button.online ? t("button.online") : t("button.offline")} · ${battery} · ${seen}`),
    unpair,
  );
}
