// /admin — administration of one community at a time: staff accounts and
// their scopes (district admins), door grants (property, district admins),
// devices with their health, provisioning and secret rotation (the secret is
// shown once), doorplate replacement and the printable sheet. Each section is
// shown to the roles roles/matrix.py lets use it; the API refuses the rest.

import { api, isAbort } from "../api.js";
import { h, replace, errorBanner, notice, loading, busy } from "../dom.js";
import { t, label, formatDateTime } from "../i18n.js";
import * as session from "../session.js";

// roles/matrix.py: manage_staff, grant_access, view_devices, manage_devices, manage_plates.
const STAFF = new Set(["district_admin"]);
const GRANTS = new Set(["property", "district_admin"]);
const DEVICES = new Set(["maintenance", "property", "police", "district_admin"]);
const DEVICE_MANAGERS = new Set(["maintenance", "district_admin"]);
const PLATES = new Set(["property", "district_admin"]);
// Police only read device health, on the command board: the home screen offers this page to the rest.
const ADMIN_ROLES = new Set([...STAFF, ...GRANTS, ...DEVICE_MANAGERS, ...PLATES]);
const STAFF_ROLES = ["property", "warden", "community_worker", "maintenance", "police", "district_admin"];
const DEVICE_KINDS = ["face_gate", "intercom", "door_controller", "barrier", "camera", "perimeter_zone", "smoke_sensor", "leak_sensor", "door_magnet", "hydrant_pressure", "meter", "emergency_button", "wifi_probe", "screen", "patrol_tag"];
const GRANT_DAYS = 7;

const path = (template, id) => template.replace("{id}", encodeURIComponent(id));
const field = (id, text, input) => h("div", { class: "field" }, h("label", { for: id }, text), input);

export async function render({ signal }) {
  const heading = h("h1", {}, t("admin.title"));
  const role = session.account()?.role;
  if (!ADMIN_ROLES.has(role)) return h("section", { class: "screen" }, heading, notice(t("admin.not_for_role")));
  let communities;
  try {
    communities = (await api("/api/communities", { signal })) || [];
  } catch (err) {
    if (isAbort(err)) throw err;
    return h("section", { class: "screen" }, heading, errorBanner(err));
  }
  if (!communities.length) return h("section", { class: "screen" }, heading, notice(t("admin.no_communities")));
  const body = h("div", {});
  const picker = h("select", { id: "admin-community", dataset: { testid: "admin-community" } }, communities.map((c) => h("option", { value: c.id }, c.name)));
  const show = () => replace(body, sections(role, Number(picker.value)));
  picker.addEventListener("change", show);
  show();
  return h("section", { class: "screen" }, heading, field(picker.id, t("admin.community"), picker), body);
}

function sections(role, communityId) {
  const staff = STAFF.has(role) ? staffSection(communityId) : null;
  return [
    staff ? staff.section : null,
    GRANTS.has(role) ? grantSection(communityId, staff) : null,
    DEVICES.has(role) ? deviceSection(communityId, DEVICE_MANAGERS.has(role)) : null,
    PLATES.has(role) ? plateSection(communityId) : null,
  ];
}

/** A list filled from the API, refilled after each change. */
function loadedList(testid, url, item) {
  const list = h("ul", { class: "queue-list", dataset: { testid } }, loading());
  const listeners = [];
  const reload = () =>
    api(url)
      .then((rows) => {
        replace(list, rows.length ? rows.map((row) => item(row, reload)) : h("li", { class: "muted" }, t("admin.none")));
        listeners.forEach((fn) => fn(rows));
      })
      .catch((err) => replace(list, errorBanner(err)));
  reload();
  return { list, reload, onLoad: (fn) => listeners.push(fn) };
}

// --- staff -----------------------------------------------------------------------------------

function staffSection(communityId) {
  const loaded = loadedList("staff-list", path("/api/communities/{id}/staff", communityId), staffItem);
  const section = h("section", { class: "card" }, h("h2", {}, t("admin.staff")), loaded.list, staffForm(communityId, loaded.reload));
  return { section, onLoad: loaded.onLoad };
}

