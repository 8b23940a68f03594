/**
 * Lossless storage of any JavaScript string in PostgreSQL. PostgreSQL refuses U+0000 in text
 * and jsonb, and a lone surrogate (half of a UTF-16 pair, common in tool output cut at a byte
 * boundary) is refused by jsonb and silently turned into U+FFFD in text. Tool output and logs
 * carry both, and dropping a record (or mangling a trajectory) after the agent already got its
 * answer is not acceptable, so strings are escaped on the way in and unescaped on the way out:
 *
 *   U+0001            → U+0001 U+0001   (the escape character itself)
 *   U+0000            → U+0001 "0"
 *   lone U+D800–DFFF  → U+0001 "u" + 4 hex digits
 *
 * Strings without U+0000, U+0001 or a surrogate — nearly all — are stored as they are, and the
 * checks cost one regular-expression test per string (one per JSON document on the fast path).
 */

const ESCAPE = '\u0001';
/** Anything that may need escaping: NUL, the escape character, or any surrogate half. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding these control characters is the point.
const SUSPECT = /[\u0000\u0001\uD800-\uDFFF]/;
/** In JSON text from JSON.stringify: an escaped NUL or U+0001, or an escaped lone surrogate. */
const SUSPECT_JSON = /\\u000[01]|\\ud[89a-f]/i;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** The string as stored. */
export function encodeText(text: string): string {
  if (!SUSPECT.test(text)) return text;
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 1) out += ESCAPE + ESCAPE;
    else if (code === 0) out += `${ESCAPE}0`;
    else if (code >= 0xd800 && code <= 0xdbff && isLow(text.charCodeAt(i + 1))) {
      out += text[i]! + text[i + 1]!;
      i++;
    } else if (code >= 0xd800 && code <= 0xdfff) out += `${ESCAPE}u${code.toString(16).padStart(4, '0')}`;
    else out += text[i]!;
  }
  return out;
}

/** The string as it was sent. */
export function decodeText(stored: string): string {
  if (!stored.includes(ESCAPE)) return stored;
  let out = '';
  for (let i = 0; i < stored.length; i++) {
    const ch = stored[i]!;
    if (ch !== ESCAPE) {
      out += ch;
      continue;
    }
    const next = stored[i + 1];
    if (next === ESCAPE) {
      out += ESCAPE;
      i++;
    } else if (next === '0') {
      out += '\u0000';
      i++;
    } else if (next === 'u' && /^[0-9a-f]{4}$/.test(stored.slice(i + 2, i + 6))) {
      out += String.fromCharCode(Number.parseInt(stored.slice(i + 2, i + 6), 16));
      i += 5;
    } else out += ch; // not written by encodeText: keep it as it is
  }
  return out;
}

/** JSON text for a jsonb parameter: every string (keys too) escaped, fast when none needs it. */
export function toStoredJson(value: unknown): string {
  const plain = JSON.stringify(value ?? null);
  if (!SUSPECT_JSON.test(plain)) return plain;
  return JSON.stringify(value ?? null, function (this: unknown, _key, v: unknown) {
    if (typeof v === 'string') return encodeText(v);
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      const entries = Object.entries(v as Record<string, unknown>);
      if (!entries.some(([k]) => SUSPECT.test(k))) return v;
      return Object.fromEntries(entries.map(([k, x]) => [encodeText(k), x]));
    }
    return v;
  });
}

/** A jsonb value as read, with its strings (and keys) unescaped. */
export function fromStoredJson<T = unknown>(value: T): T {
  return hasEscape(value) ? (decodeDeep(value) as T) : value;
}

// Run on every JSON value an export or a read returns, nearly always to find nothing: plain
// loops, without the entry arrays and closures Object.entries(...).some(...) allocates per object.
function hasEscape(value: unknown): boolean {
  if (typeof value === 'string') return value.includes(ESCAPE);
  if (value === null || typeof value !== 'object') return false;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (hasEscape(value[i])) return true;
    return false;
  }
  const o = value as Record<string, unknown>;
  for (const k of Object.keys(o)) if (k.includes(ESCAPE) || hasEscape(o[k])) return true;
  return false;
}

function decodeDeep(value: unknown): unknown {
  if (typeof value === 'string') return decodeText(value);
  if (Array.isArray(value)) return value.map(decodeDeep);
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [decodeText(k), decodeDeep(v)]));
  return value;
}

/** True when the string holds an unpaired surrogate (for callers that refuse rather than store). */
export function hasLoneSurrogate(text: string): boolean {
  return LONE_SURROGATE.test(text);
}

function isLow(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}
