#!/usr/bin/env node
// Exports the open price catalog of @pydantic/genai-prices (npm, MIT) to
// Tollgate's catalog file (format: prices/README.md).
//
//   npm ci && node scripts/prices-export.mjs prices/genai-prices.json
//
// With no path it writes to stdout. What could not be expressed exactly is
// listed on stderr, and the run fails (exit 1) if a check below fails: an
// untranslatable match rule is only reported (that model is skipped), but a
// translated rule that disagrees with the package's own matcher, an alias
// that does not land on its provider, or a malformed catalog is fatal.
//
// Money never goes through a float here: the package's prices are JS
// numbers, and String(n) is the shortest text that round-trips to the same
// double, which for every price in the package is its decimal as written
// (e.g. 0.003625). Values with more than 6 decimals would not be a whole
// number of pico-dollars per token: such a model is skipped and reported.

import { findProvider, waitForUpdate } from '@pydantic/genai-prices';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const FORMAT = 'tollgate-catalog/1';

// Mode multipliers the package does not carry (FORMATS.md, "Pricing facts"):
// batch is 0.5x on every token class at OpenAI, Anthropic and Gemini; flex is
// 0.5x at OpenAI and Gemini; Gemini priority is 1.8x. Others: not offered.
const MODES = {
  anthropic: { batch: '0.5' },
  google: { batch: '0.5', flex: '0.5', priority: '1.8' },
  openai: { batch: '0.5', flex: '0.5' },
};

// Our own provider strings per provider, on top of the package's
// provider_match (FORMATS.md, "Provider strings vary"; the OTel GenAI
// well-known gen_ai.provider.name values and common gateway spellings).
const ALIASES = {
  aws: ['aws.bedrock', 'bedrock', 'aws_bedrock', 'amazon_bedrock'],
  azure: ['azure', 'azure.ai.openai', 'azure.ai.inference', 'azure_ai', 'azure_openai'],
  google: ['google', 'gcp.gemini', 'gcp.vertex_ai', 'gcp.gen_ai', 'vertex_ai', 'gemini'],
  mistral: ['mistral_ai', 'mistralai'],
  'x-ai': ['x_ai', 'xai'],
};

// Provider ids the package 0.1.x is known to hold: used only if
// waitForUpdate() stops returning the bundled list.
const KNOWN_IDS = ('anthropic arcee avian aws azure baseten cerebras cloudflare cohere cursor ' +
  'deepseek doubleword fireworks github-copilot google groq huggingface_cerebras ' +
  'huggingface_fireworks-ai huggingface_groq huggingface_hyperbolic huggingface_nebius ' +
  'huggingface_novita huggingface_nscale huggingface_ovhcloud huggingface_publicai ' +
  'huggingface_sambanova huggingface_together minimax mistral modal moonshotai novita openai ' +
  'openrouter ovhcloud perplexity quicksilverpro together typesafe voyageai x-ai zai zhipuai').split(' ');

// Token price keys we map; every other key is a non-token unit or a token
// class our normalized record does not have (audio, image, video, ...).
const CLASS_KEYS = [
  ['input_mtok', 'input'],
  ['cache_read_mtok', 'cache_read'],
  ['cache_write_mtok', 'cache_write_5m'],
  ['cache_write_1h_mtok', 'cache_write_1h'],
  ['output_mtok', 'output'],
];
const TOKEN_KEYS = new Set(CLASS_KEYS.map(([k]) => k));

const report = { skippedModels: [], untranslatable: [], timeOfDay: [], ignoredKeys: new Map(),
  reasoningAtOutput: [], outputZero: [], free: [], write1hFrom5m: 0, fallbackCopies: 0,
  fallbackShadowed: [] };
let fatal = 0;

function fail(msg) {
  console.error(`FATAL: ${msg}`);
  fatal++;
}

class Untranslatable extends Error {}

// ---- exact decimals --------------------------------------------------------

