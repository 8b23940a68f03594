/**
 * The log batcher: lines go out in order, in requests the API accepts (≤ 1000 entries),
 * transient failures are retried, and a fencing refusal stops all later shipping.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { NewLog } from '../src/queue/types.ts';
import { LogBatcher } from '../src/worker/log-batcher.ts';

const line = (i: number): NewLog => ({ level: 'info', message: `line ${i}`, source: 'stdout' });

test('lines are shipped in order, in requests of at most 1000 entries', async () => {
  const sent: NewLog[][] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const b = new LogBatcher(
    async (logs) => {
      sent.push(logs);
      await gate;
      return true;
    },
    (err) => assert.fail(String(err)),
  );
  // The first batch of 100 stays in flight while 2,400 more lines pile up behind it.
  for (let i = 0; i < 2500; i++) b.add(line(i));
  release();
  await b.flush();
  assert.ok(sent.every((batch) => batch.length <= 1000));
  const all = sent.flat().map((l) => l.message);
  assert.deepEqual(
    all,
    Array.from({ length: 2500 }, (_, i) => `line ${i}`),
  );
  assert.ok(
    sent.flat().every((l) => typeof l.timestamp === 'string'),
    'stamped when logged',
  );
});

test('a batch is shipped after the interval without waiting for more lines', async () => {
  const sent: NewLog[][] = [];
  const b = new LogBatcher(
    async (logs) => {
      sent.push(logs);
      return true;
    },
    () => {},
    { intervalMs: 10 },
  );
  b.add(line(1));
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(
    sent.map((s) => s.map((l) => l.message)),
    [['line 1']],
  );
});

test('a transient failure is retried; a refusal drops everything after it', async () => {
  let calls = 0;
  const sent: string[] = [];
  const b = new LogBatcher(
    async (logs) => {
      calls++;
      if (calls === 1) throw new Error('connection reset');
      if (calls === 3) return false;
      sent.push(...logs.map((l) => l.message));
      return true;
    },
    (err) => assert.fail(String(err)),
  );
  b.add(line(1));
  await b.flush();
  assert.deepEqual(sent, ['line 1'], 'shipped on the second try');
  b.add(line(2));
  await b.flush();
  b.add(line(3));
  await b.flush();
  assert.equal(calls, 3, 'nothing is sent once the queue refused');
  assert.deepEqual(sent, ['line 1']);
});

test('lines beyond the buffer limit are counted and reported, not held', async () => {
  const sent: NewLog[] = [];
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  const b = new LogBatcher(
    async (logs) => {
      await gate;
      sent.push(...logs);
      return true;
    },
    () => {},
    { maxBatch: 5, maxBuffered: 10 },
  );
  for (let i = 0; i < 30; i++) b.add(line(i));
  open();
  await b.flush();
  const notice = sent.find((l) => /dropped/.test(l.message));
  assert.ok(notice, 'a line says how many were dropped');
  assert.equal(notice.level, 'warning');
  const kept = sent.filter((l) => l !== notice).length;
  assert.equal(kept + Number(/^(\d+)/.exec(notice.message)![1]), 30);
});
