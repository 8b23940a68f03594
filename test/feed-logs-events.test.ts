/**
 * The log stream and the status event stream over a real HTTP server, and the CLI that follows
 * them: entries in order with (txid, id) cursors, resume by Last-Event-ID and ?after= with no
 * gap or duplicate, the `end` event after the finish's own entries, a log batch that commits
 * late (PostgreSQL), task.status transitions with previous_status (a requeue included), the
 * filters, and `logs --follow` / `submit --follow` reading the stream until the task ends.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { createClient } from '../src/cli/client.ts';
import { followTasks } from '../src/cli/follow.ts';
import { showLogs } from '../src/cli/logs.ts';
import { parseCursor } from '../src/datasets/cursor.ts';
import type { Db, Queryable } from '../src/db/types.ts';
import { appendFenced } from '../src/queue/logs.ts';
import { reapOnce } from '../src/queue/reaper.ts';
import type { NewLog, Task } from '../src/queue/types.ts';
import { type Body, createTestApp, json, type TestApp } from './helpers/app.ts';
import { dbModes } from './helpers/db.ts';
import { startCli } from './helpers/process.ts';
import { addWorker, claimOne, expireLease, sleep } from './helpers/queue-fixtures.ts';
import { openSse, type SseEvent } from './helpers/sse.ts';

const WORKER = 'worker-001-sandbox';
const PROBLEM = 'sandbox-revoke_auth_mongodb-detection-1';

/** The child's exit code; a child still running after `ms` is killed and the test fails. */
async function exitCode(child: ChildProcess, ms: number): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  const timer = setTimeout(() => child.kill('SIGKILL'), ms);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return code;
}

/**
 * Opens a transaction, runs `first` in it and keeps it open; the function returned commits it
 * (and may be called again, e.g. from a finally, so a failing test never leaves it open).
 */
async function openTransaction(
  db: Db,
  first: (q: Queryable) => Promise<unknown>,
): Promise<() => Promise<void>> {
  let release!: () => void;
  const held = new Promise<void>((r) => {
    release = r;
  });
  let started!: () => void;
  const ready = new Promise<void>((r) => {
    started = r;
  });
  const done = db.transaction(async (q) => {
    await first(q);
    started();
    await held;
  });
  await Promise.race([ready, done]);
  return async () => {
    release();
    await done;
  };
}

const logsOf = (events: SseEvent[]) => events.filter((e) => e.event === 'log');
const info = (...messages: string[]): NewLog[] => messages.map((message) => ({ level: 'info', message }));

/** The cursors are increasing in (txid, id) order. */
function assertOrdered(events: SseEvent[]) {
  const cursors = events.map((e) => parseCursor(e.id!)!);
  for (let i = 1; i < cursors.length; i++) {
    const [a, b] = [cursors[i - 1]!, cursors[i]!];
    assert.ok(
      a.txid < b.txid || (a.txid === b.txid && a.id < b.id),
      `${events[i - 1]!.id} < ${events[i]!.id}`,
    );
  }
}

