/** TurnBatch (src/db/turn-batch.ts): the reads asked in one event-loop turn share one lookup. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TurnBatch } from '../src/db/turn-batch.ts';

test('questions of one turn share one lookup, each caller gets its own keys', async () => {
  const lookups: string[][] = [];
  const batch = new TurnBatch(async (keys: readonly string[]) => {
    lookups.push([...keys]);
    return new Map(keys.filter((k) => k !== 'gone').map((k) => [k, k.toUpperCase()]));
  });
  const [a, b] = await Promise.all([batch.get(['x', 'y']), batch.get(['y', 'z', 'gone'])]);
  assert.deepEqual(lookups, [['x', 'y', 'z', 'gone']]);
  assert.deepEqual(
    [...a],
    [
      ['x', 'X'],
      ['y', 'Y'],
    ],
  );
  assert.deepEqual(
    [...b],
    [
      ['y', 'Y'],
      ['z', 'Z'],
    ],
  );
  await batch.get(['w']);
  assert.deepEqual(lookups.at(-1), ['w'], 'a later turn has a lookup of its own');
});

test('a failed lookup fails every caller of its turn, and the next turn starts afresh', async () => {
  let fail = true;
  const batch = new TurnBatch(async (keys: readonly number[]) => {
    if (fail) throw new Error('database down');
    return new Map(keys.map((k) => [k, k * 2]));
  });
  const both = [batch.get([1]), batch.get([2])];
  for (const p of both) await assert.rejects(p, /database down/);
  fail = false;
  assert.deepEqual([...(await batch.get([3]))], [[3, 6]]);
});
