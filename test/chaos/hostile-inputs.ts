/**
 * The hostile submissions of scenario C5, generated deterministically from a seed: for each of the shipped
 * job types (and some unknown ones) a valid base input broken in one way the contract refuses: oversized
 * inputs (up to 3 MB), wrong types, odd unicode (unpaired surrogates, bidi overrides, zero-width, emoji)
 * where the schema or the key pattern forbids it, `__proto__`/`constructor` keys, control characters,
 * deep nesting, huge and non-finite numbers, NaN-like strings, unknown fields, bad keys, bad or oversized
 * submitter and correlation ids, unknown options, and out-of-bounds values. Every case must be refused;
 * big inputs are built only when sent. `rawStart` turns a case into the argument and workflow id of a
 * hand-made `jobWorkflow` start, and `BAD_JSON_TEXTS` are texts only the CLI can send.
 */
import { IDEMPOTENCY_KEY_PATTERN, JOB_TYPE_PATTERN, MAX_INPUT_BYTES } from '../../common/constants';
import { mulberry32 } from '../../examples/sandbox/provider';

export const HOSTILE_KINDS = [
  'oversize',
  'wrong-type',
  'odd-unicode',
  'proto-keys',
  'control-chars',
  'deep-nesting',
  'huge-number',
  'nan-like',
  'unknown-fields',
  'bad-key',
  'bad-submitter',
  'oversized-metadata',
  'unknown-type',
  'unknown-options',
  'out-of-bounds',
] as const;
export type HostileKind = (typeof HOSTILE_KINDS)[number];

export interface HostileCase {
  n: number;
  kind: HostileKind;
  /** What is wrong, in a few words. */
  what: string;
  /** Usually a string; a few cases pass another type to the SDK. */
  jobType: unknown;
  /** The submit options (key, submittedBy, correlationId, and unknown ones for some cases). */
  options: Record<string, unknown>;
  /** Builds the input (big inputs are built only when sent). */
  input(): unknown;
  /** The input as JSON text, when it has one (no NaN, Infinity or undefined in it). */
  text(): string | undefined;
  /** Rough size of the input's JSON, in bytes. */
  bytes: number;
  /** Can go through the CLI: JSON input, string options without NUL and short enough for argv. */
  cli: boolean;
  /** Can go as a raw start argument: JSON the Temporal client serializes, under the server's 2 MB payload limit. */
  raw: boolean;
}

type Rng = () => number;
const pick = <T>(r: Rng, items: readonly T[]): T => items[Math.floor(r() * items.length)]!;
/** A value for a case's description: long strings shortened, arrays by length. */
const shown = (value: unknown): string =>
  typeof value === 'string'
    ? JSON.stringify(value.length > 20 ? `${value.slice(0, 8)}...(${value.length})` : value)
    : Array.isArray(value) && value.length > 3 ? `an array of ${value.length}` : JSON.stringify(value) ?? String(value);

export const SHIPPED_TYPES = ['order.fulfill', 'greeting.send', 'report.generate', 'report.section'] as const;
type Shipped = (typeof SHIPPED_TYPES)[number];

/** A valid input of each shipped type, unique per case. */
function baseInput(type: Shipped, n: number): Record<string, unknown> {
  switch (type) {
    case 'order.fulfill':
      return { orderId: `c5-o-${n}`, customer: { id: `cus-${n}`, email: 'hostile.buyer@example.com' }, items: [{ sku: 'SKU-C5', qty: 1 }], amount: 1999, currency: 'EUR' };
    case 'greeting.send':
      return { recipientId: `c5-r-${n}`, language: 'en' };
    case 'report.generate':
      return { reportId: `c5-rep-${n}`, sections: ['intro', 'body'] };
    case 'report.section':
      return { reportId: `c5-rep-${n}`, index: 0, title: 'intro' };
  }
}

