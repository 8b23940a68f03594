/**
 * The token ids and sampled-token logprobs of a call, taken out of the upstream's response at
 * record time for llm_calls' columns of their own (migration 0013, whose backfill reads the
 * stored response the same way). The export reads these columns, never the response document:
 * reading a few KB of numbers must not cost detoasting and walking ~200 KB of JSON.
 *
 * Values go to the database as array literals: both drivers pass them as they are, and a
 * double's shortest decimal form reads back (float8, extra_float_digits 1) as the same double.
 */

type Obj = Record<string, unknown>;

export interface TokenColumns {
  /** int[] literal or null. */
  promptTokenIds: string | null;
  /** int[] literal or null. */
  completionTokenIds: string | null;
  /** float8[] literal or null. */
  completionLogprobs: string | null;
}

const INT4_MIN = -2147483648;
const INT4_MAX = 2147483647;

const obj = (v: unknown): Obj | null => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : null);
const isTokenId = (v: unknown) =>
  Number.isInteger(v) && (v as number) >= INT4_MIN && (v as number) <= INT4_MAX;

/** An array of int4 integers as an int[] literal; anything else (not an array, a non-id inside) is null. */
function tokenIds(v: unknown): string | null {
  if (!Array.isArray(v) || !v.every(isTokenId)) return null;
  return `{${v.join(',')}}`;
}

/**
 * Each entry's `logprob` (NULL where an entry has none or is no object); null for no entries,
 * or when some entry's logprob is not a number. A JSON number too large for a double parsed as
 * Infinity and is stored as null in the response: NULL here too, as the backfill reads it.
 */
function logprobs(content: unknown): string | null {
  if (!Array.isArray(content) || content.length === 0) return null;
  const out: string[] = new Array(content.length);
  for (let i = 0; i < content.length; i++) {
    const lp = obj(content[i])?.logprob;
    if (typeof lp === 'number') out[i] = Number.isFinite(lp) ? String(lp) : 'NULL';
    else if (lp == null) out[i] = 'NULL';
    else return null;
  }
  return `{${out.join(',')}}`;
}

/** The columns of a recorded response (null: the call got none). */
export function tokenColumns(response: Obj | null): TokenColumns {
  const choices = response?.choices;
  const first = Array.isArray(choices) ? obj(choices[0]) : null;
  return {
    promptTokenIds: tokenIds(response?.prompt_token_ids),
    completionTokenIds: tokenIds(first?.token_ids),
    completionLogprobs: logprobs(obj(first?.logprobs)?.content),
  };
}
