// /d/{token}/register — register a person as living in this flat: a visitor's
// self-registration (pending), a resident adding a household member
// (pending), or staff registering someone (verified at once). Everything that
// can be checked here is checked before sending; what the server still
// rejects is shown next to the field it names.

import { api, isAbort } from "../api.js";
import { loadCodes } from "../codes.js";
import { h, link, replace, errorBanner, notice, loading } from "../dom.js";
import { t, label, errorMessage, errorKeyFor } from "../i18n.js";
import { normalize, parseIdNumber } from "../idnumber.js";
import { PHONE_RE } from "./signin.js";

// Select fields backed by national code lists, and their defaults.
const CODE_FIELDS = {
  id_type: { list: "ZJLX", default: "111" },
  gender: { list: "XB" },
  ethnicity: { list: "MZ", default: "01" },
  nationality: { list: "GJ", default: "CHN" },
  hukou_region: { list: "XZQH" },
  relation: { list: "YZGX" },
  reason: { list: "ZZSY" },
  // 一标三实 details: optional here, the verifier may complete them.
  occupation: { list: "ZYLB" },
  education: { list: "WHCD" },
  marital_status: { list: "HYZK" },
  native_place: { list: "XZQH" },
  lodging: { list: "ZZCS" },
};
const CATEGORIES = ["permanent", "lodger", "floating"];
// ZZSY 00 (户籍) is the 居住事由 of a permanent resident: chosen for them.
const PERMANENT_REASON = "00";
// The data standard wants a hukou address, but the registry accepts it empty
// (the hukou region is always given): do not turn people away over it.
const OPTIONAL = new Set(["hukou_address", "occupation", "education", "marital_status", "native_place", "service_place", "lodging"]);
// 服务处所 is VARCHAR2(100) in the data standard: bytes of UTF-8, not characters.
const SERVICE_PLACE_BYTES = 100;
// 居民身份证 and 临时居民身份证 carry a GB 11643 number.
const GB11643_TYPES = new Set(["111", "112"]);
const FIELDS = [
  "name", "id_type", "id_number", "gender", "birth_date", "ethnicity", "nationality", "phone",
  "hukou_region", "hukou_address", "residence_category", "relation", "reason", "start_date",
  "occupation", "education", "marital_status", "native_place", "service_place", "lodging",
];

export async function render({ params, signal }) {
  const token = params.token;
  const plateUrl = `/d/${encodeURIComponent(token)}`;

  const names = Object.values(CODE_FIELDS).map((f) => f.list);
  const [scan, lists] = await Promise.all([
    api(`/api/scan/${encodeURIComponent(token)}`, { signal }).then(
      (v) => ({ ok: true, value: v }),
      (err) => ({ ok: false, err }),
    ),
    Promise.all(names.map((n) => loadCodes(n))).then(
      (v) => ({ ok: true, value: Object.fromEntries(names.map((n, i) => [n, v[i]])) }),
      (err) => ({ ok: false, err }),
    ),
  ]);
  for (const r of [scan, lists]) if (!r.ok && isAbort(r.err)) throw r.err;

  if (!scan.ok && scan.err.status === 404) {
    return h("section", { class: "screen" }, h("h1", {}, t("scan.unknown_title")), errorBanner(scan.err), link("/scanner", { class: "btn btn-primary" }, t("scan.scan_again")));
  }
  const view = scan.ok ? scan.value : null;
  const actions = new Set(view?.actions || []);
  const mode = actions.has("register") ? "staff" : actions.has("add_member") ? "member" : "self";

  const section = h("section", { class: "screen screen-narrow" });
  const heading = h("h1", {}, t(`register.title_${mode}`));

  if (view && !actions.has("register") && !actions.has("add_member") && !actions.has("self_register")) {
    return replace(section, heading, notice(t("register.not_allowed")), link(plateUrl, { class: "btn btn-outline" }, t("register.back_to_plate")));
  }
  if (!lists.ok) {
    return replace(section, heading, errorBanner(lists.err), h("button", { type: "button", class: "btn btn-outline", onclick: () => location.reload() }, t("common.retry")));
  }

  return replace(
    section,
    heading,
    view ? h("p", { class: "lead" }, t("register.for_address", { address: view.address?.text || "" })) : null,
    h("p", { class: "muted" }, t(`register.intro_${mode}`)),
    registrationForm({ lists: lists.value, mode, token, plateUrl, section }),
  );
}

