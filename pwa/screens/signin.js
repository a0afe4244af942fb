// /signin — phone + SMS code, or a passkey. After sign-in: ?next= or "/",
// except accounts that must enrol a passkey first, who go to /me.

import { api, isAbort } from "../api.js";
import { h, replace, errorBanner, notice, busy } from "../dom.js";
import { t } from "../i18n.js";
import { navigate, safeNext } from "../router.js";
import * as session from "../session.js";
import { getPasskey, isSupported, isCancelled } from "../webauthn.js";

export const PHONE_RE = /^1[3-9]\d{9}$/;
const CODE_RE = /^\d{6}$/;
const RESEND_SECONDS = 60;

export function render({ query }) {
  const next = safeNext(query.get("next"));
  const status = h("div", { class: "status-area", "aria-live": "polite" });

  const phone = h("input", {
    id: "phone",
    name: "phone",
    type: "tel",
    inputmode: "numeric",
    autocomplete: "tel-national",
    maxlength: "11",
    required: true,
    "aria-describedby": "phone-hint",
  });
  const code = h("input", {
    id: "code",
    name: "code",
    type: "text",
    inputmode: "numeric",
    autocomplete: "one-time-code",
    maxlength: "6",
    required: true,
    "aria-describedby": "code-hint",
  });
  const sendBtn = h("button", { type: "button", class: "btn btn-secondary", dataset: { testid: "send-code" } }, t("signin.send_code"));
  const signInBtn = h("button", { type: "submit", class: "btn btn-primary btn-block", dataset: { testid: "sign-in" } }, t("signin.sign_in"));
  const codeHint = h("p", { id: "code-hint", class: "hint" }, t("signin.code_hint"));

  let timer = null;
  function cooldown(seconds) {
    clearInterval(timer);
    let left = seconds;
    const tick = () => {
      if (!sendBtn.isConnected || left <= 0) {
        clearInterval(timer);
        sendBtn.disabled = false;
        sendBtn.textContent = t("signin.resend_code");
        return;
      }
      sendBtn.disabled = true;
      sendBtn.textContent = t("signin.resend_in", { seconds: left });
      left -= 1;
    };
    tick();
    timer = setInterval(tick, 1000);
  }

  function show(...nodes) {
    replace(status, ...nodes);
  }

  sendBtn.addEventListener("click", () =>
    busy(sendBtn, async () => {
      const value = phone.value.trim();
      if (!PHONE_RE.test(value)) {
        show(errorBanner(t("validation.phone")));
        phone.setAttribute("aria-invalid", "true");
        phone.focus();
        return;
      }
      phone.removeAttribute("aria-invalid");
      try {
        const res = await api("/api/auth/code", { body: { phone: value }, auth: false });
        const minutes = Math.max(1, Math.round((res?.expires_in ?? 300) / 60));
        show(notice(t("signin.code_sent", { minutes })));
        code.focus();
        // busy() re-enables the button when this returns: start the cooldown after that.
        setTimeout(() => cooldown(RESEND_SECONDS), 0);
      } catch (err) {
        if (!isAbort(err)) show(errorBanner(err));
      }
    }),
  );

  async function finish(pair) {
    session.setTokens(pair);
    if (session.needsPasskey(pair.account)) {
      navigate(`/me?next=${encodeURIComponent(next)}`, { replace: true });
    } else {
      navigate(next, { replace: true });
    }
  }

  const form = h(
    "form",
    {
      class: "card form",
      novalidate: true,
      onsubmit: (e) => {
        e.preventDefault();
        busy(signInBtn, async () => {
          const p = phone.value.trim();
          const c = code.value.trim();
          if (!PHONE_RE.test(p)) {
            show(errorBanner(t("validation.phone")));
            phone.focus();
            return;
          }
          if (!CODE_RE.test(c)) {
            show(errorBanner(t("validation.sms_code")));
            code.focus();
            return;
          }
          try {
            await finish(await api("/api/auth/token", { body: { phone: p, code: c }, auth: false }));
          } catch (err) {
            if (err && err.code === "passkey_required") {
              // Police and admins with a passkey: the code alone is not enough.
              show(notice(t("signin.use_passkey")));
              passkeyBtn.focus();
            } else if (!isAbort(err)) show(errorBanner(err));
          }
        });
      },
    },
    h(
      "div",
      { class: "field" },
      h("label", { for: "phone" }, t("signin.phone")),
      h("div", { class: "input-row" }, phone, sendBtn),
      h("p", { id: "phone-hint", class: "hint" }, t("signin.phone_hint")),
    ),
    h("div", { class: "field" }, h("label", { for: "code" }, t("signin.code")), code, codeHint),
    signInBtn,
  );

  const passkeyBtn = h("button", { type: "button", class: "btn btn-outline btn-block", dataset: { testid: "passkey-sign-in" } }, t("signin.passkey"));
  passkeyBtn.addEventListener("click", () =>
    busy(passkeyBtn, async () => {
      if (!isSupported()) {
        show(errorBanner(t("passkey.unsupported")));
        return;
      }
      try {
        const { ticket, options } = await api("/api/auth/passkeys/authentication-options", { method: "POST", auth: false });
        const credential = await getPasskey(options);
        await finish(await api("/api/auth/passkeys/authenticate", { body: { ticket, credential }, auth: false }));
      } catch (err) {
        if (isCancelled(err)) show(notice(t("passkey.cancelled")));
        else if (!isAbort(err)) show(errorBanner(err));
      }
    }),
  );

  return h(
    "section",
    { class: "screen screen-narrow" },
    h("h1", {}, t("signin.title")),
    session.isSignedIn() && session.account()
      ? notice(t("signin.already", { name: session.account().name }))
      : null,
    status,
    form,
    h("div", { class: "divider", role: "separator" }, h("span", {}, t("signin.or"))),
    h("div", { class: "card" }, passkeyBtn, h("p", { class: "hint" }, t("signin.passkey_hint"))),
  );
}
