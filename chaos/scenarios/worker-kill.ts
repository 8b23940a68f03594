/**
 * 1. kill -9 of a remote worker in the middle of its tasks. Two tasks run on worker A (one
 * that prints progress, one quiet like an agent blocked in `kubectl wait`); A is killed with
 * SIGKILL; worker B must get both back once the lease lapses (the reaper), run each exactly
 * once more, and the logs A shipped before it died must still be there. The agent programs
 * A had started live in process groups of their own: whether they outlive A is measured, and
 * an orphan still running when the task runs again is a violation (two runs at once).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { json } from '../lib/http.ts';
import { readMarks } from '../lib/load.ts';
import { withClient } from '../lib/pg.ts';
import { groupAlive, kill9, startServer, startWorker, trackGroups } from '../lib/procs.ts';
import { fastServerEnv, marksWorkerEnv, type Scenario } from '../lib/scenario.ts';
import { Checks, freePort, seconds, sleep, until } from '../lib/util.ts';

type TaskJson = {
  id: string;
  status: string;
  attempt: number;
  worker_id: string | null;
  result: { attempt?: number } | null;
};

const LEASE_SECONDS = 5;

export const workerKill: Scenario = {
  name: 'worker-kill',
  checks: 'kill -9 of a remote worker mid-task: rescued by the reaper, re-run once, logs kept, no orphan run',
  timeoutMs: 100_000,
  async run(ctx) {
    const checks = new Checks();
    const pids = join(ctx.tmp, 'pids');
    mkdirSync(pids, { recursive: true });
    trackGroups(pids);
    const dbUrl = await ctx.cluster.createDatabase('chaos_worker_kill');
    const port = await freePort();
    const server = await startServer(fastServerEnv(ctx, port, dbUrl));
    const base = server.base;
    const workerA = await startWorker({
      id: 'worker-101-kind',
      apiUrl: base,
      maxParallel: 2,
      env: marksWorkerEnv(ctx, 'worker-101-kind'),
    });
    // 40 steps × 0.25 s = 10 s of work each.
    const submit = (problem: string) =>
      json<TaskJson>(base, 'POST', '/api/v1/tasks', {
        problem_id: problem,
        backend_type: 'command',
        max_attempts: 3,
      });
    const loud = await submit('chaos-40x0.25');
    const quiet = await submit('chaos-40x0.25-quiet');
    const ids = [loud.id, quiet.id];
    const get = (id: string) => json<TaskJson>(base, 'GET', `/api/v1/tasks/${id}`);
    await until(
      async () =>
        (await Promise.all(ids.map(get))).every(
          (t) => t.status === 'running' && t.worker_id === 'worker-101-kind',
        ),
      'both tasks running on worker A',
      15_000,
      ctx.signal,
    );
    // Let A ship some logs (batches every 200 ms) and the agents mark a few beats.
    await sleep(2000, ctx.signal);
    const logsBefore = await withClient(dbUrl, async (c) => {
      const r = await c.query<{ task_id: string; n: number }>(
        `SELECT task_id::text, count(*)::int AS n FROM task_logs WHERE attempt = 1 GROUP BY task_id`,
      );
      return new Map(r.rows.map((x) => [x.task_id, x.n]));
    });
    // B waits idle (long-polling) before A dies, so the rescue time is the queue's, not B's start.
    const workerB = await startWorker({
      id: 'worker-102-kind',
      apiUrl: base,
      maxParallel: 2,
      env: marksWorkerEnv(ctx, 'worker-102-kind'),
    });
    const killedAt = Date.now();
    await kill9(workerA);
    ctx.log(`worker A killed (pid ${workerA.child.pid})`);

    const requeuedAt = new Map<string, number>();
    const reclaimedAt = new Map<string, number>();
    await until(
      async () => {
        for (const t of await Promise.all(ids.map(get))) {
          if (!requeuedAt.has(t.id) && (t.status === 'pending' || t.attempt >= 2))
            requeuedAt.set(t.id, Date.now());
          if (!reclaimedAt.has(t.id) && t.status === 'running' && t.attempt === 2)
            reclaimedAt.set(t.id, Date.now());
        }
        return reclaimedAt.size === ids.length || undefined;
      },
      'both tasks claimed again',
      30_000,
      ctx.signal,
      50,
    );
    const rescue = Math.max(...[...reclaimedAt.values()].map((t) => t - killedAt));
    const requeue = Math.max(...[...requeuedAt.values()].map((t) => t - killedAt));
    const bound = (LEASE_SECONDS + 1 + 3) * 1000;
    checks.check(
      rescue <= bound,
      `rescued within lease + reaper interval + 3 s (${bound / 1000} s)`,
      `${seconds(rescue)} s`,
    );

    const final = await until(
      async () => {
        const ts = await Promise.all(ids.map(get));
        return ts.every((t) => ['completed', 'failed', 'timeout', 'cancelled'].includes(t.status)) && ts;
      },
      'both tasks to end',
      30_000,
      ctx.signal,
    );
    // Orphans of A (if any) finish their 10 s within this wait; let them write their last marks.
    await sleep(1000, ctx.signal);
    const marks = readMarks(join(ctx.tmp, 'marks.log'));
    let orphanBeyondKill = 0;
    for (const t of final) {
      const label = t.id === loud.id ? 'progress-printing task' : 'quiet task';
      checks.check(t.status === 'completed', `${label} completed`, `status ${t.status}`);
      checks.check(t.attempt === 2, `${label} claimed exactly twice (attempt 2)`, `attempt ${t.attempt}`);
      checks.check(t.result?.attempt === 2, `${label} result is attempt 2's`, JSON.stringify(t.result));
      const m = marks.get(t.id);
      const a1 = m?.get(1);
      const a2 = m?.get(2);
      checks.check((a2?.starts ?? 0) === 1 && !!a2?.ended, `${label} attempt 2 ran exactly once, to its end`);
      checks.check(!m?.has(3), `${label} never ran a third time`);
      checks.check((logsBefore.get(t.id) ?? 0) > 0, `${label} shipped logs before the kill`);
      const kept = await withClient(dbUrl, async (c) =>
        Number(
          (
            await c.query<{ n: number }>(
              'SELECT count(*)::int AS n FROM task_logs WHERE task_id = $1 AND attempt = 1',
              [t.id],
            )
          ).rows[0]?.n,
        ),
      );
      checks.check(
        kept >= (logsBefore.get(t.id) ?? 0) && kept > 0,
        `${label} logs of the killed attempt kept`,
        `${kept} rows`,
      );
      if (a1 && a2) {
        const orphanMs = a1.last - killedAt;
        orphanBeyondKill = Math.max(orphanBeyondKill, orphanMs);
        ctx.log(
          `${label}: attempt 1 last marked ${seconds(orphanMs)} s after the kill; attempt 2 started ${seconds(a2.first - killedAt)} s after`,
        );
        checks.check(
          a1.last <= a2.first,
          `${label}: the killed worker's run stopped before the task ran again`,
          `its agent (process group ${[...a1.pids].join(',')}) was orphaned and kept running ${seconds(a1.last - a2.first)} s into attempt 2 (marked until ${seconds(orphanMs)} s after the kill)`,
        );
      }
    }
    const orphansAlive = [...marks.values()]
      .flatMap((m) => [...(m.get(1)?.pids ?? [])])
      .filter(groupAlive).length;
    await workerB.stop('SIGTERM');
    await server.proc.stop('SIGTERM');
    return {
      checks,
      figures: [
        ['requeue s', seconds(requeue)],
        ['rescue s', seconds(rescue)],
        ['orphan ran after kill s', seconds(orphanBeyondKill)],
        ['orphans alive at end', orphansAlive],
      ],
    };
  },
};
