// /me — the account, passkey enrolment and sign-out. Police and district
// admins land here first after sign-in: nothing else works for them until a
// passkey is enrolled.

import { api, isAbort } from "../api.js";
import { h, link, replace, errorBanner, notice, busy } from "../dom.js";
import { t, label, formatDateTime } from "../i18n.js";
import { navigate, safeNext } from "../router.js";
import * as session from "../session.js";
import { createPasskey, isSupported, isCancelled } from "../webauthn.js";
import * as push from "../push.js";

export async function render({ query, signal }) {
  let acc = session.account();
  let loadError = null;
  try {
    acc = await api("/api/me", { signal });
    session.setAccount(acc);
  } catch (err) {
    if (isAbort(err)) throw err;
    // Offline or a hiccup: show what we know, with the error.
    loadError = err;
    if (!session.isSignedIn()) {
      navigate(`/signin?next=${encodeURIComponent("/me")}`, { replace: true });
      return h("section", { class: "screen" });
    }
  }
  if (!acc) return h("section", { class: "screen" }, h("h1", {}, t("me.title")), errorBanner(loadError));

  const next = safeNext(query.get("next"), null);
  const status = h("div", { class: "status-area", "aria-live": "polite" });
  const passkeyBody = h("div");
  const passkeyList = h("div", { dataset: { testid: "passkey-list" } });

  function renderPasskey() {
    const required = session.needsPasskey(acc);
    const enrolBtn = h(
      "button",
      { type: "button", class: ["btn", "btn-block", acc.has_passkey ? "btn-outline" : "btn-primary"], dataset: { testid: "enrol-passkey" } },
      acc.has_passkey ? t("me.add_passkey") : t("me.enrol_passkey"),
    );
    enrolBtn.addEventListener("click", () => busy(enrolBtn, enrol));
    replace(
      passkeyBody,
      required ? h("div", { class: "banner banner-warning", role: "alert", dataset: { testid: "passkey-required" } }, t("me.passkey_required")) : null,
      acc.has_passkey
        ? h("p", { class: "banner banner-success", dataset: { testid: "passkey-enrolled" } }, t("me.passkey_enrolled"))
        : h("p", {}, t("me.passkey_explain")),
      enrolBtn,
      acc.has_passkey && next ? link(next, { class: "btn btn-primary btn-block" }, t("me.continue")) : null,
    );
  }

  async function enrol() {
    if (!isSupported()) {
      replace(status, errorBanner(t("passkey.unsupported")));
      return;
    }
    try {
      const options = await api("/api/auth/passkeys/registration-options", { method: "POST" });
      const credential = await createPasskey(options);
      // The server answers with a fresh passkey session: the code session that
      // enrolled could do nothing else for police and admins.
      const pair = await api("/api/auth/passkeys", { body: { credential } });
      if (pair && pair.access_token) {
        session.setTokens(pair);
        acc = pair.account || { ...acc, has_passkey: true };
      } else {
        acc = { ...acc, has_passkey: true };
        session.setAccount(acc);
      }
      replace(status, notice(t("me.passkey_done"), "success"));
      renderPasskey();
      renderPasskeyList();
    } catch (err) {
      if (isCancelled(err)) replace(status, notice(t("passkey.cancelled")));
      else if (err && err.name === "InvalidStateError") replace(status, notice(t("passkey.already_on_device")));
      else if (!isAbort(err)) replace(status, errorBanner(err));
    }
  }

  // Listing and removing keys needs a passkey session (the server says so with 403).
  async function renderPasskeyList() {
    if (!acc.has_passkey) return replace(passkeyList);
    try {
      const keys = await api("/api/auth/passkeys", { signal });
      replace(passkeyList, h("ul", { class: "list" }, keys.map(passkeyItem)));
    } catch (err) {
      if (!isAbort(err)) replace(passkeyList, h("p", { class: "hint" }, t("me.passkeys_locked")));
    }
  }

  function passkeyItem(key) {
    const remove = h("button", { type: "button", class: "btn btn-small btn-danger-outline", dataset: { testid: "remove-passkey" } }, t("me.remove_passkey"));
    remove.addEventListener("click", () =>
      busy(remove, async () => {
        if (!window.confirm(t("me.remove_confirm"))) return;
        try {
          await api(`/api/auth/passkeys/${encodeURIComponent(key.id)}`, { method: "DELETE" });
          // Every session of the account ended with the key, this one included.
          session.clear();
          navigate("/signin", { replace: true });
        } catch (err) {
          if (!isAbort(err)) replace(status, errorBanner(err));
        }
      }),
    );
    return h("li", {}, t("me.passkey_added_on", { when: formatDateTime(key.created_at) }), " ", remove);
  }

  // Notifications on this device: the switch shows the browser's subscription, whatever we last did.
  const pushToggle = h("input", { type: "checkbox", role: "switch", id: "push-switch", dataset: { testid: "push-switch" } });
  const pushState = h("p", { class: "hint", "aria-live": "polite", dataset: { testid: "push-state" } });

  async function renderPush() {
    if (!push.isSupported()) {
      pushToggle.disabled = true;
      return replace(pushState, t("me.push_unsupported"));
    }
    const on = Boolean(await push.current().catch(() => null)) && push.permission() === "granted";
    pushToggle.checked = on;
    replace(pushState, push.permission() === "denied" ? t("me.push_blocked") : on ? t("me.push_on") : t("me.push_off"));
  }

  pushToggle.addEventListener("change", () =>
    busy(pushToggle, async () => {
      try {
        if (pushToggle.checked) await push.enable();
        else await push.disable();
      } catch (err) {
        if (isAbort(err)) return;
        if (err && err.name === "NotAllowedError") replace(status, notice(t("me.push_blocked")));
        else replace(status, errorBanner(err));
      }
      await renderPush();
    }),
  );

  const signOut = h("button", { type: "button", class: "btn btn-danger-outline btn-block", dataset: { testid: "sign-out" } }, t("me.sign_out"));
  signOut.addEventListener("click", () =>
    busy(signOut, async () => {
      // Revoke server-side (the refresh cookie names the session); sign out locally regardless.
      await api("/api/auth/logout", { method: "POST", auth: false }).catch(() => {});
      session.clear();
      navigate("/", { replace: true });
    }),
  );

  renderPasskey();
  renderPasskeyList();
  renderPush();
  return h(
    "section",
    { class: "screen screen-narrow" },
    h("h1", {}, t("me.title")),
    loadError ? errorBanner(loadError) : null,
    status,
    h(
      "div",
      { class: "card" },
      h(
        "dl",
        { class: "facts" },
        h("dt", {}, t("me.name")),
        h("dd", { dataset: { testid: "account-name" } }, acc.name || "—"),
        h("dt", {}, t("me.phone")),
        h("dd", {}, acc.phone || "—"),
        h("dt", {}, t("me.role")),
        h("dd", {}, label("role", acc.role)),
      ),
    ),
    h("section", { class: "card", "aria-labelledby": "passkey-title" }, h("h2", { id: "passkey-title" }, t("me.passkey_title")), passkeyBody, passkeyList),
    h(
      "section",
      { class: "card", "aria-labelledby": "push-title" },
      h("h2", { id: "push-title" }, t("me.push_title")),
      h("p", {}, t("me.push_explain")),
      h("div", { class: "field" }, h("label", { class: "check", for: "push-switch" }, pushToggle, t("me.push_switch"))),
      pushState,
    ),
    signOut,
  );
}
