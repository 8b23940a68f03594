/**
 * A JSON document as a sequence of pieces of about PIECE_CHARS, whose concatenation is exactly
 * JSON.stringify(value): what the export endpoint sends, instead of one string per record.
 *
 * Why: a trajectories line is ~300 KB of JSON (a million and more for token-heavy ones). As one
 * string it lands in V8's large-object space, which only a full collection frees: an export
 * left hundreds of megabytes of dead lines in the server's RSS before V8 collected them. Here
 * the records, conversations and their lists of objects are walked (messages, calls, steps:
 * each element stringified on its own, none much past 100 KB), and pieces are handed on as
 * they fill, so what is alive at once is one piece and what is dead is young garbage that
 * scavenges free. Lists of primitives (token ids, logprobs) and anything deeper than
 * WALK_DEPTH containers are stringified whole: walking them would cost more than it saves.
 */

/** About this many characters per piece (a piece ends after the value that crosses it). */
export const PIECE_CHARS = 64 * 1024;

/** Containers walked into from the top (record → conversations → a conversation → its calls). */
const WALK_DEPTH = 4;

const isPlainObject = (v: object): v is Record<string, unknown> => {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
};

/** What JSON.stringify leaves out of an object and writes as null in an array. */
const skipped = (v: unknown) => v === undefined || typeof v === 'function' || typeof v === 'symbol';

/** Walked only when it is a plain object, or an array whose first element is one. */
function walkable(v: unknown): v is Record<string, unknown> | unknown[] {
  if (v === null || typeof v !== 'object') return false;
  if (Array.isArray(v)) {
    const first = v[0];
    return first !== null && typeof first === 'object' && (Array.isArray(first) || isPlainObject(first));
  }
  return isPlainObject(v) && typeof v.toJSON !== 'function';
}

/** The text of the piece being filled; a generator below yields it once it is long enough. */
class Pieces {
  text = '';

  /** The text so far if it is long enough to be a piece (then started afresh), else null. */
  cut(): string | null {
    if (this.text.length < PIECE_CHARS) return null;
    const piece = this.text;
    this.text = '';
    return piece;
  }

  *value(v: unknown, depth: number): Generator<string> {
    if (depth > 0 && walkable(v)) {
      if (Array.isArray(v)) yield* this.array(v, depth - 1);
      else yield* this.object(v, depth - 1);
    } else {
      this.text += JSON.stringify(v);
    }
    const piece = this.cut();
    if (piece !== null) yield piece;
  }

  private *array(items: unknown[], depth: number): Generator<string> {
    this.text += '[';
    for (let i = 0; i < items.length; i++) {
      if (i > 0) this.text += ',';
      const item = items[i];
      if (skipped(item)) this.text += 'null';
      else yield* this.value(item, depth);
    }
    this.text += ']';
  }

  private *object(o: Record<string, unknown>, depth: number): Generator<string> {
    this.text += '{';
    let first = true;
    for (const key of Object.keys(o)) {
      const v = o[key];
      if (skipped(v)) continue;
      this.text += first ? `${JSON.stringify(key)}:` : `,${JSON.stringify(key)}:`;
      first = false;
      yield* this.value(v, depth);
    }
    this.text += '}';
  }
}

/**
 * JSON lines in pieces: `line` yields the pieces a document's JSON and newline complete (a
 * piece may hold the end of one line and the start of the next), `rest` is the last, shorter
 * one once the documents end.
 */
export class JsonLinePieces {
  private readonly pieces = new Pieces();

  *line(doc: unknown): Generator<string> {
    yield* this.pieces.value(doc, WALK_DEPTH);
    this.pieces.text += '\n';
  }

  rest(): string {
    const rest = this.pieces.text;
    this.pieces.text = '';
    return rest;
  }
}