/** Strings the contract refuses wherever a key, currency, email or enum value is expected (and in identities). */
const ODD_UNICODE: readonly [string, string][] = [
  ['an unpaired high surrogate', '\uD800'],
  ['an unpaired low surrogate', '\uDFFF'],
  ['a right-to-left override', '\u202E'],
  ['bidi isolates', '\u2066x\u2069'],
  ['a zero-width space', '\u200B'],
  ['a zero-width joiner', '\u200D'],
  ['a byte order mark', '\uFEFF'],
  ['an emoji', '\u{1F600}'],
  ['a family emoji sequence', '\u{1F469}\u200D\u{1F469}\u200D\u{1F467}'],
  ['a combining accent', 'e\u0301'],
  ['fullwidth letters', '\uFF21\uFF22'],
  ['a non-breaking space', '\u00A0'],
];
/**
 * Identities must not hide or reorder text: format characters and unpaired surrogates are refused there
 * too. (With the `u` flag a valid surrogate pair, such as a plain emoji, is one code point, not `Cs`.)
 */
const INVISIBLE_IN_IDENTITY = ODD_UNICODE.filter(([, s]) => /[\u200B-\u200F\u202A-\u202E\u2066-\u2069\uFEFF]|\p{Cs}/u.test(s));

const CONTROL: readonly [string, string][] = [
  ['NUL', '\u0000'],
  ['BEL', '\u0007'],
  ['an ANSI colour escape', '\u001b[31mred\u001b[0m'],
  ['CR LF', '\r\n'],
  ['a tab', '\t'],
  ['DEL', '\u007f'],
  ['NEL (C1)', '\u0085'],
  ['CSI (C1)', '\u009b'],
];

/**
 * A case with a fixed input. `json` says whether the Temporal client would send the input unchanged; its
 * text is `textOverride` (e.g. a `1e999` literal) or else its JSON, when it has one.
 */
function fixed(kind: HostileKind, what: string, jobType: unknown, input: unknown, options: Record<string, unknown> = {}, textOverride?: string): Omit<HostileCase, 'n' | 'cli' | 'raw'> & { json: boolean } {
  const json = isJson(input);
  const text = textOverride ?? (json ? JSON.stringify(input) : undefined);
  return { kind, what, jobType, options, input: () => input, text: () => text, bytes: text?.length ?? 0, json };
}

/** True when JSON.stringify would keep the value as it is (no NaN, Infinity, undefined, functions). */
function isJson(value: unknown, depth = 0): boolean {
  if (depth > 2_000) return false; // too deep for JSON.stringify's stack anyway
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return true;
  if (typeof value === 'number') return Number.isFinite(value);
  if (Array.isArray(value)) return value.every((v) => isJson(v, depth + 1));
  if (typeof value === 'object') return Object.values(value as object).every((v) => isJson(v, depth + 1));
  return false;
}

/** Sets `path` (dot-separated, numeric parts index arrays) in a copy of `input`. */
function withValue(input: Record<string, unknown>, path: string, value: unknown): Record<string, unknown> {
  const copy = structuredClone(input);
  const parts = path.split('.');
  let at: Record<string, unknown> = copy;
  for (const part of parts.slice(0, -1)) at = at[part] as Record<string, unknown>;
  at[parts.at(-1)!] = value;
  return copy;
}

/** Removes `path` from a copy of `input`. */
function without(input: Record<string, unknown>, path: string): Record<string, unknown> {
  const copy = structuredClone(input);
  const parts = path.split('.');
  let at: Record<string, unknown> = copy;
  for (const part of parts.slice(0, -1)) at = at[part] as Record<string, unknown>;
  delete at[parts.at(-1)!];
  return copy;
}

