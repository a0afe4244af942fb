// Citizen ID numbers (公民身份号码, GB 11643-1999): 6-digit region code,
// 8-digit birth date, 3-digit sequence (odd = male), 1 check character.
// Checked in the browser so a typo is caught before anything is sent, and
// decoded to pre-fill birth date, gender and hukou region. Pure functions:
// also importable from Node for tests.

const WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK = "10X98765432";

/** The check character for the first 17 digits. */
export function checkDigit(first17) {
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += Number(first17[i]) * WEIGHTS[i];
  return CHECK[sum % 11];
}

/** Upper-case, trimmed, inner spaces removed (people type "x" and spaces). */
export function normalize(value) {
  return String(value ?? "").replace(/\s+/g, "").toUpperCase();
}

/**
 * Validate and decode an 18-character ID number.
 * @param {string} value
 * @param {Date} [today] for tests; birth dates after today are invalid
 * @returns {{valid: true, birthDate: string, gender: "1"|"2", region: string} |
 *           {valid: false, reason: "format"|"birth_date"|"check_digit"}}
 */
export function parseIdNumber(value, today = new Date()) {
  const id = normalize(value);
  if (!/^\d{17}[\dX]$/.test(id)) return { valid: false, reason: "format" };

  const y = Number(id.slice(6, 10));
  const m = Number(id.slice(10, 12));
  const d = Number(id.slice(12, 14));
  const date = new Date(Date.UTC(y, m - 1, d));
  const real = date.getUTCFullYear() === y && date.getUTCMonth() === m - 1 && date.getUTCDate() === d;
  const todayUtc = Date.UTC(today.getFullYear(), today.getMonth(), today.getDate());
  if (!real || y < 1900 || date.getTime() > todayUtc) return { valid: false, reason: "birth_date" };

  if (checkDigit(id) !== id[17]) return { valid: false, reason: "check_digit" };

  return {
    valid: true,
    birthDate: id.slice(6, 10) + "-" + id.slice(10, 12) + "-" + id.slice(12, 14),
    // XB codes: 1 男, 2 女 — the 17th digit is odd for men.
    gender: Number(id[16]) % 2 === 1 ? "1" : "2",
    region: id.slice(0, 6),
  };
}

export function isValidIdNumber(value, today) {
  return parseIdNumber(value, today).valid;
}