// The decimal text of a non-negative JS number with at most maxFrac
// decimals, or null. String(n) may use an exponent ("1e-7"): expand it.
function decimal(n, maxFrac) {
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) return null;
  let s = String(n);
  const m = /^(\d+)(?:\.(\d+))?(?:e([+-]\d+))?$/.exec(s);
  if (!m) return null;
  let [, int, frac = '', exp = '0'] = m;
  let e = Number(exp);
  let digits = int + frac;
  let point = int.length + e; // position of the decimal point in digits
  if (point <= 0) { digits = '0'.repeat(1 - point) + digits; point = 1; }
  if (point > digits.length) digits += '0'.repeat(point - digits.length);
  int = digits.slice(0, point).replace(/^0+(?=\d)/, '');
  frac = digits.slice(point).replace(/0+$/, '');
  if (frac.length > maxFrac) return null;
  s = frac ? `${int}.${frac}` : int;
  // The text must denote the same double: a guard against any surprise.
  if (Number(s) !== n) return null;
  return s;
}

// ---- match rules: JS regex to POSIX ERE ---------------------------------------

const ERE_SPECIAL = new Set([...'.[]()*+?{}|^$\\']);
const CLASS_ESC = { d: '0-9', w: 'A-Za-z0-9_', s: '[:space:]' };

// Translates a bracket expression starting at src[i] === '['; returns [text, next index].
function bracket(src, i) {
  let j = i + 1;
  let neg = false;
  if (src[j] === '^') { neg = true; j++; }
  const items = [];
  let dash = false;
  for (; j < src.length && src[j] !== ']'; j++) {
    let c = src[j];
    let escaped = false;
    if (c === '\\') {
      const e = src[++j];
      if (CLASS_ESC[e]) { items.push(CLASS_ESC[e]); continue; }
      if (e === undefined || /[A-Za-z0-9]/.test(e)) throw new Untranslatable(`\\${e} in a class`);
      c = e;
      escaped = true;
    } else if (c === '[') {
      throw new Untranslatable('[ inside a class');
    }
    if (c === '-' && (escaped || items.length === 0 || src[j + 1] === ']')) { dash = true; continue; }
    if (c === '-') {
      // a range: the previous item and the next character
      const prev = items.pop();
      let hi = src[++j];
      if (hi === '\\') hi = src[++j];
      if (!prev || prev.length !== 1 || !hi || /[\]\\]/.test(hi)) throw new Untranslatable('odd range');
      items.push(`${prev}-${hi}`);
      continue;
    }
    if (c === ']' || c === '^' || c === '\\') throw new Untranslatable(`${c} in a class`);
    items.push(c);
  }
  if (src[j] !== ']' || items.length + dash === 0) throw new Untranslatable('unclosed class');
  return [`[${neg ? '^' : ''}${items.join('')}${dash ? '-' : ''}]`, j + 1];
}

// A JS regex (no flags) as POSIX ERE, or throws Untranslatable. Only
// constructs that mean the same in both are emitted; anything else
// (lookarounds, backreferences, lazy quantifiers, \b, named groups) throws.
function toEre(src) {
  let out = '';
  let depth = 0;
  let canQuantify = false;
  for (let i = 0; i < src.length;) {
    const c = src[i];
    if (c === '\\') {
      const e = src[i + 1];
      if (e === undefined) throw new Untranslatable('trailing backslash');
      if (CLASS_ESC[e]) out += `[${CLASS_ESC[e]}]`;
      else if (CLASS_ESC[e.toLowerCase()] && e !== e.toLowerCase()) out += `[^${CLASS_ESC[e.toLowerCase()]}]`;
      else if (ERE_SPECIAL.has(e)) out += `\\${e}`;
      else if (/[A-Za-z0-9]/.test(e)) throw new Untranslatable(`\\${e}`);
      else out += e; // an escaped harmless punctuation character: itself
      i += 2;
      canQuantify = true;
    } else if (c === '[') {
      const [text, next] = bracket(src, i);
      out += text;
      i = next;
      canQuantify = true;
    } else if (c === '(') {
      if (src[i + 1] === '?') {
        if (src[i + 2] !== ':') throw new Untranslatable(`(?${src[i + 2]} group`);
        i += 3;
      } else {
        i += 1;
      }
      out += '(';
      depth++;
      canQuantify = false;
    } else if (c === ')') {
      if (--depth < 0) throw new Untranslatable('unbalanced )');
      out += ')';
      i++;
      canQuantify = true;
    } else if (c === '*' || c === '+' || c === '?' || c === '{') {
      let q = c;
      if (c === '{') {
        const m = /^\{(\d+)(,(\d*))?\}/.exec(src.slice(i));
        if (!m) throw new Untranslatable('{ that is not a quantifier');
        q = m[0];
      }
      if (!canQuantify) throw new Untranslatable(`quantifier ${q} with nothing to repeat`);
      i += q.length;
      if (src[i] === '?' || src[i] === '+') throw new Untranslatable('lazy or possessive quantifier');
      out += q;
      canQuantify = false;
    } else if (c === '}' || c === ']') {
      throw new Untranslatable(`bare ${c}`);
    } else if (c === '|' || c === '^' || c === '$') {
      out += c;
      i++;
      canQuantify = false;
    } else {
      out += c;
      i++;
      canQuantify = true;
    }
  }
  if (depth !== 0) throw new Untranslatable('unbalanced (');
  if (out === '') throw new Untranslatable('empty');
  return out;
}