/** The input's JSON text with `"name": value` inserted first into the object at `path` ('' for the root); parsed back, so `__proto__` is an own key. */
function withOwnKey(input: Record<string, unknown>, path: string, name: string, value: unknown): { input: unknown; text: string } {
  const marker = '"__c5_marker__":0';
  const marked = path === '' ? { __c5_marker__: 0, ...input } : withValue(input, path, { __c5_marker__: 0, ...(pathValue(input, path) as object) });
  const text = JSON.stringify(marked).replace(marker, `${JSON.stringify(name)}:${JSON.stringify(value)}`);
  return { input: JSON.parse(text), text };
}

function pathValue(input: Record<string, unknown>, path: string): unknown {
  return path.split('.').reduce<unknown>((at, part) => (at as Record<string, unknown>)[part], input);
}

/** Where each shipped type has a string the contract constrains (key-deriving, pattern, email or enum), and how. */
const CONSTRAINED: Record<Shipped, { path: string; make: (n: number, odd: string) => string }[]> = {
  'order.fulfill': [
    { path: 'orderId', make: (n, odd) => `c5-o-${n}${odd}` },
    { path: 'currency', make: (_n, odd) => `EU${odd}` },
    { path: 'customer.email', make: (n, odd) => `buyer${n}${odd}@example.com` },
  ],
  'greeting.send': [
    { path: 'recipientId', make: (n, odd) => `c5-r-${n}${odd}` },
    { path: 'language', make: (_n, odd) => `en${odd}` },
  ],
  'report.generate': [{ path: 'reportId', make: (n, odd) => `c5-rep-${n}${odd}` }],
  'report.section': [],
};