function staffItem(account, reload) {
  const status = h("div", { "aria-live": "polite" });
  const toggle = h("button", { type: "button", class: "btn btn-outline", dataset: { testid: account.active ? "disable-staff" : "enable-staff" } }, t(account.active ? "admin.disable" : "admin.enable"));
  toggle.addEventListener("click", () =>
    busy(toggle, async () => {
      try {
        await api(`/api/staff/${encodeURIComponent(account.id)}`, { method: "PATCH", body: { active: !account.active } });
        reload();
      } catch (err) {
        replace(status, errorBanner(err));
      }
    }),
  );
  const scopes = t("admin.scopes", { communities: account.community_ids.length, districts: account.district_ids.length });
  return h(
    "li",
    { class: "card", dataset: { testid: "staff-item", active: String(account.active) } },
    h("strong", {}, account.name),
    " ",
    h("span", { class: "muted" }, `${label("role", account.role)} · ${account.phone} · ${scopes}`),
    account.active ? null : h("span", { class: "badge" }, t("admin.disabled")),
    h("div", { class: "actions" }, toggle),
    status,
  );
}

function staffForm(communityId, added) {
  const status = h("div", { "aria-live": "polite" });
  const name = h("input", { id: "staff-name", type: "text", maxlength: 50, required: true, dataset: { testid: "staff-name" } });
  const phone = h("input", { id: "staff-phone", type: "tel", inputmode: "numeric", pattern: "1[0-9]{10}", required: true, dataset: { testid: "staff-phone" } });
  const role = h("select", { id: "staff-role", dataset: { testid: "staff-role" } }, STAFF_ROLES.map((r) => h("option", { value: r }, label("role", r))));
  const save = h("button", { type: "submit", class: "btn btn-primary", dataset: { testid: "staff-create" } }, t("admin.create_staff"));
  const form = h("form", { class: "form" }, h("h3", {}, t("admin.new_staff")), field(name.id, t("admin.name"), name), field(phone.id, t("admin.phone"), phone), field(role.id, t("admin.role"), role), save, status);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(save, async () => {
      replace(status);
      try {
        await api("/api/staff", { body: { name: name.value.trim(), phone: phone.value.trim(), role: role.value, community_ids: [communityId] } });
        form.reset();
        replace(status, notice(t("admin.staff_created"), "success"));
        added();
      } catch (err) {
        replace(status, errorBanner(err));
      }
    });
  });
  return form;
}

// --- grants ----------------------------------------------------------------------------------

function grantSection(communityId, staff) {
  const status = h("div", { "aria-live": "polite" });
  // District admins pick from the community's staff; property staff give the account's number.
  const account = staff
    ? h("select", { id: "grant-account", required: true, dataset: { testid: "grant-account" } })
    : h("input", { id: "grant-account", type: "number", min: 1, required: true, dataset: { testid: "grant-account" } });
  staff?.onLoad((rows) => replace(account, rows.filter((r) => r.active).map((r) => h("option", { value: r.id }, `${r.name} · ${label("role", r.role)}`))));
  const until = h("input", { id: "grant-until", type: "datetime-local", required: true, value: localInput(new Date(Date.now() + GRANT_DAYS * 86400e3)), dataset: { testid: "grant-until" } });
  const reason = h("input", { id: "grant-reason", type: "text", maxlength: 200, dataset: { testid: "grant-reason" } });
  const save = h("button", { type: "submit", class: "btn btn-primary", dataset: { testid: "grant-create" } }, t("admin.grant"));
  const form = h("form", { class: "form" }, field(account.id, t("admin.grant_account"), account), field(until.id, t("admin.grant_until"), until), field(reason.id, t("admin.grant_reason"), reason), save, status);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(save, async () => {
      replace(status);
      try {
        const body = { account_id: Number(account.value), community_id: communityId, valid_from: new Date().toISOString(), valid_until: new Date(until.value).toISOString(), reason: reason.value.trim() };
        const grant = await api("/api/grants", { body });
        replace(status, h("p", { class: "banner banner-success", role: "status", dataset: { testid: "grant-created" } }, t("admin.granted", { until: formatDateTime(grant.valid_until) })));
        granted.reload();
      } catch (err) {
        replace(status, errorBanner(err));
      }
    });
  });
  const granted = loadedList("grant-list", path("/api/communities/{id}/grants", communityId), grantItem);
  return h("section", { class: "card" }, h("h2", {}, t("admin.grants")), h("p", { class: "muted" }, t("admin.grants_lead")), granted.list, form);
}

