// Browser-side format check of a resident ID (GB 11643) or a union card number (Luhn).
// The server checks again; this is only for instant feedback. Never echo the number.

const ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECK = '10X98765432';

export function normalizeNumber(raw) {
  return String(raw || '').replace(/[\s-]/g, '').toUpperCase();
}

function idCheckDigit(first17) {
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += Number(first17[i]) * ID_WEIGHTS[i];
  return ID_CHECK[sum % 11];
}

function validDate(yyyymmdd) {
  const y = Number(yyyymmdd.slice(0, 4));
  const m = Number(yyyymmdd.slice(4, 6));
  const d = Number(yyyymmdd.slice(6, 8));
  if (y < 1900 || m < 1 || m > 12 || d < 1) return false;
  const date = new Date(Date.UTC(y, m - 1, d));
  if (date.getUTCFullYear() !== y || date.getUTCMonth() !== m - 1 || date.getUTCDate() !== d) return false;
  return date.getTime() <= Date.now();
}

export function luhnOk(digits) {
  let sum = 0;
  let dbl = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let n = digits.charCodeAt(i) - 48;
    if (dbl) { n *= 2; if (n > 9) n -= 9; }
    sum += n;
    dbl = !dbl;
  }
  return sum % 10 === 0;
}

/**
 * @returns {{ok: boolean, kind?: 'id'|'card', reason?: 'empty'|'bad_characters'|'bad_length'|'bad_checksum'|'bad_date', partial?: boolean}}
 * `partial` is true when the input could still become valid by typing more.
 */
export function checkNumber(raw) {
  const n = normalizeNumber(raw);
  if (!n) return { ok: false, reason: 'empty', partial: true };
  if (!/^[0-9]*X?$/.test(n)) return { ok: false, reason: 'bad_characters' };
  const hasX = n.charAt(n.length - 1) === 'X';
  if (hasX && n.length !== 18) return { ok: false, reason: n.length < 18 ? 'bad_characters' : 'bad_length' };
  if (n.length === 18) {
    const idOk = validDate(n.slice(6, 14)) && idCheckDigit(n.slice(0, 17)) === n[17];
    if (idOk) return { ok: true, kind: 'id' };
    if (!hasX && luhnOk(n)) return { ok: true, kind: 'card' };
    if (!validDate(n.slice(6, 14))) return { ok: false, reason: 'bad_date', partial: !hasX };
    return { ok: false, reason: 'bad_checksum', partial: !hasX };
  }
  if (n.length >= 16 && n.length <= 19) {
    if (luhnOk(n)) return { ok: true, kind: 'card' };
    return { ok: false, reason: 'bad_checksum', partial: n.length < 19 };
  }
  if (n.length < 16) return { ok: false, reason: 'bad_length', partial: true };
  return { ok: false, reason: 'bad_length' };
}