/** Builders per kind: each returns one case for job type `type` (some kinds choose their own type). */
const BUILDERS: Record<HostileKind, (r: Rng, n: number, type: Shipped) => ReturnType<typeof fixed>> = {
  oversize(r, n, type) {
    const size = pick(r, [MAX_INPUT_BYTES + 1_000, 400_000, 900_000, 2_100_000, 3_000_000]);
    const how = pick(r, ['string', 'array', 'unknown-field'] as const);
    const base = baseInput(type, n);
    const build = (): unknown => {
      if (how === 'unknown-field') return { ...base, blob: 'x'.repeat(size) };
      if (how === 'array') {
        const count = Math.ceil(size / 24);
        if (type === 'order.fulfill') return { ...base, items: Array.from({ length: count }, () => ({ sku: 'SKU', qty: 1 })) };
        if (type === 'report.generate') return { ...base, sections: Array.from({ length: count }, () => 'section-title-xx') };
        return { ...base, blob: Array.from({ length: count }, () => 'padding-padding-xx') };
      }
      const field = { 'order.fulfill': 'customer', 'greeting.send': 'recipientId', 'report.generate': 'reportId', 'report.section': 'title' }[type];
      return field === 'customer' ? { ...base, customer: { id: 'c'.repeat(size), email: 'hostile.buyer@example.com' } } : { ...base, [field]: 'y'.repeat(size) };
    };
    return { kind: 'oversize', what: `about ${Math.round(size / 1000)} kB (${how})`, jobType: type, options: {}, input: build, text: () => JSON.stringify(build()), bytes: size, json: true };
  },

  'wrong-type'(r, n, type) {
    const base = baseInput(type, n);
    const wrong: Record<Shipped, [string, unknown][]> = {
      'order.fulfill': [['orderId', 42], ['orderId', null], ['orderId', ['c5']], ['customer', 'cus-1'], ['customer', null], ['customer.email', 5], ['items', { sku: 'S', qty: 1 }], ['items', 'SKU'], ['items.0.qty', '1'], ['items.0.qty', [1]], ['amount', '1999'], ['amount', true], ['amount', { value: 1999 }], ['currency', 978], ['currency', ['EUR']]],
      'greeting.send': [['recipientId', 1], ['recipientId', { id: 'r' }], ['language', 0], ['language', null], ['language', ['en']]],
      'report.generate': [['reportId', 7], ['sections', 'intro'], ['sections', [1, 2]], ['sections', { 0: 'intro' }]],
      'report.section': [['index', '0'], ['index', null], ['title', 3], ['reportId', false]],
    };
    if (r() < 0.2) {
      const root = pick(r, [null, 'order', 42, true, [], [base]] as const);
      return fixed('wrong-type', `the input is ${Array.isArray(root) ? 'an array' : root === null ? 'null' : typeof root}`, type, root);
    }
    const [path, value] = pick(r, wrong[type]);
    return fixed('wrong-type', `${path} is ${Array.isArray(value) ? 'an array' : value === null ? 'null' : typeof value}`, type, withValue(base, path, value));
  },

  'odd-unicode'(r, n, type) {
    const [name, odd] = pick(r, ODD_UNICODE);
    const spots = CONSTRAINED[type];
    if (spots.length === 0 || r() < 0.15) {
      return fixed('odd-unicode', `explicit key with ${name}`, type, baseInput(type, n), { key: `c5-k-${n}${odd}` });
    }
    const spot = pick(r, spots);
    return fixed('odd-unicode', `${spot.path} with ${name}`, type, withValue(baseInput(type, n), spot.path, spot.make(n, odd)));
  },

  'proto-keys'(r, n, type) {
    const name = pick(r, ['__proto__', 'constructor', 'prototype'] as const);
    const value = name === 'constructor' ? { prototype: { polluted: true } } : { polluted: true, isAdmin: true };
    const base = baseInput(type, n);
    const where = pick(r, type === 'order.fulfill' ? ['', 'customer', 'items.0'] : ['']);
    if (r() < 0.15) {
      // In the submit options instead of the input.
      const options = JSON.parse(`{${JSON.stringify(name)}:${JSON.stringify({ submittedBy: 'root' })},"submittedBy":"c5-${n}"}`) as Record<string, unknown>;
      return fixed('proto-keys', `own ${name} key in the submit options`, type, base, options);
    }
    const built = withOwnKey(base, where, name, value);
    return fixed('proto-keys', `own ${name} key at ${where || 'the root'}`, type, built.input, {}, built.text);
  },

  'control-chars'(r, n, type) {
    const [name, ctrl] = pick(r, CONTROL);
    const spots = CONSTRAINED[type];
    const where = spots.length === 0 ? pick(r, ['submittedBy', 'correlationId', 'key'] as const) : pick(r, ['input', 'input', 'submittedBy', 'correlationId', 'key'] as const);
    if (where === 'input') {
      const spot = pick(r, spots);
      return fixed('control-chars', `${spot.path} with ${name}`, type, withValue(baseInput(type, n), spot.path, spot.make(n, ctrl)));
    }
    const value = where === 'key' ? `c5-k-${n}${ctrl}` : `ops-${n}${ctrl}x`;
    return fixed('control-chars', `${where} with ${name}`, type, baseInput(type, n), { [where]: value });
  },

  'deep-nesting'(r, n, type) {
    const depth = pick(r, [600, 1_500, 3_000, 20_000, 100_000]);
    const shape = pick(r, ['array', 'object'] as const);
    const where = pick(r, ['root', 'unknown-field', 'field'] as const);
    const field = { 'order.fulfill': 'items', 'greeting.send': 'recipientId', 'report.generate': 'sections', 'report.section': 'title' }[type];
    const nestedText = shape === 'array' ? `${'['.repeat(depth)}0${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}0${'}'.repeat(depth)}`;
    const baseText = JSON.stringify(baseInput(type, n));
    const text =
      where === 'root' ? nestedText
      : where === 'unknown-field' ? `${baseText.slice(0, -1)},"meta":${nestedText}}`
      : JSON.stringify(baseInput(type, n)).replace(JSON.stringify(baseInput(type, n)[field]), nestedText);
    return {
      kind: 'deep-nesting',
      what: `${shape}s nested ${depth} deep at ${where === 'field' ? field : where}`,
      jobType: type,
      options: {},
      input: () => JSON.parse(text),
      text: () => text,
      bytes: text.length,
      json: depth <= 1_500, // deeper than that, JSON.stringify (the Temporal client's converter) runs out of stack
    };
  },

  'huge-number'(r, n, type) {
    const t = type === 'report.section' ? type : 'order.fulfill';
    const base = baseInput(t, n);
    if (r() < 0.3) {
      const [label, value] = pick(r, [['NaN', NaN], ['Infinity', Infinity], ['-Infinity', -Infinity]] as const);
      const path = t === 'order.fulfill' ? 'amount' : 'index';
      // Through JSON only a literal past the double range reaches Infinity: 1e999.
      const text = label === 'NaN' ? undefined : JSON.stringify(withValue(base, path, 0)).replace(`"${path}":0`, `"${path}":${label === 'Infinity' ? '1e999' : '-1e999'}`);
      return fixed('huge-number', `${path} is ${label}`, t, withValue(base, path, value), {}, text);
    }
    const values: [string, number][] = t === 'order.fulfill'
      ? [['amount', 1e308], ['amount', 2 ** 53], ['amount', 2 ** 63], ['amount', Number.MAX_VALUE], ['amount', 1e21], ['amount', -1], ['amount', 0], ['amount', 19.99], ['amount', Number.MIN_VALUE], ['items.0.qty', 1e9], ['items.0.qty', 1001], ['items.0.qty', -5], ['items.0.qty', 2.5]]
      : [['index', 2 ** 53], ['index', 1e308], ['index', -1], ['index', 1.5]];
    const [path, value] = pick(r, values);
    return fixed('huge-number', `${path} is ${value}`, t, withValue(base, path, value));
  },

  'nan-like'(r, n, type) {
    const t = type === 'report.section' ? type : 'order.fulfill';
    const s = pick(r, ['NaN', 'Infinity', '-Infinity', '-0', '1e309', '0x7FF', '1_000', '', ' 42 ', '4.2e1', 'null', 'undefined']);
    const path = t === 'order.fulfill' ? pick(r, ['amount', 'items.0.qty']) : 'index';
    return fixed('nan-like', `${path} is the string ${JSON.stringify(s)}`, t, withValue(baseInput(t, n), path, s));
  },

  'unknown-fields'(r, n, type) {
    const name = pick(r, ['priority', 'isAdmin', 'role', '$where', 'toString', 'valueOf', 'hasOwnProperty', '__defineGetter__', 'then', '']);
    const value = pick(r, [true, 'admin', 1, { $ne: null }, null]);
    const where = type === 'order.fulfill' ? pick(r, ['', 'customer', 'items.0']) : '';
    const built = withOwnKey(baseInput(type, n), where, name, value);
    return fixed('unknown-fields', `unknown field ${JSON.stringify(name)} at ${where || 'the root'}`, type, built.input, {}, built.text);
  },

  'bad-key'(r, n, type) {
    if (type === 'report.generate' && r() < 0.35) {
      // Valid alone, but the child keys `<key>.part-<i>` would exceed 128 characters.
      return fixed('bad-key', 'explicit 125-character key: child keys would exceed 128', type, baseInput(type, n), { key: `k${n}-`.padEnd(125, 'k') });
    }
    if ((type === 'order.fulfill' || type === 'greeting.send') && r() < 0.35) {
      // The key derives from a field whose value suits the schema but not the key pattern.
      const [field, value] = type === 'order.fulfill'
        ? ['orderId', pick(r, [`-o-${n}`, `o ${n}`, `o/${n}`, `o${n}*`, `.o${n}`])]
        : ['recipientId', pick(r, [`r/${n}`, `r ${n}`, `r?${n}`])];
      return fixed('bad-key', `derived key from ${field} ${JSON.stringify(value)}`, type, withValue(baseInput(type, n), field, value));
    }
    const key = pick(r, ['', ' ', `a b${n}`, 'k'.repeat(129), '../../etc/passwd', `a/b${n}`, `-lead${n}`, `.lead${n}`, '\u043a\u043b\u044e\u0447', `key${n}\n`, `key${n};drop table jobs`, `key${n}%00`, `k${n}*`, 7, 0, null, true, {}, ['k']] as const);
    return fixed('bad-key', `explicit key ${shown(key)}`, type, baseInput(type, n), { key });
  },

  'bad-submitter'(r, n, type) {
    const field = pick(r, ['submittedBy', 'submittedBy', 'correlationId'] as const);
    const invisible = pick(r, INVISIBLE_IN_IDENTITY);
    const value = pick(r, ['', '   ', `tab\there-${n}`, `nul\u0000-${n}`, 'x'.repeat(129), 42, null, {}, ['ops'], true, `ops-${invisible[1]}${n}`] as const);
    const label = value === `ops-${invisible[1]}${n}` ? `an identity with ${invisible[0]}` : shown(value);
    return fixed('bad-submitter', `${field} ${label}`, type, baseInput(type, n), { [field]: value });
  },

  'oversized-metadata'(r, n, type) {
    const field = pick(r, ['submittedBy', 'correlationId', 'key'] as const);
    const length = pick(r, [129, 1_000, 65_536, 300_000]);
    return fixed('oversized-metadata', `${field} of ${length} characters`, type, baseInput(type, n), { [field]: `${field[0]}`.repeat(length) });
  },

  'unknown-type'(r, n) {
    const jobType = pick(r, ['order.refund', 'Order.Fulfill', 'order.fulfill ', ' order.fulfill', 'order.fulfill\u0000', 'order', '', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'x'.repeat(300), 'order.fulfill;rm -rf /', '../jobs/order', 'greeting.send\n', 'report.section\u200B', 42, null] as const);
    return fixed('unknown-type', `job type ${shown(jobType)}`, jobType, baseInput('order.fulfill', n));
  },

  'unknown-options'(r, n, type) {
    const [name, value] = pick(r, [['parentJobId', `order.fulfill:c5-parent-${n}`], ['priority', 'high'], ['submitted_by', 'x'], ['workflowId', `c5-w-${n}`], ['taskQueue', 'elsewhere'], ['retries', '100'], ['constructor', 'x']] as const);
    return fixed('unknown-options', `unknown submit option ${name}`, type, baseInput(type, n), { [name]: value });
  },

  'out-of-bounds'(r, n, type) {
    const cases: Record<Shipped, [string, unknown][]> = {
      'order.fulfill': [['orderId', ''], ['orderId', `o${n}`.padEnd(65, 'o')], ['items', []], ['items', Array.from({ length: 101 }, () => ({ sku: 'S', qty: 1 }))], ['items.0.qty', 0], ['items.0.sku', ''], ['currency', 'eur'], ['currency', 'EURO'], ['currency', 'E'], ['customer.email', 'not-an-email'], ['customer.email', 'a@b'], ['customer.email', '@example.com'], ['customer.email', `${'m'.repeat(250)}@example.com`], ['customer.id', ''], ['customer.id', 'c'.repeat(65)]],
      'greeting.send': [['recipientId', ''], ['recipientId', `r${n}`.padEnd(65, 'r')], ['language', 'xx'], ['language', 'EN']],
      'report.generate': [['sections', []], ['sections', Array.from({ length: 21 }, (_, i) => `s${i}`)], ['sections', ['']], ['sections', ['t'.repeat(81)]], ['reportId', '']],
      'report.section': [['index', -1], ['title', ''], ['title', 't'.repeat(81)], ['reportId', ''], ['reportId', 'r'.repeat(65)]],
    };
    if (r() < 0.25) {
      const required = Object.keys(baseInput(type, n)).filter((k) => !(type === 'greeting.send' && k === 'language'));
      const missing = pick(r, required);
      return fixed('out-of-bounds', `required field ${missing} missing`, type, without(baseInput(type, n), missing));
    }
    const [path, value] = pick(r, cases[type]);
    return fixed('out-of-bounds', `${path} ${shown(value)}`, type, withValue(baseInput(type, n), path, value));
  },
};

