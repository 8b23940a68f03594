/**
 * The text codec: any JavaScript string — NUL, the escape character, lone surrogates — goes
 * through PostgreSQL text and jsonb and comes back as sent (PGlite and PostgreSQL).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decodeText,
  encodeText,
  fromStoredJson,
  hasLoneSurrogate,
  toStoredJson,
} from '../src/db/text-codec.ts';
import { createTestDb, dbModes } from './helpers/db.ts';

const ODD = [
  'plain text',
  'nul \u0000 inside',
  '\u0000',
  'escape \u0001 itself, and \u0001\u0001 twice, and \u00010 that looks encoded',
  'lone high \uD83D end',
  '\uDE00 lone low first',
  'a pair 😀 stays a pair',
  'mixed \u0000\uD800\u0001😀\uDFFF',
  '',
];

describe('text codec', () => {
  it('round-trips every odd string and leaves ordinary ones untouched', () => {
    for (const s of ODD) assert.equal(decodeText(encodeText(s)), s, JSON.stringify(s));
    assert.equal(encodeText('plain text'), 'plain text');
    assert.equal(encodeText('a pair 😀 stays a pair'), 'a pair 😀 stays a pair');
    for (const s of ODD) assert.ok(!encodeText(s).includes('\u0000'));
    for (const s of ODD) assert.ok(!hasLoneSurrogate(encodeText(s)));
  });

  it('round-trips JSON documents, keys included, and stays plain JSON when nothing needs escaping', () => {
    const doc = { 'k\u0000': ['x\u0000', { deep: '\uD800' }], n: 1, b: true, z: null, s: 'ok' };
    const stored = toStoredJson(doc);
    assert.ok(!/\\u0000|\\ud800/i.test(stored));
    assert.deepEqual(fromStoredJson(JSON.parse(stored)), doc);
    assert.equal(toStoredJson({ a: 'b' }), '{"a":"b"}');
  });

  for (const mode of dbModes()) {
    it(`stores them in text and jsonb columns and reads them back as sent (${mode})`, async () => {
      const { db, drop } = await createTestDb(mode);
      try {
        await db.query('CREATE TEMP TABLE codec (t text, j jsonb)');
        for (const s of ODD)
          await db.query('INSERT INTO codec (t, j) VALUES ($1, $2::jsonb)', [
            encodeText(s),
            toStoredJson({ s, list: [s] }),
          ]);
        const { rows } = await db.query<{ t: string; j: unknown }>('SELECT t, j FROM codec');
        assert.deepEqual(
          rows.map((r) => decodeText(r.t)),
          ODD,
        );
        assert.deepEqual(
          rows.map((r) => fromStoredJson(r.j)),
          ODD.map((s) => ({ s, list: [s] })),
        );
      } finally {
        await drop();
      }
    });
  }
});
