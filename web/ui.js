// DOM and formatting helpers. Money arrives as decimal strings ("12.3456")
// and is rounded for display here, on the string, never through a float.

// h('p', {class: 'x'}, 'text', child...) builds an element. Attributes
// starting with "on" are event listeners; null/false children are skipped.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

// Rounds a decimal string half away from zero to `places` decimals.
export function roundDecimal(s, places = 2) {
  if (s === null || s === undefined || s === '') return null;
  let str = String(s).trim();
  const neg = str.startsWith('-');
  if (neg || str.startsWith('+')) str = str.slice(1);
  let [int, frac = ''] = str.split('.');
  int = int.replace(/^0+(?=\d)/, '') || '0';
  if (frac.length > places) {
    const up = frac.charCodeAt(places) >= 53; /* '5' */
    frac = frac.slice(0, places);
    if (up) {
      const digits = (int + frac).split('').map(Number);
      let i = digits.length - 1;
      while (i >= 0 && digits[i] === 9) digits[i--] = 0;
      if (i < 0) digits.unshift(1);
      else digits[i] += 1;
      const all = digits.join('');
      int = all.slice(0, all.length - places) || '0';
      frac = all.slice(all.length - places);
    }
  }
  frac = frac.padEnd(places, '0');
  const zero = /^0*$/.test(int + frac);
  return (neg && !zero ? '-' : '') + int + (places ? '.' + frac : '');
}

function group(int) {
  return int.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

// "$1,234.57" from "1234.5678"; "–" for null. places: decimals shown.
export function usd(s, places = 2) {
  const r = roundDecimal(s, places);
  if (r === null) return '–';
  const neg = r.startsWith('-');
  const [int, frac] = (neg ? r.slice(1) : r).split('.');
  return (neg ? '-$' : '$') + group(int) + (frac !== undefined ? '.' + frac : '');
}

// Unit costs are small: four decimals.
export const usdUnit = (s) => usd(s, 4);

// A money string as a number, for charts only (display, never arithmetic
// that is shown as money).
export const num = (s) => (s === null || s === undefined ? 0 : Number(s));

export function int(n) {
  return n === null || n === undefined ? '–' : group(String(n));
}

export function pct(n) {
  return n === null || n === undefined ? '–' : `${Number(n).toFixed(1)}%`;
}

// Adds decimal strings exactly (as scaled BigInts) and gives a string.
export function sumDecimal(values) {
  let scale = 0;
  for (const v of values) scale = Math.max(scale, (String(v ?? '0').split('.')[1] ?? '').length);
  let total = 0n;
  for (const v of values) {
    const s = String(v ?? '0');
    const neg = s.startsWith('-');
    const [i, f = ''] = (neg ? s.slice(1) : s).split('.');
    const n = BigInt(i || '0') * 10n ** BigInt(scale) + BigInt(f.padEnd(scale, '0') || '0');
    total += neg ? -n : n;
  }
  const neg = total < 0n;
  const digits = (neg ? -total : total).toString().padStart(scale + 1, '0');
  const out = scale ? `${digits.slice(0, -scale)}.${digits.slice(-scale)}` : digits;
  return (neg ? '-' : '') + out;
}

// A table: columns are {label, get(row) -> string|Node, num?: true}.
export function table(id, caption, columns, rows, empty = 'Nothing in this range.') {
  if (!rows.length) return h('p', { class: 'empty', id }, empty);
  return h(
    'table',
    { id },
    h('caption', { class: 'sr-only' }, caption),
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col', class: c.num ? 'num' : null }, c.label)))),
    h(
      'tbody',
      {},
      rows.map((r) => h('tr', {}, columns.map((c) => h('td', { class: c.num ? 'num' : null }, c.get(r)))))
    )
  );
}

export function section(title, id, ...children) {
  return h('section', { 'aria-labelledby': `${id}-h`, class: 'panel', id }, h('h2', { id: `${id}-h` }, title), ...children);
}

export function stateBadge(state) {
  const words = { ok: 'OK', warning: 'Warning', over: 'Over' };
  return h('span', { class: `badge state-${state}` }, words[state] ?? state ?? '–');
}

// A key that may be null ("none" in the reports).
export const keyName = (k) => (k === null || k === undefined ? '(none)' : String(k));