/** The largest argv string the CLI sample passes inline (Linux refuses single arguments over 128 KiB). */
const ARGV_LIMIT = 100_000;
/** Raw starts stay under the server's 2 MB payload limit (a bigger start is refused by the server itself). */
const RAW_LIMIT = 1_000_000;

/** `count` hostile cases, the same ones for the same seed; kinds take turns so every kind is present. */
export function hostileCases(seed: number, count: number): HostileCase[] {
  const r = mulberry32(seed);
  const cases: HostileCase[] = [];
  for (let n = 0; n < count; n++) {
    const kind = HOSTILE_KINDS[n % HOSTILE_KINDS.length]!;
    const roll = r();
    const type: Shipped = roll < 0.55 ? 'order.fulfill' : roll < 0.7 ? 'greeting.send' : roll < 0.85 ? 'report.generate' : 'report.section';
    const { json, ...made } = BUILDERS[kind](r, n, type);
    const stringsOnly = typeof made.jobType === 'string' && Object.values(made.options).every((v) => typeof v === 'string' && !v.includes('\u0000') && v.length < ARGV_LIMIT);
    const cli = stringsOnly && !(made.jobType as string).includes('\u0000') && made.text() !== undefined && Object.keys(made.options).every((k) => /^[a-z][a-zA-Z]*$/.test(k));
    cases.push({ ...made, n, cli, raw: json && made.bytes < RAW_LIMIT });
  }
  return cases;
}

