import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { generateTrajectories } from '../bench/export-data.ts';
import { JsonLinePieces, PIECE_CHARS } from '../src/datasets/export/json-pieces.ts';

function pieces(values: unknown[]): string[] {
  const lines = new JsonLinePieces();
  const out: string[] = [];
  for (const v of values) out.push(...lines.line(v));
  const rest = lines.rest();
  if (rest) out.push(rest);
  return out;
}

const lines = (values: unknown[]) => values.map((v) => `${JSON.stringify(v)}\n`).join('');

describe('JSON lines in pieces', () => {
  it('joins back to exactly what JSON.stringify writes, whatever the value', () => {
    const odd = {
      a: undefined,
      b: () => 1,
      c: Symbol('s'),
      d: [undefined, () => 1, null, 1, 'x', [], {}, [{ e: undefined, f: 2 }]],
      'k"ey\n': 'v"\u2028\u0000é😀',
      date: new Date(Date.UTC(2026, 0, 2)),
      json: { toJSON: () => ({ replaced: true }) },
      nested: [{ list: [{ deep: [{ deeper: [{ deepest: 1 }] }] }] }],
      empty: [],
      objects: [{}, { x: [1, 2, 3] }],
      mixed: [{ x: 1 }, 2, 'three', null, [4]],
      nullProto: Object.assign(Object.create(null) as object, { z: 1 }),
      num: [0, -0, 1.5, Number.NaN, Number.POSITIVE_INFINITY],
    };
    const values: unknown[] = [odd, [], {}, 'text', 3, null, [odd, odd], { only: undefined }];
    assert.equal(pieces(values).join(''), lines(values));
  });

  it('cuts trajectory lines into pieces of about PIECE_CHARS, joined back byte for byte', () => {
    const records = [...generateTrajectories({ trajectories: 6 })];
    const out = pieces(records);
    assert.equal(out.join(''), lines(records));
    const whole = lines(records).length;
    assert.ok(out.length >= whole / (4 * PIECE_CHARS), `${out.length} pieces for ${whole} characters`);
    // Every piece but the last reaches PIECE_CHARS, and none is much past it: the largest
    // single value (a call with its prompt's token ids) is what a piece can exceed it by.
    for (const p of out.slice(0, -1)) assert.ok(p.length >= PIECE_CHARS, `a short piece: ${p.length}`);
    for (const p of out) assert.ok(p.length < 4 * PIECE_CHARS, `a piece of ${p.length} characters`);
  });

  it('yields a piece as soon as it is full, before the rest of the document is read', () => {
    const read: number[] = [];
    const steps = Array.from({ length: 100 }, (_, i) => ({
      get message() {
        read.push(i);
        return 'x'.repeat(PIECE_CHARS / 10);
      },
    }));
    const first = new JsonLinePieces().line({ steps }).next();
    assert.equal(first.done, false);
    assert.ok(read.length < 20, `${read.length} of 100 steps read for the first piece`);
  });

  it('a JSON.stringify failure (a bigint) fails the line as it would whole', () => {
    assert.throws(() => pieces([{ ok: 1, bad: 1n }]), TypeError);
  });
});
