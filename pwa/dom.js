// Small DOM helpers. Screens build nodes with h(); server data only ever
// becomes text nodes or attribute values, never markup (no innerHTML).

import { t, errorMessage } from "./i18n.js";

/**
 * h("button", {class: "btn", type: "button", onclick: fn, dataset: {testid: "x"}}, "text", child)
 * - strings and numbers become text nodes; null/undefined/false are skipped; arrays are flattened
 * - on* functions become event listeners; booleans set or omit the attribute
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value == null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (key === "class") {
      el.className = Array.isArray(value) ? value.filter(Boolean).join(" ") : value;
    } else if (key === "value" || key === "checked" || key === "selected") {
      el[key] = value; // properties, so a later user edit is not fought by the attribute
    } else if (value === true) {
      el.setAttribute(key, "");
    } else {
      el.setAttribute(key, String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child == null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.append(child);
    else el.append(document.createTextNode(String(child)));
  }
}

/** Remove all children and add the given ones. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** An in-app link handled by the router. */
export function link(href, props, ...children) {
  return h("a", { ...props, href, "data-link": true }, ...children);
}

/**
 * The error banner (stable hook for tests: [data-testid=error]) for an
 * ApiError, any other error, or a ready message.
 */
export function errorBanner(errOrText) {
  const text = typeof errOrText === "string" ? errOrText : errorMessage(errOrText);
  return h("div", { class: "banner banner-error", role: "alert", dataset: { testid: "error" } }, text);
}

export function notice(text, kind = "info") {
  return h("div", { class: `banner banner-${kind}`, role: "status" }, text);
}

export function loading() {
  return h("p", { class: "loading", role: "status", "aria-live": "polite" }, t("common.loading"));
}

/**
 * Only http(s) URLs or same-origin paths are used as link targets: a service
 * URL from the server must never become a javascript: link.
 */
export function safeUrl(url) {
  if (typeof url !== "string" || !url) return null;
  try {
    const u = new URL(url, location.origin);
    return u.protocol === "https:" || u.protocol === "http:" ? u.href : null;
  } catch {
    return null;
  }
}

/**
 * Ask for the reason that goes on the record (the server requires one).
 * window.prompt: native, accessible and scriptable. null = cancelled.
 */
export function askReason(question, status) {
  const answer = window.prompt(question);
  if (answer === null) return null;
  if (!answer.trim()) {
    replace(status, errorBanner(t("validation.reason_required")));
    return null;
  }
  return answer.trim();
}

/** A phone number: a tel: link when it is a whole number, plain text when masked (133****0038). */
export function phoneLink(phone) {
  return /^\+?\d{5,}$/.test(phone) ? h("a", { href: `tel:${phone}` }, phone) : h("span", {}, phone);
}

/** Run an async action from a button: disabled while busy, so no double submits. */
export async function busy(button, fn) {
  if (button.disabled) return;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    return await fn();
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}
