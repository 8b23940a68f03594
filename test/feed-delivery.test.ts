/**
 * The feed's delivery guarantees under the conditions that break naive feeds: last repetitions
 * finishing concurrently on different connections and API replicas, commits landing out of
 * order, a server restart between two reads, and a client that stops reading.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { afterEach, beforeEach, describe, it } from 'node:test';
import pg from 'pg';
import { createApp } from '../src/api/app.ts';
import { loadConfig } from '../src/config/index.ts';
import { START } from '../src/datasets/cursor.ts';
import { readFeedPage } from '../src/datasets/feed-store.ts';
import type { Db } from '../src/db/types.ts';
import { createQueue, type Queue } from '../src/queue/index.ts';
import type { Body } from './helpers/app.ts';
import { createTestDb, dbModes, type TestDb } from './helpers/db.ts';
import { addWorker, newTask } from './helpers/queue-fixtures.ts';
import { openSse, type SseEvent } from './helpers/sse.ts';

const DETECTION = 'sandbox-revoke_auth_mongodb-detection-1';
const WORKER = 'worker-001-sandbox';

interface Server {
  url: string;
  queue: Queue;
  close(): Promise<void>;
}

/** One API process on the shared database: its own queue, hub and port. */
async function startServer(db: Db, env: Record<string, string> = {}): Promise<Server> {
  const config = loadConfig({ LOG_LEVEL: 'silent', FEED_POLL_MS: '20', ...env });
  const queue = createQueue(db, { leaseSeconds: 60, notifyDebounceMs: 2 });
  await queue.start();
  const app = await createApp({ config, queue, logger: false });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    url,
    queue,
    async close() {
      await app.close();
      await queue.stop();
    },
  };
}

async function createExperiment(s: Server, body: Body): Promise<Body> {
  const res = await fetch(`${s.url}/api/v1/experiments`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      name: 'x',
      problems: [DETECTION],
      backend_type: 'sandbox',
      agent_configs: [{}],
      ...body,
    }),
  });
  assert.equal(res.status, 201);
  return (await res.json()) as Body;
}

const RESULT = { task_type: 'detection', results: { 'Detection Accuracy': 'Correct' } };

/** The stream a client should have seen, from the database: cursors of the trajectory feed. */
async function expectedCursors(db: Db, experimentId: string): Promise<string[]> {
  const { rows } = await db.query<Body>(
    `SELECT txid::text || '-' || id AS cursor FROM feed_events
     WHERE experiment_id = $1 AND (kind <> 'task.status' OR status IN ('completed', 'failed', 'timeout', 'cancelled'))
     ORDER BY txid, id`,
    [experimentId],
  );
  return rows.map((r) => r.cursor as string);
}