// The index just past the group that opens at src[i] === '('.
function groupEnd(src, i) {
  let depth = 0;
  for (let j = i; j < src.length; j++) {
    const c = src[j];
    if (c === '\\') { j++; continue; }
    if (c === '[') { j = bracket(src, j)[1] - 1; continue; }
    if (c === '(') depth++;
    if (c === ')' && --depth === 0) return j + 1;
  }
  throw new Untranslatable('unbalanced (');
}

// A regex rule as our rule: "^(?!X)Y" becomes
// {"and": [{"not": {"regex": "^X"}}, {"regex": "^Y"}]} (or just the "not"
// when Y is empty); any other lookaround is untranslatable.
function regexRule(src) {
  if (src.startsWith('^(?!')) {
    const end = groupEnd(src, 1);
    const body = src.slice(4, end - 1);
    const rest = src.slice(end);
    const not = { not: { regex: toEre(`^${body}`) } };
    return rest === '' ? not : { and: [not, { regex: toEre(`^${rest}`) }] };
  }
  return { regex: toEre(src) };
}

const STRING_RULES = ['equals', 'starts_with', 'ends_with', 'contains'];

function translateRule(r) {
  const keys = Object.keys(r);
  if (keys.length !== 1) throw new Untranslatable(`rule with members ${keys.join(',')}`);
  const [k] = keys;
  if (STRING_RULES.includes(k)) {
    if (typeof r[k] !== 'string') throw new Untranslatable(`${k} without a string`);
    return { [k]: r[k] };
  }
  if (k === 'regex') return regexRule(r.regex);
  if (k === 'or' || k === 'and') {
    if (!Array.isArray(r[k]) || r[k].length === 0) throw new Untranslatable(`empty ${k}`);
    return { [k]: r[k].map(translateRule) };
  }
  if (k === 'not') return { not: translateRule(r.not) };
  throw new Untranslatable(`unknown rule ${k}`);
}

// ---- matching in JS, both ways, to check the translation ---------------------

// The package's own semantics: string rules ignore case; a regex is tested
// as written against the model string, which the package lower-cases first.
function pkgMatch(r, s) {
  const low = s.toLowerCase();
  if ('or' in r) return r.or.some((x) => pkgMatch(x, s));
  if ('and' in r) return r.and.every((x) => pkgMatch(x, s));
  if ('equals' in r) return low === r.equals.toLowerCase();
  if ('starts_with' in r) return low.startsWith(r.starts_with.toLowerCase());
  if ('ends_with' in r) return low.endsWith(r.ends_with.toLowerCase());
  if ('contains' in r) return low.includes(r.contains.toLowerCase());
  if ('regex' in r) return new RegExp(r.regex).test(low);
  return false;
}

