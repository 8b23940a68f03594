/**
 * The token ids and sampled-token logprobs of a call, taken out of the upstream's response at
 * record time for llm_calls' columns of their own (migration 0013, whose backfill reads the
 * stored response the same way). The export reads these columns, never the response document:
 * reading the numbers must not cost detoasting and walking the JSON around them.
 */
import { packFloat64s, packInt32s } from '../db/packed-numbers.ts';

type Obj = Record<string, unknown>;

export interface TokenColumns {
  promptTokenIds: Buffer | null;
  completionTokenIds: Buffer | null;
  completionLogprobs: Buffer | null;
}

const INT4_MIN = -2147483648;
const INT4_MAX = 2147483647;

const obj = (v: unknown): Obj | null => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : null);
const isTokenId = (v: unknown) =>
  Number.isInteger(v) && (v as number) >= INT4_MIN && (v as number) <= INT4_MAX;

/** An array of int32 integers, packed; anything else (not an array, a non-id inside) is null. */
function tokenIds(v: unknown): Buffer | null {
  if (!Array.isArray(v) || !v.every(isTokenId)) return null;
  return packInt32s(v as number[]);
}

/**
 * Each entry's `logprob` (null where an entry has none or is no object); null for no entries,
 * or when some entry's logprob is not a number. A JSON number too large for a double parsed as
 * Infinity and is stored as null in the response: null here too, as the backfill reads it.
 */
function logprobs(content: unknown): Buffer | null {
  if (!Array.isArray(content) || content.length === 0) return null;
  const out: (number | null)[] = new Array(content.length);
  for (let i = 0; i < content.length; i++) {
    const lp = obj(content[i])?.logprob;
    if (typeof lp === 'number') out[i] = Number.isFinite(lp) ? lp : null;
    else if (lp == null) out[i] = null;
    else return null;
  }
  return packFloat64s(out);
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