for (const mode of dbModes()) {
  describe(`feed delivery (${mode})`, () => {
    let testDb: TestDb;
    let servers: Server[];
    beforeEach(async () => {
      testDb = await createTestDb(mode, 20);
      servers = [];
    });
    afterEach(async () => {
      for (const s of servers) await s.close();
      await testDb.drop();
    });
    const start = async (env?: Record<string, string>) => {
      const s = await startServer(testDb.db, env);
      servers.push(s);
      return s;
    };

    it('writes group.completed exactly once when the last repetitions finish concurrently on two replicas', async () => {
      const [a, b] = [await start(), await start()];
      const groups = 12;
      const k = 4;
      const exp = await createExperiment(a, {
        agent_configs: Array.from({ length: groups }, (_, i) => ({ model: `m${i}` })),
        repetitions: k,
      });
      const watchers = [a, b].map((s) =>
        openSse(`${s.url}/api/v1/trajectories/stream?experiment_id=${exp.id}`),
      );
      const [wa, wb] = await Promise.all(watchers);
      // Eight workers, each claims a few; all finishes are sent at once through both replicas' queues.
      for (let w = 1; w <= 8; w++)
        await addWorker(a.queue, `worker-00${w}-sandbox`, { max_parallel: groups * k });
      const claimed = [];
      for (let w = 1; w <= 8; w++) {
        const id = `worker-00${w}-sandbox`;
        for (const task of await a.queue.claim(id, (groups * k) / 8)) claimed.push({ id, task });
      }
      assert.equal(claimed.length, groups * k);
      await Promise.all(
        claimed.map(({ id, task }, i) => (i % 2 ? a : b).queue.complete(id, task.id, task.attempt, RESULT)),
      );
      const { rows } = await testDb.db.query<Body>(
        `SELECT group_id, count(*)::int AS n FROM feed_events WHERE kind = 'group.completed' AND experiment_id = $1
         GROUP BY group_id`,
        [exp.id],
      );
      assert.equal(rows.length, groups);
      assert.ok(rows.every((r) => r.n === 1));
      const expected = await expectedCursors(testDb.db, exp.id);
      for (const w of [wa!, wb!]) {
        await w.until((e) => e.length === expected.length);
        w.close();
        assert.deepEqual(
          w.events.map((e) => e.id),
          expected,
        );
        assert.equal(w.events.filter((e) => e.event === 'group.completed').length, groups);
      }
    });

    it('holds back a later commit until an earlier transaction commits, so no cursor skips an event', async () => {
      if (mode === 'pglite') return; // one connection: transactions cannot overlap
      const s = await start();
      await addWorker(s.queue, WORKER, { max_parallel: 10 });
      const [early, late] = await s.queue.submit([
        newTask({ backend_type: 'sandbox' }),
        newTask({ backend_type: 'sandbox' }),
      ]);
      const head = (await readFeedPage(testDb.db, START, 1000)).at(-1)!.cursor;
      let release!: () => void;
      const held = new Promise<void>((r) => {
        release = r;
      });
      let written!: () => void;
      const inTx = new Promise<void>((r) => {
        written = r;
      });
      // The early transaction takes its id first and commits last.
      const tx = testDb.db.transaction(async (q) => {
        await q.query(`UPDATE tasks SET status = 'cancelled', completed_at = now() WHERE id = $1`, [
          early!.task.id,
        ]);
        written();
        await held;
      });
      await inTx;
      await s.queue.cancel(late!.task.id);
      const before = await readFeedPage(testDb.db, head, 1000);
      assert.deepEqual(before, [], 'nothing after the open transaction is final yet');
      release();
      await tx;
      const after = await readFeedPage(testDb.db, head, 1000);
      assert.deepEqual(
        after.map((e) => e.task_id),
        [early!.task.id, late!.task.id],
      );
    });

    it('is not held back by a writing transaction left open in another database', async () => {
      if (mode === 'pglite') return;
      const s = await start();
      const other = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
      await other.connect();
      try {
        await other.query('BEGIN');
        await other.query('SELECT pg_current_xact_id()');
        const [created] = await s.queue.submit([newTask()]);
        const page = await readFeedPage(testDb.db, START, 1000);
        assert.deepEqual(
          page.map((e) => e.task_id),
          [created!.task.id],
        );
      } finally {
        await other.query('ROLLBACK').catch(() => {});
        await other.end();
      }
    });

    it('files group.completed after every member, even when the last finish took its transaction id first', async () => {
      if (mode === 'pglite') return; // one connection: transactions cannot overlap
      const s = await start();
      await addWorker(s.queue, WORKER, { max_parallel: 10 });
      const exp = await createExperiment(s, { repetitions: 2 });
      const [first, second] = await s.queue.claim(WORKER, 2);
      let release!: () => void;
      const held = new Promise<void>((r) => {
        release = r;
      });
      let started!: () => void;
      const hasId = new Promise<void>((r) => {
        started = r;
      });
      // A takes its transaction id now, finishes the group's last task after B, commits last.
      const a = testDb.db.transaction(async (q) => {
        await q.query('SELECT pg_current_xact_id()');
        started();
        await held;
        await q.query(`UPDATE tasks SET status = 'completed', completed_at = now() WHERE id = $1`, [
          first!.id,
        ]);
      });
      await hasId;
      await s.queue.complete(WORKER, second!.id, second!.attempt, RESULT);
      release();
      await a;
      const { rows } = await testDb.db.query<Body>(
        'SELECT kind, task_id FROM feed_events WHERE experiment_id = $1 AND status IS DISTINCT FROM $2 ORDER BY txid, id',
        [exp.id, 'running'],
      );
      const order = rows.filter((r) => r.kind !== 'task.status' || r.task_id !== null).map((r) => r.kind);
      assert.equal(order.at(-1), 'group.completed', JSON.stringify(rows));
    });

    it('resumes across a server restart from the cursor the old server gave, with no gap or duplicate', async () => {
      let s = await start();
      await addWorker(s.queue, WORKER, { max_parallel: 20 });
      const exp = await createExperiment(s, { repetitions: 10 });
      const finish = async (q: Queue, n: number) => {
        for (const task of await q.claim(WORKER, n)) await q.complete(WORKER, task.id, task.attempt, RESULT);
      };
      const first = await openSse(`${s.url}/api/v1/trajectories/stream?experiment_id=${exp.id}`);
      await finish(s.queue, 4);
      await first.until((e) => e.length === 4);
      const seen: SseEvent[] = [...first.events];
      // Shutdown ends the stream with a disconnect event that names the cursor.
      await s.close();
      servers.splice(servers.indexOf(s), 1);
      await first.ended;
      const bye = first.events.at(-1)!;
      assert.equal(bye.event, 'disconnect');
      assert.equal(bye.data.reason, 'shutdown');
      assert.equal(bye.data.cursor, seen.at(-1)!.id);
      s = await start();
      await finish(s.queue, 6);
      const second = await openSse(`${s.url}/api/v1/trajectories/stream?experiment_id=${exp.id}`, {
        'last-event-id': bye.data.cursor,
      });
      await second.until((e) => e.some((x) => x.event === 'group.completed'));
      second.close();
      seen.push(...second.events);
      assert.deepEqual(
        seen.map((e) => e.id),
        await expectedCursors(testDb.db, exp.id),
      );
    });

    it('disconnects a client that stops reading, with a cursor that resumes without a gap', async () => {
      const s = await start({ FEED_BUFFER_BYTES: '16384', FEED_SLOW_CLIENT_SECONDS: '1' });
      await addWorker(s.queue, WORKER, { max_parallel: 100 });
      const exp = await createExperiment(s, { repetitions: 60 });
      for (const task of await s.queue.claim(WORKER, 60))
        await s.queue.complete(WORKER, task.id, task.attempt, RESULT);
      // Large rewards make each reward.updated event ~200 KB: far more than socket buffers hold.
      const padding = 'x'.repeat(200_000);
      const tasks = (await testDb.db.query<Body>('SELECT id FROM tasks WHERE experiment_id = $1', [exp.id]))
        .rows;
      for (const t of tasks)
        await s.queue.appendReward(t.id as string, {
          name: 'pad',
          value: 1,
          details: { padding },
          written_by: 'test',
        });
      // A raw HTTP client that reads nothing for three seconds, then everything the server sent.
      const body = await new Promise<string>((resolve, reject) => {
        const req = request(
          `${s.url}/api/v1/trajectories/stream?experiment_id=${exp.id}&conversation=compact`,
          (res) => {
            res.pause();
            setTimeout(() => {
              let text = '';
              res.setEncoding('utf8');
              res.on('data', (c: string) => {
                text += c;
              });
              res.on('end', () => resolve(text));
              res.on('error', () => resolve(text));
              res.on('close', () => resolve(text));
              res.resume();
            }, 3000);
          },
        );
        req.on('error', reject);
        req.end();
      });
      const frames = body.split('\n\n').filter((f) => f.includes('data: '));
      const last = frames.at(-1)!;
      assert.match(last, /event: disconnect/);
      const bye = JSON.parse(last.slice(last.indexOf('data: ') + 6));
      assert.equal(bye.reason, 'slow_consumer');
      const ids = frames.map((f) => /^id: (.+)$/m.exec(f)?.[1]).filter((x): x is string => x !== undefined);
      assert.ok(ids.length < 120, `the server stopped early (sent ${ids.length} events)`);
      assert.equal(bye.cursor, ids.at(-1));
      // Resuming from that cursor yields exactly the rest.
      const rest = await openSse(
        `${s.url}/api/v1/trajectories/stream?experiment_id=${exp.id}&conversation=compact`,
        {
          'last-event-id': bye.cursor,
        },
      );
      const expected = await expectedCursors(testDb.db, exp.id);
      await rest.until((e) => e.length === expected.length - ids.length);
      rest.close();
      assert.deepEqual([...ids, ...rest.events.map((e) => e.id)], expected);
      const metrics = await (await fetch(`${s.url}/metrics`)).text();
      assert.match(metrics, /feed_disconnects_total\{stream="trajectories",reason="slow_consumer"\} 1/);
      assert.match(metrics, /feed_subscribers\{stream="trajectories"\} 0/);
    });
  });
}