function today() {
  const d = new Date();
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

function registrationForm({ lists, mode, token, plateUrl, section }) {
  const controls = {};
  const errors = {};
  const summary = h("div", { class: "status-area", "aria-live": "assertive" });
  const autofillNote = h("p", { class: "hint autofill-note", "aria-live": "polite" });

  function select(name, options, { value, placeholder = true } = {}) {
    return h(
      "select",
      { name },
      placeholder ? h("option", { value: "" }, t("register.choose")) : null,
      options.map((o) => h("option", { value: o.code, selected: o.code === value }, o.label)),
    );
  }
  // A code list the server has not filled yet degrades to a plain text field
  // (the code itself) rather than an unanswerable required select.
  const codeSelect = (name) => {
    const options = lists[CODE_FIELDS[name].list] || [];
    if (!options.length) return h("input", { name, type: "text", value: CODE_FIELDS[name].default || "", autocomplete: "off" });
    if (name === "hukou_region") return regionSelect(name, options, regionGroups);
    if (name === "native_place") return regionSelect(name, options, new Map());
    return select(name, options, { value: CODE_FIELDS[name].default });
  };

  // XZQH labels are bare ("和平区" exists in several cities): group the
  // options by province and prefix county-level names with their city.
  const regionNames = new Map((lists.XZQH || []).map((o) => [o.code, o.label]));
  const regionGroups = new Map();
  function regionSelect(name, options, groups) {
    for (const o of options) {
      const province = o.code.slice(0, 2);
      if (!groups.has(province)) {
        groups.set(province, h("optgroup", { label: regionNames.get(`${province}0000`) || province }));
      }
      const city = regionNames.get(`${o.code.slice(0, 4)}00`);
      const isCounty = !o.code.endsWith("00");
      groups.get(province).append(h("option", { value: o.code }, isCounty && city ? `${city} ${o.label}` : o.label));
    }
    return h("select", { name }, h("option", { value: "" }, t("register.choose")), [...groups.values()]);
  }

  /**
   * The bundled XZQH list is partial (provinces, Hubei, capitals) and the
   * server accepts an unlisted code of a listed province, so the exact
   * region from an ID number is added as an option under its province.
   */
  function ensureRegionOption(code) {
    const select = controls.hukou_region;
    if (select.tagName !== "SELECT") return true;
    if ([...select.options].some((o) => o.value === code)) return true;
    const group = regionGroups.get(code.slice(0, 2));
    const plausible = /^\d{6}$/.test(code) && (code.slice(2, 4) !== "00" || code.endsWith("00"));
    if (!group || !plausible) return false;
    const parent = regionNames.get(`${code.slice(0, 4)}00`) || regionNames.get(`${code.slice(0, 2)}0000`);
    group.append(h("option", { value: code }, parent ? `${parent} · ${code}` : code));
    return true;
  }

  controls.name = h("input", { name: "name", type: "text", autocomplete: "name", maxlength: "50" });
  controls.id_type = codeSelect("id_type");
  controls.id_number = h("input", { name: "id_number", type: "text", autocomplete: "off", autocapitalize: "characters", spellcheck: "false", maxlength: "30" });
  controls.gender = codeSelect("gender");
  controls.birth_date = h("input", { name: "birth_date", type: "date", max: today() });
  controls.ethnicity = codeSelect("ethnicity");
  controls.nationality = codeSelect("nationality");
  controls.phone = h("input", { name: "phone", type: "tel", inputmode: "numeric", autocomplete: mode === "self" ? "tel-national" : "off", maxlength: "11" });
  controls.hukou_region = codeSelect("hukou_region");
  controls.hukou_address = h("input", { name: "hukou_address", type: "text", maxlength: "100" });
  controls.residence_category = select(
    "residence_category",
    CATEGORIES.map((c) => ({ code: c, label: label("residence_category_long", c) })),
    // Self-registrants are floating population by default; a household member
    // or a staff registration needs a deliberate choice.
    mode === "self" ? { value: "floating", placeholder: false } : { value: "" },
  );
  controls.relation = codeSelect("relation");
  controls.reason = codeSelect("reason");
  controls.start_date = h("input", { name: "start_date", type: "date", max: today(), value: today() });
  controls.occupation = codeSelect("occupation");
  controls.education = codeSelect("education");
  controls.marital_status = codeSelect("marital_status");
  controls.native_place = codeSelect("native_place");
  controls.service_place = h("input", { name: "service_place", type: "text", maxlength: "100" });
  controls.lodging = codeSelect("lodging");

  function field(name, hintKey) {
    const id = `f-${name}`;
    const control = controls[name];
    control.id = id;
    const hintId = hintKey ? `${id}-hint` : null;
    const errId = `error-${name}`;
    errors[name] = h("p", { id: errId, class: "field-error", dataset: { testid: `error-${name}` }, hidden: true });
    control.setAttribute("aria-describedby", [hintId, errId].filter(Boolean).join(" "));
    return h(
      "div",
      { class: "field" },
      h("label", { for: id }, t(`field.${name}`), optional(name) ? h("span", { class: "optional" }, ` ${t("register.optional")}`) : null),
      control,
      hintKey ? h("p", { id: hintId, class: "hint" }, t(hintKey)) : null,
      errors[name],
    );
  }

  const optional = (name) => OPTIONAL.has(name);
  // `required` is for assistive technology (the form is novalidate: our own
  // checks give better messages than the browser's bubbles).
  for (const name of FIELDS) controls[name].required = !optional(name);

  // --- validation ---------------------------------------------------------

  function setError(name, message) {
    const el = errors[name];
    const control = controls[name];
    if (!el) return false;
    el.textContent = message || "";
    el.hidden = !message;
    if (message) control.setAttribute("aria-invalid", "true");
    else control.removeAttribute("aria-invalid");
    return Boolean(message);
  }

  function idInfo() {
    if (!GB11643_TYPES.has(controls.id_type.value)) return null;
    return parseIdNumber(controls.id_number.value);
  }

  /** @returns {string|null} the message for one field, or null when it is fine */
  function check(name) {
    const value = controls[name].value.trim();
    if (!value) return optional(name) ? null : t("validation.required");
    switch (name) {
      case "id_number": {
        const info = idInfo();
        if (info && !info.valid) return t(`validation.id_${info.reason}`);
        return null;
      }
      case "phone":
        return PHONE_RE.test(value) ? null : t("validation.phone");
      case "service_place":
        return new TextEncoder().encode(value).length > SERVICE_PLACE_BYTES ? t("validation.service_place_bytes") : null;
      case "lodging":
        return controls.residence_category.value === "permanent" ? t("validation.lodging_permanent") : null;
      case "birth_date": {
        if (value > today()) return t("validation.future_date");
        const info = idInfo();
        if (info && info.valid && info.birthDate !== value) return t("validation.birth_date_mismatch");
        return null;
      }
      case "gender": {
        const info = idInfo();
        // Only 男/女 can be checked against the ID; other XB codes are left to staff.
        if (info && info.valid && (value === "1" || value === "2") && info.gender !== value) return t("validation.gender_mismatch");
        return null;
      }
      case "start_date": {
        if (value > today()) return t("validation.future_date");
        const birth = controls.birth_date.value;
        if (birth && value < birth) return t("validation.start_before_birth");
        return null;
      }
      default:
        return null;
    }
  }

  const touched = new Set();
  // The "N fields need attention" banner follows the fixes as they are made.
  let summaryCounts = false;
  function refreshSummary() {
    if (!summaryCounts) return;
    const count = FIELDS.filter((name) => !errors[name].hidden).length;
    if (count) replace(summary, errorBanner(t("validation.summary", { count })));
    else {
      replace(summary);
      summaryCounts = false;
    }
  }
  function validate(name) {
    const ok = !setError(name, check(name));
    refreshSummary();
    return ok;
  }

  // Pre-fill from a valid ID number, but never overwrite what the person typed.
  const autofilled = new Set();
  function autofill() {
    const info = idInfo();
    if (!info || !info.valid) return;
    const filled = [];
    const put = (name, value) => {
      const c = controls[name];
      if (c.value && !autofilled.has(name)) return;
      if (name === "hukou_region" && !ensureRegionOption(value)) return;
      if (c.tagName === "SELECT" && ![...c.options].some((o) => o.value === value)) return;
      if (c.value !== value) {
        c.value = value;
        filled.push(t(`field.${name}`));
      }
      autofilled.add(name);
      if (touched.has(name)) validate(name);
    };
    put("birth_date", info.birthDate);
    put("gender", info.gender);
    put("hukou_region", info.region);
    autofillNote.textContent = filled.length ? t("register.autofilled", { fields: filled.join(t("common.list_sep")) }) : "";
  }

  for (const name of FIELDS) {
    const c = controls[name];
    c.addEventListener("blur", () => {
      touched.add(name);
      validate(name);
    });
    c.addEventListener(c.tagName === "SELECT" ? "change" : "input", () => {
      if (name !== "id_number") autofilled.delete(name); // the person took this field over
      if (touched.has(name)) validate(name);
    });
  }
  controls.id_number.addEventListener("input", autofill);
  controls.id_number.addEventListener("blur", () => {
    controls.id_number.value = normalize(controls.id_number.value);
  });
  controls.id_type.addEventListener("change", () => {
    autofill();
    if (touched.has("id_number")) validate("id_number");
  });
  controls.residence_category.addEventListener("change", () => {
    // A permanent resident lives here because of their hukou (ZZSY 00): pick
    // it for them, and take it back if they change their mind.
    const reason = controls.reason;
    const permanent = controls.residence_category.value === "permanent";
    const hasCode = reason.tagName !== "SELECT" || [...reason.options].some((o) => o.value === PERMANENT_REASON);
    if (permanent && !reason.value && hasCode) {
      reason.value = PERMANENT_REASON;
      autofilled.add("reason");
    } else if (!permanent && autofilled.has("reason") && reason.value === PERMANENT_REASON) {
      reason.value = "";
      autofilled.delete("reason");
    }
    if (touched.has("reason")) validate("reason");
    // 暂住处所 is asked of non-permanent residents only.
    lodgingField.hidden = permanent;
    if (permanent) controls.lodging.value = "";
  });

  // --- submit -------------------------------------------------------------

  const lodgingField = field("lodging", "register.lodging_hint");
  const submit = h("button", { type: "submit", class: "btn btn-primary btn-block btn-large", dataset: { testid: "submit-registration" } }, t(`register.submit_${mode}`));

  const form = h(
    "form",
    { class: "form", novalidate: true, dataset: { testid: "registration-form" } },
    summary,
    h(
      "fieldset",
      {},
      h("legend", {}, t("register.section_person")),
      field("name"),
      field("id_type"),
      field("id_number", "register.id_hint"),
      autofillNote,
      field("gender"),
      field("birth_date"),
      field("ethnicity"),
      field("nationality"),
      field("phone", "register.phone_hint"),
    ),
    h("fieldset", {}, h("legend", {}, t("register.section_hukou")), field("hukou_region"), field("hukou_address")),
    h(
      "fieldset",
      {},
      h("legend", {}, t("register.section_residence")),
      // Staff register what they checked; anyone else only proposes a category for the verifier.
      field("residence_category", mode === "staff" ? "register.category_hint" : "register.category_proposal_hint"),
      field("relation"),
      field("reason"),
      field("start_date"),
      lodgingField,
    ),
    h(
      "fieldset",
      { dataset: { testid: "standard-fields" } },
      h("legend", {}, t("register.section_standard")),
      h("p", { class: "hint" }, t("register.standard_hint")),
      field("occupation"),
      field("education"),
      field("marital_status"),
      field("native_place"),
      field("service_place", "register.service_place_hint"),
    ),
    submit,
  );

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (submit.disabled) return;
    controls.id_number.value = normalize(controls.id_number.value);
    const bad = FIELDS.filter((name) => {
      touched.add(name);
      return !validate(name);
    });
    if (bad.length) {
      summaryCounts = true;
      refreshSummary();
      controls[bad[0]].focus();
      return;
    }
    summaryCounts = false;
    replace(summary);
    const body = Object.fromEntries(FIELDS.map((name) => [name, controls[name].value.trim()]));
    submit.disabled = true;
    submit.setAttribute("aria-busy", "true");
    try {
      const res = await api(`/api/plates/${encodeURIComponent(token)}/registrations`, { body });
      replace(section, done(res, mode, plateUrl));
      section.querySelector("h1")?.focus();
    } catch (err) {
      if (isAbort(err)) return;
      showServerError(err);
    } finally {
      submit.disabled = false;
      submit.removeAttribute("aria-busy");
    }
  });

  function showServerError(err) {
    const inline = (err.fields || []).filter((f) => controls[f.field]);
    for (const f of inline) {
      // Our own words for a known domain code (invalid_id_number…); for a
      // framework validation list the per-field message is more precise.
      const key = err.code !== "validation" && err.field === f.field ? errorKeyFor(err.code) : null;
      setError(f.field, key ? t(key) : f.message || errorMessage(err));
    }
    replace(summary, errorBanner(err));
    if (inline.length) controls[inline[0].field].focus();
    else summary.scrollIntoView({ block: "nearest" });
  }

  return form;
}

function done(res, mode, plateUrl) {
  const verified = res && res.status === "verified";
  return h(
    "div",
    { class: "card done", dataset: { testid: "registration-done" }, role: "status" },
    h("h1", { tabindex: "-1" }, verified ? t("register.done_verified") : t("register.done_pending")),
    h("p", {}, verified ? t("register.done_verified_text") : t(`register.done_pending_text_${mode === "self" ? "self" : "member"}`)),
    h(
      "div",
      { class: "actions" },
      link(plateUrl, { class: "btn btn-primary" }, t("register.back_to_plate")),
      link(`${plateUrl}/register`, { class: "btn btn-outline" }, t("register.another")),
    ),
  );
}
