// The dashboard's only way to the server: every call carries the read key
// from sessionStorage as a Bearer token; errors become ApiError with the
// server's JSON error (code, message, field) and the HTTP status.

const KEY_SLOT = 'tollgate.readKey';

export function getKey() {
  return sessionStorage.getItem(KEY_SLOT);
}

export function setKey(key) {
  sessionStorage.setItem(KEY_SLOT, key);
}

export function clearKey() {
  sessionStorage.removeItem(KEY_SLOT);
}

export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

// path plus the query built from params, skipping empty values.
export function url(path, params = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params))
    if (v !== undefined && v !== null && v !== '') q.set(k, v);
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

async function call(path, params, key) {
  const k = key ?? getKey();
  let res;
  try {
    res = await fetch(url(path, params), { headers: k ? { Authorization: `Bearer ${k}` } : {} });
  } catch (e) {
    throw new ApiError(0, 'unreachable', `The server did not answer (${e.message}).`);
  }
  if (!res.ok) {
    let err = {};
    try {
      err = (await res.json()).error ?? {};
    } catch {
      /* not JSON: status only */
    }
    throw new ApiError(res.status, err.code ?? 'http_' + res.status, err.message ?? `HTTP ${res.status}`, err.field);
  }
  return res;
}

// GET path as JSON. key overrides the stored key (used to check one at sign-in).
export async function getJson(path, params = {}, key) {
  return (await call(path, params, key)).json();
}

// Downloads path (with the key: a plain link cannot send the header) as
// filename, through a Blob and a temporary object URL.
export async function download(path, params, filename) {
  const blob = await (await call(path, params)).blob();
  const href = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = href;
  a.download = filename;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(href), 10000);
}