/** Texts only the CLI can send: not JSON at all, or JSON of the wrong shape. */
export const BAD_JSON_TEXTS: readonly [string, string][] = [
  ['truncated JSON', '{"orderId":"c5-o-x",'],
  ['a bare NaN', 'NaN'],
  ['single quotes', "{'orderId': 'c5-o-x'}"],
  ['a trailing comma', '{"orderId":"c5-o-x",}'],
  ['an empty text', ''],
  ['a lone byte order mark', '\uFEFF'],
  ['JSON null', 'null'],
  ['an empty array', '[]'],
  ['a JSON string', '"order"'],
  ['trailing garbage', '{"orderId":"c5-o-x"} extra'],
];

/** The workflow argument and id of a hand-made start of `c`: what `temporal workflow start` would send. */
export function rawStart(c: HostileCase, taskKeyPrefix = 'c5-raw'): { workflowId: string; args: Record<string, unknown> } {
  const { key, ...rest } = c.options;
  const input = c.input();
  const args: Record<string, unknown> = { jobType: c.jobType, input, submittedBy: 'chaos-raw', ...rest };
  if (key !== undefined) args.idempotencyKey = key;
  const fallback = `${taskKeyPrefix}-${c.n}`;
  if (typeof c.jobType !== 'string' || !JOB_TYPE_PATTERN.test(c.jobType)) return { workflowId: fallback, args };
  // The id a valid job would have, so the input (not a mismatched id) is what the workflow refuses.
  let candidate: unknown = key;
  if (candidate === undefined && input !== null && typeof input === 'object') {
    const fields = input as Record<string, unknown>;
    if (c.jobType === 'order.fulfill') candidate = fields.orderId;
    else if (c.jobType === 'greeting.send') candidate = `greet-${String(fields.recipientId)}-${String(fields.language ?? 'en')}`;
    else if (c.jobType === 'report.generate') candidate = fields.reportId;
  }
  if (candidate === undefined && key === undefined) {
    args.idempotencyKey = fallback; // no key function (report.section) or no object: an explicit key
    candidate = fallback;
  }
  const valid = typeof candidate === 'string' && IDEMPOTENCY_KEY_PATTERN.test(candidate);
  return { workflowId: `${c.jobType}:${valid ? candidate : fallback}`, args };
}