for (const mode of dbModes()) {
  describe(`log stream and status events (${mode})`, () => {
    let t: TestApp;
    beforeEach(async () => {
      t = await createTestApp(mode, { listen: true, env: { FEED_POLL_MS: '20' } });
    });
    afterEach(() => t.close());

    const submit = async (body: Body = {}): Promise<Task> => {
      const res = await t.inject({
        method: 'POST',
        url: '/api/v1/tasks',
        payload: { problem_id: PROBLEM, backend_type: 'sandbox', ...body },
      });
      assert.equal(res.statusCode, 201, res.body);
      return json<Task>(res);
    };
    /** A task claimed by the test's worker. */
    const running = async (): Promise<Task> => {
      await submit();
      await addWorker(t.queue, WORKER, { max_parallel: 10 });
      return claimOne(t.queue, WORKER);
    };
    const append = (task: Task, logs: NewLog[]) => t.queue.appendLogs(WORKER, task.id, task.attempt, logs);
    const complete = (task: Task) =>
      t.queue.complete(WORKER, task.id, task.attempt, { task_type: 'detection', results: {} });
    /** Every entry as GET /tasks/{id}/logs returns it, oldest first. */
    const storedLogs = async (id: string): Promise<Body[]> =>
      json<Body>(await t.inject({ url: `/api/v1/tasks/${id}/logs?after=0&limit=1000` })).logs;
    const logStream = (id: string, query = '', headers: Record<string, string> = {}) =>
      openSse(`${t.url}/api/v1/tasks/${id}/logs/stream${query}`, headers);

    describe('GET /api/v1/tasks/{id}/logs/stream', () => {
      it('sends every entry in order, as the logs endpoint shows it, with (txid, id) cursors', async () => {
        const task = await running();
        await append(task, info('one', 'two'));
        await append(task, [{ level: 'warning', message: 'three', context: { step: 1 } }]);
        const sse = await logStream(task.id);
        assert.equal(sse.status, 200);
        const stored = await storedLogs(task.id);
        const events = await sse.until((e) => e.length >= stored.length);
        sse.close();
        assert.deepEqual(
          events.map((e) => e.data),
          stored,
        );
        for (const e of events) {
          assert.equal(e.event, 'log');
          assert.match(e.id!, /^\d+-\d+$/);
          assert.equal(parseCursor(e.id!)!.id, BigInt(e.data.seq));
        }
        assertOrdered(events);
        assert.deepEqual(stored.map((l) => l.message).slice(-3), ['one', 'two', 'three']);
      });

      it('resumes after a cursor with Last-Event-ID and with ?after=, with no gap or duplicate', async () => {
        const task = await running();
        await append(task, info('a1', 'a2'));
        const first = await logStream(task.id);
        const seen = [...(await first.until((e) => e.some((x) => x.data.message === 'a2')))];
        first.close();
        // Written while nobody listened.
        await append(task, info('b1', 'b2'));
        const second = await logStream(task.id, '', { 'last-event-id': seen.at(-1)!.id! });
        seen.push(...(await second.until((e) => e.some((x) => x.data.message === 'b2'))));
        second.close();
        await append(task, info('c1'));
        const third = await logStream(task.id, `?after=${seen.at(-1)!.id}`);
        seen.push(...(await third.until((e) => e.some((x) => x.data.message === 'c1'))));
        third.close();
        assert.deepEqual(
          seen.map((e) => e.data.seq),
          (await storedLogs(task.id)).map((l) => l.seq),
        );
        assertOrdered(seen);
      });

      it('ends with `end` once the task is terminal, after the entries the finish wrote', async () => {
        const task = await running();
        const sse = await logStream(task.id);
        await append(task, info('working'));
        await sse.until((e) => e.some((x) => x.data.message === 'working'));
        await append(task, info('last words'));
        await complete(task);
        const events = await sse.until((e) => e.some((x) => x.event === 'end'));
        await sse.ended;
        assert.deepEqual(events.at(-1), {
          id: undefined,
          event: 'end',
          data: { task_id: task.id, status: 'completed' },
        });
        const logs = logsOf(events);
        assert.equal(logs.at(-2)!.data.message, 'last words');
        assert.match(logs.at(-1)!.data.message, /^Completed \(reported by worker/);
        assert.deepEqual(
          logs.map((e) => e.data.seq),
          (await storedLogs(task.id)).map((l) => l.seq),
        );
        // A finished task's stream sends its whole log, then the end, and closes.
        const again = await logStream(task.id, `?after=${logs[0]!.id}`);
        await again.ended;
        assert.deepEqual(
          again.events.map((e) => e.id),
          [...logs.slice(1).map((e) => e.id), undefined],
        );
      });

      it('filters by level', async () => {
        const task = await running();
        await append(task, [
          { level: 'debug', message: 'd' },
          { level: 'warning', message: 'w' },
          { level: 'info', message: 'i' },
          { level: 'error', message: 'e' },
        ]);
        await complete(task);
        const sse = await logStream(task.id, '?level=warning,error');
        await sse.ended;
        assert.deepEqual(
          logsOf(sse.events).map((e) => [e.data.level, e.data.message]),
          [
            ['warning', 'w'],
            ['error', 'e'],
          ],
        );
        assert.equal(sse.events.at(-1)!.event, 'end');
      });

      it('answers 404 for an unknown task and 422 for a cursor it did not write', async () => {
        const unknown = await fetch(`${t.url}/api/v1/tasks/${crypto.randomUUID()}/logs/stream`);
        assert.equal(unknown.status, 404);
        assert.equal(((await unknown.json()) as Body).code, 'TASK_NOT_FOUND');
        const task = await submit();
        const badQuery = await fetch(`${t.url}/api/v1/tasks/${task.id}/logs/stream?after=12`);
        assert.equal(badQuery.status, 422);
        await badQuery.body?.cancel();
        const badHeader = await fetch(`${t.url}/api/v1/tasks/${task.id}/logs/stream`, {
          headers: { 'last-event-id': 'bogus' },
        });
        assert.equal(badHeader.status, 422);
        await badHeader.body?.cancel();
      });

      if (mode === 'postgres')
        it('holds back entries behind a batch whose transaction commits late, then sends both in order', async () => {
          const task = await running();
          const sse = await logStream(task.id);
          await append(task, info('before'));
          await sse.until((e) => e.some((x) => x.data.message === 'before'));
          const commitLate = await openTransaction(t.db, (q) =>
            appendFenced(q, task.id, WORKER, task.attempt, info('late')),
          );
          try {
            // Appended and committed after the open batch: its id and txid are both larger.
            await append(task, info('early'));
            await sleep(300);
            const before = sse.events.length;
            assert.ok(
              !sse.events.some((e) => e.data.message === 'early'),
              'delivered past an open transaction',
            );
            await commitLate();
            const events = await sse.until((e) => e.some((x) => x.data.message === 'early'));
            const tail = events.slice(before).map((e) => e.data.message);
            assert.deepEqual(tail, ['late', 'early']);
            assertOrdered(events);
            // A resume from the last cursor repeats nothing.
            sse.close();
            const resumed = await logStream(task.id, '', { 'last-event-id': events.at(-1)!.id! });
            await append(task, info('after'));
            const more = await resumed.until((e) => e.length > 0);
            resumed.close();
            assert.deepEqual(
              more.map((e) => e.data.message),
              ['after'],
            );
          } finally {
            await commitLate();
          }
        });

      if (mode === 'postgres')
        it('does not end before the finish’s entries while an older transaction is still open', async () => {
          const task = await running();
          const sse = await logStream(task.id);
          await sse.until((e) => e.length > 0);
          // Any older transaction with an id (here one that writes nothing) holds back newer rows.
          const commitOlder = await openTransaction(t.db, (q) => q.query('SELECT pg_current_xact_id()'));
          try {
            await complete(task);
            await sleep(300);
            assert.ok(
              !sse.events.some((e) => e.event === 'end'),
              'ended before the finish’s entries were final',
            );
            await commitOlder();
            const events = await sse.until((e) => e.some((x) => x.event === 'end'));
            assert.match(events.at(-2)!.data.message, /^Completed \(reported by worker/);
            assert.deepEqual(
              logsOf(events).map((e) => e.data.seq),
              (await storedLogs(task.id)).map((l) => l.seq),
            );
          } finally {
            await commitOlder();
          }
        });
    });

    describe('GET /api/v1/events', () => {
      const statusStream = (query: string) => openSse(`${t.url}/api/v1/events?${query}`);
      const transitions = (events: SseEvent[]) => events.map((e) => [e.data.previous_status, e.data.status]);

      it('sends pending → running → completed with previous_status and the task’s fields', async () => {
        const task = await running();
        const sse = await statusStream(`task_id=${task.id}`);
        await complete(task);
        const events = await sse.until((e) => e.some((x) => x.data.terminal));
        sse.close();
        assert.deepEqual(transitions(events), [
          [null, 'pending'],
          ['pending', 'running'],
          ['running', 'completed'],
        ]);
        for (const e of events) {
          assert.equal(e.event, 'task.status');
          assert.equal(e.id, e.data.cursor);
          assert.equal(e.data.task_id, task.id);
          assert.equal(e.data.problem_id, PROBLEM);
          assert.equal(e.data.backend_type, 'sandbox');
          assert.equal(e.data.terminal, e.data.status === 'completed');
        }
        assert.ok(events.every((e) => e.data.worker_id === WORKER && e.data.attempt === task.attempt));
        assertOrdered(events);
      });

      it('shows a requeue after a lost lease as running → pending', async () => {
        const task = await submit({ max_attempts: 2 });
        await addWorker(t.queue, WORKER);
        const first = await claimOne(t.queue, WORKER);
        await expireLease(t.db, task.id);
        assert.equal((await reapOnce(t.queue, 3600))?.requeued, 1);
        const second = await claimOne(t.queue, WORKER);
        assert.equal(second.attempt, first.attempt + 1);
        const sse = await statusStream(`task_id=${task.id}`);
        const events = await sse.until((e) => e.length >= 4);
        sse.close();
        assert.deepEqual(transitions(events), [
          [null, 'pending'],
          ['pending', 'running'],
          ['running', 'pending'],
          ['pending', 'running'],
        ]);
        // The task's fields are read with the page: the attempt is the current one.
        assert.ok(events.every((e) => e.data.attempt === second.attempt));
      });

      it('filters by status, task and experiment; `types` adds group.completed', async () => {
        await addWorker(t.queue, WORKER, { max_parallel: 10 });
        const created = await t.inject({
          method: 'POST',
          url: '/api/v1/experiments',
          payload: {
            name: 'e',
            problems: [PROBLEM],
            backend_type: 'sandbox',
            agent_configs: [{}],
            repetitions: 2,
          },
        });
        assert.equal(created.statusCode, 201, created.body);
        const exp = json<Body>(created);
        const loose = await submit();
        const byStatus = await statusStream('after=0&status=running,failed');
        const byTask = await statusStream(`task_id=${loose.id}`);
        const byExperiment = await statusStream(`experiment_id=${exp.id}`);
        const withGroups = await statusStream(`experiment_id=${exp.id}&types=task.status,group.completed`);
        const claimed = await t.queue.claim(WORKER, 3);
        assert.equal(claimed.length, 3);
        for (const task of claimed) await complete(task);

        const groups = await withGroups.until((e) => e.some((x) => x.event === 'group.completed'));
        const group = groups.at(-1)!;
        assert.equal(group.event, 'group.completed');
        assert.equal(group.data.experiment_id, exp.id);
        assert.equal(group.data.size, 2);
        assert.equal(groups.filter((e) => e.event === 'task.status').length, 6);

        const experimentEvents = await byExperiment.until((e) => e.length >= 6);
        const runningOnly = await byStatus.until((e) => e.length >= 3);
        const looseEvents = await byTask.until((e) => e.length >= 3);
        await sleep(200);
        assert.equal(byExperiment.events.length, 6, 'no group.completed unless asked for');
        assert.ok(
          experimentEvents.every((e) => e.event === 'task.status' && e.data.experiment_id === exp.id),
        );
        assert.equal(byStatus.events.length, 3);
        assert.deepEqual(new Set(runningOnly.map((e) => e.data.status)), new Set(['running']));
        assert.equal(byTask.events.length, 3);
        assert.ok(looseEvents.every((e) => e.data.task_id === loose.id));
        for (const s of [byStatus, byTask, byExperiment, withGroups]) s.close();
      });
    });

    describe('the CLI', () => {
      /** Waits (bounded) until the collected lines satisfy `pred`. */
      const linesUntil = async (lines: string[], pred: (l: string[]) => boolean) => {
        for (let i = 0; i < 500 && !pred(lines); i++) await sleep(20);
        assert.ok(pred(lines), `lines so far:\n${lines.join('\n')}`);
      };

      it('`logs --follow` prints the latest --limit entries, then new ones, and exits with the status', async () => {
        const task = await running();
        await append(task, info('e1', 'e2', 'e3', 'e4'));
        const lines: string[] = [];
        const notes: string[] = [];
        const done = showLogs(
          createClient(t.url),
          task.id,
          { limit: 2, follow: true },
          { line: (l) => lines.push(l), note: (l) => notes.push(l) },
        );
        await linesUntil(lines, (l) => l.some((x) => x.includes('e4')));
        await append(task, info('e5'));
        await complete(task);
        assert.equal(await done, 'completed');
        const messages = lines.map((l) => l.replace(/^.*? \[\w+\] /, ''));
        assert.equal(messages.length, 5, lines.join('\n'));
        assert.deepEqual(messages.slice(0, 3), ['e3', 'e4', 'e5']);
        assert.match(messages[3]!, /^Completed \(reported by worker/);
        assert.equal(messages[4], '== completed');
        assert.deepEqual(notes, []);
      });

      it('`task-executor logs --follow --json` as a process: one entry per line, exit code 0 when the task ends', async () => {
        const task = await running();
        await append(task, info('from the start'));
        const cli = startCli(['logs', task.id, '--follow', '--json', '--api-url', t.url], {});
        await cli.waitForLine(/from the start/, 30_000);
        await append(task, info('while following'));
        await t.queue.fail(WORKER, task.id, task.attempt, { reason: 'boom', message: 'boom' });
        await cli.waitForLine(/^== failed$/, 30_000);
        assert.equal(await exitCode(cli.child, 30_000), 0);
        const out = cli.output().trim().split('\n');
        const entries = out.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
        assert.deepEqual(
          entries.map((e) => e.seq),
          (await storedLogs(task.id)).map((l) => l.seq),
        );
        assert.ok(entries.some((e) => e.message === 'while following'));
      });

      it('`submit --follow` shows the waiting reason, the episode steps and the outcome from the stream', async () => {
        const task = await submit();
        const lines: string[] = [];
        const done = followTasks(createClient(t.url), [task], (l) => lines.push(l));
        await linesUntil(lines, (l) => l.some((x) => x.startsWith('waiting: ')));
        await addWorker(t.queue, WORKER);
        const claimed = await claimOne(t.queue, WORKER);
        await append(claimed, [
          {
            level: 'info',
            message: 'step 1',
            context: {
              step: 1,
              reply: 'Look at the pods.',
              call: { api: 'exec_shell', args: ['kubectl get pods'], kwargs: {} },
              observation_head: 'NAME READY',
              observation_chars: 10,
              duration_ms: 5,
            },
          },
        ]);
        await complete(claimed);
        assert.equal(await done, true);
        assert.equal(lines.filter((l) => /^waiting: No live worker/.test(l)).length, 1, lines.join('\n'));
        assert.ok(lines.includes('── step 1 ────────────────────────────────────────'), lines.join('\n'));
        assert.ok(lines.includes('  call:  exec_shell("kubectl get pods")'));
        assert.ok(lines.includes('  │ NAME READY'));
        assert.equal(lines.filter((l) => l.startsWith('== ')).length, 1);
        assert.equal(lines.at(-2), '== completed');
      });
    });
  });
}