// Ours, as pricing.c does it: ASCII case folding; the ERE with REG_ICASE
// (evaluated here as a JS regex with the i flag: the ERE we emit means the
// same in JS once [:space:] is spelled \s).
const ereCache = new Map();
function ourMatch(r, s) {
  const low = s.toLowerCase();
  if ('or' in r) return r.or.some((x) => ourMatch(x, s));
  if ('and' in r) return r.and.every((x) => ourMatch(x, s));
  if ('not' in r) return !ourMatch(r.not, s);
  if ('equals' in r) return low === r.equals.toLowerCase();
  if ('starts_with' in r) return low.startsWith(r.starts_with.toLowerCase());
  if ('ends_with' in r) return low.endsWith(r.ends_with.toLowerCase());
  if ('contains' in r) return low.includes(r.contains.toLowerCase());
  if ('regex' in r) {
    if (!ereCache.has(r.regex)) ereCache.set(r.regex, new RegExp(r.regex.replaceAll('[:space:]', '\\s'), 'i'));
    return ereCache.get(r.regex).test(s);
  }
  return false;
}

function hasRegex(r) {
  if ('regex' in r) return true;
  for (const k of ['or', 'and']) if (k in r) return r[k].some(hasRegex);
  return false;
}

function ruleStrings(r, out) {
  for (const k of STRING_RULES) if (k in r) out.add(r[k]);
  for (const k of ['or', 'and']) if (k in r) r[k].forEach((x) => ruleStrings(x, out));
  return out;
}

// ---- prices --------------------------------------------------------------------

// One package price object (one date) as our rows: a base row and one row
// per tier threshold. A package tier {start, price} applies when the
// prompt has MORE than start tokens (calcPrice: tokens > start), so its row
// has min_prompt_tokens = start + 1. Returns null (with the reason in why)
// when the model cannot be expressed.
function rowsOf(prices, where, why) {
  const classes = {};
  let tokenKeys = 0;
  let otherKeys = 0;
  for (const [k, v] of Object.entries(prices)) {
    if (v === undefined) continue;
    if (!TOKEN_KEYS.has(k)) {
      otherKeys++;
      report.ignoredKeys.set(k, (report.ignoredKeys.get(k) ?? 0) + 1);
      if (k === 'output_reasoning_mtok') report.reasoningAtOutput.push(where);
      continue;
    }
    tokenKeys++;
    classes[k] = typeof v === 'number' ? { base: v, tiers: [] } : { base: v.base, tiers: [...v.tiers] };
  }
  if (tokenKeys === 0 && otherKeys > 0) { why.push('no token prices (only other units)'); return null; }
  if (tokenKeys === 0) {
    report.free.push(where); // the package prices it at 0: a free model
    return [{ min_prompt_tokens: 0, input: '0', output: '0' }];
  }
  if (!classes.input_mtok) { why.push('no input price'); return null; }
  if (!classes.output_mtok) {
    report.outputZero.push(where); // embeddings and the like: output costs nothing
    classes.output_mtok = { base: 0, tiers: [] };
  }
  // The package bills 1h cache writes as cache writes when it has no 1h price.
  if (classes.cache_write_mtok && !classes.cache_write_1h_mtok) {
    classes.cache_write_1h_mtok = classes.cache_write_mtok;
    report.write1hFrom5m++;
  }
  const starts = new Set();
  for (const c of Object.values(classes)) {
    for (const t of c.tiers) {
      if (!Number.isSafeInteger(t.start) || t.start < 0) { why.push(`tier start ${t.start}`); return null; }
      starts.add(t.start);
    }
  }
  const thresholds = [-1, ...[...starts].sort((a, b) => a - b)];
  const rows = [];
  for (const th of thresholds) {
    const row = { min_prompt_tokens: th + 1 };
    for (const [key, name] of CLASS_KEYS) {
      const c = classes[key];
      if (!c) continue;
      let price = c.base;
      for (const t of [...c.tiers].sort((a, b) => a.start - b.start)) if (t.start <= th) price = t.price;
      const text = decimal(price, 6);
      if (text === null) { why.push(`${key} ${price} is not exact to 6 decimals`); return null; }
      row[name] = text;
    }
    rows.push(row);
  }
  return rows;
}