function grantItem(grant, reload) {
  const where = grant.door_name || t("admin.all_doors");
  const period = t("admin.grant_period", { from: formatDateTime(grant.valid_from), until: formatDateTime(grant.valid_until) });
  const status = h("div", { "aria-live": "polite" });
  const end = h("button", { type: "button", class: "btn btn-small btn-outline", dataset: { testid: "end-grant" } }, t("admin.end_grant"));
  end.addEventListener("click", () =>
    busy(end, async () => {
      try {
        await api(`/api/grants/${encodeURIComponent(grant.id)}/end`, { method: "POST" });
        reload();
      } catch (err) {
        replace(status, errorBanner(err));
      }
    }),
  );
  return h(
    "li",
    { class: "card", dataset: { testid: "grant-item" } },
    h("strong", {}, grant.account_name),
    " ",
    h("span", { class: "muted" }, `${label("role", grant.role)} · ${where}`),
    h("p", {}, period, grant.reason ? ` · ${grant.reason}` : ""),
    end,
    status,
  );
}

/** A Date as a datetime-local input's value (local time, minutes). */
function localInput(date) {
  const local = new Date(date.getTime() - date.getTimezoneOffset() * 60e3);
  return local.toISOString().slice(0, 16);
}

// --- devices ---------------------------------------------------------------------------------

function deviceSection(communityId, manages) {
  const secretBox = h("div", { "aria-live": "polite" });
  const loaded = loadedList("device-list", path("/api/communities/{id}/devices", communityId), (d) => deviceItem(d, manages, secretBox));
  return h(
    "section",
    { class: "card" },
    h("h2", {}, t("admin.devices")),
    secretBox,
    loaded.list,
    manages ? provisionForm(communityId, secretBox, loaded.reload) : null,
  );
}

function deviceItem(device, manages, secretBox) {
  const health = [
    t(device.online ? "admin.online" : "admin.offline"),
    device.last_seen ? t("admin.last_seen", { at: formatDateTime(device.last_seen) }) : t("admin.never_seen"),
    device.battery == null ? null : t("admin.battery", { percent: device.battery }),
  ].filter(Boolean);
  const rotate = manages ? h("button", { type: "button", class: "btn btn-outline", dataset: { testid: "rotate-secret" } }, t("admin.rotate")) : null;
  rotate?.addEventListener("click", () => {
    if (!window.confirm(t("admin.rotate_confirm", { code: device.code }))) return;
    busy(rotate, async () => {
      try {
        showSecret(secretBox, await api(`/api/devices/${encodeURIComponent(device.id)}/secret`, { method: "POST" }));
      } catch (err) {
        replace(secretBox, errorBanner(err));
      }
    });
  });
  return h(
    "li",
    { class: "card", dataset: { testid: "device-item", code: device.code, online: String(device.online) } },
    h("strong", {}, device.name),
    " ",
    h("span", { class: "muted" }, `${device.code} · ${label("device_kind", device.kind)}`),
    h("p", { class: device.online ? "muted" : "badge badge-warning" }, health.join(" · ")),
    rotate ? h("div", { class: "actions" }, rotate) : null,
  );
}

function provisionForm(communityId, secretBox, added) {
  const status = h("div", { "aria-live": "polite" });
  const code = h("input", { id: "device-code", type: "text", pattern: "[A-Za-z0-9_.\\-]{1,64}", required: true, dataset: { testid: "device-code" } });
  const kind = h("select", { id: "device-kind", dataset: { testid: "device-kind" } }, DEVICE_KINDS.map((k) => h("option", { value: k }, label("device_kind", k))));
  const name = h("input", { id: "device-name", type: "text", maxlength: 100, required: true, dataset: { testid: "device-name" } });
  const save = h("button", { type: "submit", class: "btn btn-primary", dataset: { testid: "device-provision" } }, t("admin.provision"));
  const form = h("form", { class: "form" }, h("h3", {}, t("admin.new_device")), field(code.id, t("admin.device_code"), code), field(kind.id, t("admin.device_kind"), kind), field(name.id, t("admin.name"), name), save, status);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(save, async () => {
      replace(status);
      try {
        showSecret(secretBox, await api("/api/devices", { body: { community_id: communityId, code: code.value.trim(), kind: kind.value, name: name.value.trim() } }));
        form.reset();
        added();
      } catch (err) {
        replace(status, errorBanner(err));
      }
    });
  });
  return form;
}

