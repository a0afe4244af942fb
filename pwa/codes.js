// National code lists (XB, MZ, GJ, ZJLX, XZQH, YZGX, ZZSY) from /api/codes.
// They change rarely, so each list is fetched once per page load and shared.

import { api } from "./api.js";

const cache = new Map();

/** @returns {Promise<Array<{code: string, label: string}>>} */
export function loadCodes(name) {
  if (!cache.has(name)) {
    const p = api(`/api/codes/${encodeURIComponent(name)}`).then((r) => (r && Array.isArray(r.codes) ? r.codes : []));
    // A failed load is not remembered: the next screen retries.
    p.catch(() => cache.delete(name));
    cache.set(name, p);
  }
  return cache.get(name);
}

/** Label for a code, or the code itself when the list is not (yet) known. */
export function codeLabel(list, code) {
  if (code == null || code === "") return "";
  const hit = (list || []).find((c) => c.code === code);
  return hit ? hit.label : String(code);
}