// All rows of a model: dated entries (start_date) become effective_from;
// time-of-day entries cannot be expressed and are dropped (the other rows
// then apply at every hour). The package uses its first entry for times
// before every start date, so the first kept entry has no effective_from.
function modelRows(providerId, m, why) {
  const where = `${providerId}/${m.id}`;
  const entries = Array.isArray(m.prices) ? m.prices : [{ prices: m.prices }];
  const out = [];
  let last = null;
  entries.forEach((entry, i) => {
    const c = entry.constraint;
    let from = null;
    if (c && (c.type === 'time_of_date' || ('start_time' in c && !('start_date' in c)))) {
      report.timeOfDay.push(`${where} [${i}] ${c.start_time}-${c.end_time}`);
      return;
    }
    if (c) {
      if (!/^\d{4}-\d{2}-\d{2}$/.test(c.start_date ?? '')) { why.push(`constraint ${JSON.stringify(c)}`); return; }
      if (out.length > 0) from = c.start_date;
    } else if (out.length > 0) {
      why.push('an undated entry after the first');
      return;
    }
    if (from !== null && last !== null && from <= last) { why.push(`start dates out of order at ${from}`); return; }
    const rows = rowsOf(entry.prices, where, why);
    if (rows === null) return;
    for (const r of rows) out.push(from === null ? r : { effective_from: from, ...r });
    if (from !== null) last = from;
  });
  return why.length ? null : out;
}

// ---- export --------------------------------------------------------------------

function packageVersion() {
  const entry = fileURLToPath(import.meta.resolve('@pydantic/genai-prices'));
  let dir = dirname(entry);
  for (let k = 0; k < 4; k++, dir = dirname(dir)) {
    try {
      const pj = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
      if (pj.name === '@pydantic/genai-prices') return pj.version;
    } catch { /* keep looking up */ }
  }
  throw new Error('cannot find the package.json of @pydantic/genai-prices');
}

// Every provider of the package. The package exports no list, but
// waitForUpdate() resolves to the provider data in use, which is the
// bundled snapshot as long as updatePrices() was never called (we never
// call it: no network). Each id is checked with findProvider({providerId}).
async function allProviders() {
  let list = await waitForUpdate();
  if (!Array.isArray(list) || list.length === 0) {
    console.error('waitForUpdate() gave no list: trying the known provider ids');
    list = KNOWN_IDS.map((id) => findProvider({ providerId: id })).filter(Boolean);
  }
  for (const p of list) {
    const found = findProvider({ providerId: p.id });
    if (!found || found.id !== p.id) fail(`findProvider({providerId: ${p.id}}) does not find it`);
  }
  const missing = KNOWN_IDS.filter((id) => !list.some((p) => p.id === id));
  if (missing.length) console.error(`note: known ids no longer in the package: ${missing.join(' ')}`);
  return list;
}

function providerMatch(p) {
  const rules = [{ equals: p.id }];
  if (p.provider_match) rules.push(translateRule(p.provider_match));
  for (const a of ALIASES[p.id] ?? []) if (a !== p.id) rules.push({ equals: a });
  return rules.length === 1 ? rules[0] : { or: rules };
}

function exportModel(providerId, m, probes) {
  const where = `${providerId}/${m.id}`;
  let match;
  try {
    match = translateRule(m.match);
  } catch (e) {
    if (!(e instanceof Untranslatable)) throw e;
    report.untranslatable.push(`${where}: ${JSON.stringify(m.match)} (${e.message})`);
    report.skippedModels.push(`${where}: match rule cannot be expressed`);
    return null;
  }
  if (hasRegex(m.match)) {
    for (const s of probes) {
      if (pkgMatch(m.match, s) !== ourMatch(match, s)) {
        fail(`${where}: translated rule disagrees with the package on "${s}"`);
        break;
      }
    }
  }
  const why = [];
  const prices = modelRows(providerId, m, why);
  if (prices === null) {
    report.skippedModels.push(`${where}: ${[...new Set(why)].join('; ')}`);
    return null;
  }
  if (m.id.length > 200) { report.skippedModels.push(`${where}: id longer than 200 bytes`); return null; }
  return { id: m.id, match, prices };
}