/** The one-time secret: kept only in this box, gone when it is dismissed or the page is left. */
function showSecret(box, provisioned) {
  const dismiss = h("button", { type: "button", class: "btn btn-outline", dataset: { testid: "secret-dismiss" } }, t("admin.secret_done"));
  dismiss.addEventListener("click", () => replace(box));
  replace(
    box,
    h(
      "div",
      { class: "banner banner-warning", role: "status", dataset: { testid: "device-secret" } },
      h("p", {}, h("strong", {}, t("admin.secret_once", { code: provisioned.device.code }))),
      h("dl", { class: "facts" }, [
        [t("admin.secret"), provisioned.secret, "secret-value"],
        [t("admin.mqtt_username"), provisioned.mqtt_username, null],
        [t("admin.mqtt_password"), provisioned.mqtt_password, null],
        [t("admin.topics"), `${provisioned.topic_prefix}/…`, null],
      ].map(([term, value, testid]) => [h("dt", {}, term), h("dd", { class: "mono", dataset: testid ? { testid } : {} }, value)])),
      dismiss,
    ),
  );
  box.scrollIntoView({ block: "nearest" });
}

// --- doorplates ------------------------------------------------------------------------------

function plateSection(communityId) {
  return h("section", { class: "card" }, h("h2", {}, t("admin.plates")), replaceForm(), sheetForm(communityId));
}

function replaceForm() {
  const status = h("div", { "aria-live": "polite" });
  const plate = h("input", { id: "plate-token", type: "text", required: true, dataset: { testid: "plate-token" } });
  const save = h("button", { type: "submit", class: "btn btn-primary", dataset: { testid: "plate-replace" } }, t("admin.replace_plate"));
  const form = h("form", { class: "form" }, h("p", { class: "muted" }, t("admin.replace_lead")), field(plate.id, t("admin.plate"), plate), save, status);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const token = plate.value.trim().replace(/\/+$/, "").split("/").pop(); // a plate URL or its token
    if (!window.confirm(t("admin.replace_confirm"))) return;
    busy(save, async () => {
      replace(status);
      try {
        const replaced = await api(`/api/plates/${encodeURIComponent(token)}/replace`, { method: "POST" });
        const url = `${location.origin}/d/${replaced.token}`;
        replace(status, h("p", { class: "banner banner-success", role: "status", dataset: { testid: "plate-replaced" } }, t("admin.plate_replaced"), " ", h("span", { class: "mono" }, url)));
        form.reset();
      } catch (err) {
        replace(status, errorBanner(err));
      }
    });
  });
  return form;
}

function sheetForm(communityId) {
  const status = h("div", { "aria-live": "polite" });
  const page = h("input", { id: "sheet-page", type: "number", min: 1, max: 1000, value: "1", required: true, dataset: { testid: "sheet-page" } });
  const save = h("button", { type: "submit", class: "btn btn-outline", dataset: { testid: "sheet-download" } }, t("admin.sheet"));
  const form = h("form", { class: "form" }, field(page.id, t("admin.sheet_page"), page), save, status);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(save, async () => {
      replace(status);
      try {
        const sheet = await api(`${path("/api/communities/{id}/plates.svg", communityId)}?page=${encodeURIComponent(page.value)}`, { blob: true });
        const href = URL.createObjectURL(sheet);
        const name = `plates-${communityId}-${page.value}.svg`;
        replace(status, h("a", { href, download: name, class: "btn btn-primary", dataset: { testid: "sheet-link" } }, t("admin.sheet_save", { name })));
      } catch (err) {
        replace(status, errorBanner(err));
      }
    });
  });
  return form;
}