// Strings to check translated rules against: every id and literal of every
// rule, with suffixes that the rules' regexes care about.
function probeStrings(providers) {
  const base = new Set();
  for (const p of providers) {
    for (const m of p.models) { base.add(m.id); ruleStrings(m.match, base); }
    if (p.model_match) ruleStrings(p.model_match, base);
  }
  const out = new Set();
  const suffixes = ['', '-tts', '-TTS', '-preview-tts', '-tts-001', 'tts', '-20241022', '-2024-08-06',
    '-001', ':free', '[fast=true]', '[fast=false]', '/x', '-12345678', '-1234567'];
  for (const s of base) for (const x of suffixes) out.add(s + x);
  for (const s of ['gpt-4o', 'o1', 'o3-mini', 'o4', 'gemini-2.5-pro-preview-tts', 'gemini-2.5-pro-tts',
    'gemini-2.5-pro-ttsx', 'grok-4.3-20260101', 'composer-2.5[fast=true]', 'labs-mistral-small',
    'openai/mistral-large', 'mistral-large', 'codestral-latest', 'open-mixtral-8x7b']) out.add(s);
  return [...out];
}

function checkAliases(out) {
  // As catalog_resolve does: the provider whose id it is, else the first
  // whose rule accepts the string.
  const resolve = (s) => out.find((p) => p.id === s.toLowerCase()) ?? out.find((p) => ourMatch(p.match, s));
  for (const [id, aliases] of Object.entries(ALIASES)) {
    for (const a of [id, ...aliases, ...aliases.map((x) => x.toUpperCase())]) {
      const got = resolve(a);
      if (!got || got.id !== id) fail(`provider string "${a}" resolves to ${got ? got.id : 'nothing'}, not ${id}`);
    }
  }
  for (const [s, id] of [['OpenAI', 'openai'], ['openai', 'openai'], ['anthropic', 'anthropic'],
    ['Anthropic', 'anthropic'], ['vertex', 'google']]) {
    const got = resolve(s);
    if (!got || got.id !== id) fail(`provider string "${s}" resolves to ${got ? got.id : 'nothing'}, not ${id}`);
  }
}

function serialize(doc) {
  const lines = ['{'];
  lines.push(`  "format": ${JSON.stringify(doc.format)},`);
  lines.push(`  "source": ${JSON.stringify(doc.source)},`);
  lines.push('  "providers": [');
  doc.providers.forEach((p, i) => {
    const head = { id: p.id, match: p.match };
    if (p.model_match) head.model_match = p.model_match;
    if (p.modes) head.modes = p.modes;
    const h = JSON.stringify(head);
    lines.push(`    ${h.slice(0, -1)},"models":[`);
    p.models.forEach((m, j) => lines.push(`      ${JSON.stringify(m)}${j + 1 < p.models.length ? ',' : ''}`));
    lines.push(`    ]}${i + 1 < doc.providers.length ? ',' : ''}`);
  });
  lines.push('  ]');
  lines.push('}');
  return `${lines.join('\n')}\n`;
}

async function main() {
  const outPath = process.argv[2];
  const version = packageVersion();
  const providers = [...(await allProviders())].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const byId = new Map(providers.map((p) => [p.id, p]));
  const probes = probeStrings(providers);

  // Each provider's own models, exported once.
  const own = new Map();
  for (const p of providers) {
    own.set(p.id, p.models.map((m) => exportModel(p.id, m, probes)).filter(Boolean));
  }

  const out = [];
  for (const p of providers) {
    if (!/^[a-z0-9][a-z0-9._-]*$/.test(p.id)) { fail(`provider id ${p.id} does not fit the prices table`); continue; }
    let match;
    let modelMatch;
    try {
      match = providerMatch(p);
      if (p.model_match) modelMatch = translateRule(p.model_match);
    } catch (e) {
      if (!(e instanceof Untranslatable)) throw e;
      report.untranslatable.push(`${p.id} (provider rules): ${e.message}`);
      if (!match) { fail(`${p.id}: provider rule cannot be expressed`); continue; }
    }
    if (modelMatch && hasRegex(p.model_match)) {
      for (const s of probes) {
        if (pkgMatch(p.model_match, s) !== ourMatch(modelMatch, s)) {
          fail(`${p.id}: translated model_match disagrees with the package on "${s}"`);
          break;
        }
      }
    }
    const modes = MODES[p.id];
    const models = [...own.get(p.id)];
    // fallback_model_providers: the package looks a model up in these
    // providers too (one level). We copy their models after the provider's
    // own, so the call stays attributed to this provider; a copy keeps the
    // modes of the provider it comes from.
    const ids = new Set(models.map((m) => m.id.toLowerCase()));
    for (const fid of p.fallback_model_providers ?? []) {
      if (!byId.has(fid)) { fail(`${p.id}: fallback provider ${fid} is unknown`); continue; }
      const fmodes = MODES[fid] ?? {};
      const sameModes = JSON.stringify(fmodes) === JSON.stringify(modes ?? {});
      for (const m of own.get(fid)) {
        if (ids.has(m.id.toLowerCase())) { report.fallbackShadowed.push(`${p.id}/${m.id} (from ${fid})`); continue; }
        ids.add(m.id.toLowerCase());
        report.fallbackCopies++;
        models.push(sameModes ? m : { ...m, prices: m.prices.map((r) => ({ ...r, modes: fmodes })) });
      }
    }
    const entry = { id: p.id, match, models };
    if (modelMatch) entry.model_match = modelMatch;
    if (modes) entry.modes = modes;
    out.push(entry);
  }
  checkAliases(out);

  const doc = { format: FORMAT, source: `@pydantic/genai-prices ${version}`, providers: out };
  const text = serialize(doc);
  JSON.parse(text); // well-formed, or throw

  const nModels = out.reduce((n, p) => n + p.models.length, 0);
  const nRows = out.reduce((n, p) => n + p.models.reduce((k, m) => k + m.prices.length, 0), 0);
  const pkgModels = providers.reduce((n, p) => n + p.models.length, 0);
  const log = (s) => console.error(s);
  log(`@pydantic/genai-prices ${version}: ${providers.length} providers, ${pkgModels} models`);
  log(`exported: ${out.length} providers, ${nModels} models (${report.fallbackCopies} copied from fallback providers), ${nRows} price rows`);
  log(`skipped models (${report.skippedModels.length}):`);
  report.skippedModels.forEach((s) => log(`  ${s}`));
  log(`untranslatable match rules (${report.untranslatable.length}):`);
  report.untranslatable.forEach((s) => log(`  ${s}`));
  log(`time-of-day prices dropped, the other rows apply at all hours (${report.timeOfDay.length}):`);
  report.timeOfDay.forEach((s) => log(`  ${s}`));
  log(`reasoning tokens billed at the output price, not the package's output_reasoning_mtok (${report.reasoningAtOutput.length}):`);
  report.reasoningAtOutput.forEach((s) => log(`  ${s}`));
  log(`ignored price keys (not our token classes), by rows: ${[...report.ignoredKeys].sort().map(([k, n]) => `${k} ${n}`).join(', ')}`);
  log(`free models (no price in the package: input 0, output 0): ${report.free.length}`);
  log(`models with an input price and no output price (output 0): ${report.outputZero.length}`);
  log(`rows whose 1h cache write takes the cache write price (as the package bills it): ${report.write1hFrom5m}`);
  log(`fallback models not copied (the provider has its own of that id): ${report.fallbackShadowed.length}`);
  if (fatal) {
    log(`${fatal} fatal problem(s): nothing written`);
    process.exit(1);
  }
  if (outPath) writeFileSync(outPath, text);
  else process.stdout.write(text);
}

await main();
