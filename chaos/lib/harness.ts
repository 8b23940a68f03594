/**
 * The shape shared by the load scenarios (API kill, PostgreSQL restart, half-open database):
 * one API server and three remote command workers on a database of their own, a submitter
 * and a poller running while a fault is injected, then the end-state checks — every
 * acknowledged task exists once and completed, its result is its final attempt's, and no two
 * attempts of a task ever ran at the same time (from the agents' marks).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  histogram,
  Poller,
  readMarks,
  type Sample,
  Submitter,
  settleReport,
  TERMINAL,
  tasksByPrefix,
} from './load.ts';
import { type Server, startServer, startWorker, trackGroups } from './procs.ts';
import { fastServerEnv, marksWorkerEnv, type ScenarioContext } from './scenario.ts';
import { Checks, freePort, sleep, until } from './util.ts';

export interface LoadHandle {
  ctx: ScenarioContext;
  checks: Checks;
  server: Server;
  serverEnv: Record<string, string>;
  /** The URL the server reaches PostgreSQL at (maybe through a proxy). */
  dbUrl: string;
  /** The URL the suite checks the database at (direct). */
  directDbUrl: string;
  poller: Poller;
  submitter: Submitter;
  /** Restart the server on the same port and environment (after a kill). */
  restartServer(): Promise<Server>;
}

export interface LoadOptions {
  name: string;
  /** Database name on the private cluster. */
  database: string;
  tasks: number;
  perSecond: number;
  /** Seconds of load before the fault. */
  warmupSeconds: number;
  serverEnv?: Record<string, string>;
  /** Point the server at another URL (e.g. through a proxy) for this database. */
  serverDbUrl?: (directUrl: string) => Promise<string> | string;
  /** Poller client timeout: a read slower than this counts as a hang. */
  pollTimeoutMs: number;
  fault(h: LoadHandle): Promise<[string, string | number][]>;
}

const WORKERS = 3;
const SLOTS = 4;

export async function runLoad(ctx: ScenarioContext, o: LoadOptions) {
  const checks = new Checks();
  const pids = join(ctx.tmp, 'pids');
  mkdirSync(pids, { recursive: true });
  trackGroups(pids);
  const directDbUrl = await ctx.cluster.createDatabase(o.database);
  const dbUrl = o.serverDbUrl ? await o.serverDbUrl(directDbUrl) : directDbUrl;
  const port = await freePort();
  const serverEnv = { ...fastServerEnv(ctx, port, dbUrl), ...o.serverEnv };
  let server = await startServer(serverEnv);
  const base = server.base;
  await Promise.all(
    Array.from({ length: WORKERS }, (_, i) => {
      const id = `worker-${String(200 + i + 1)}-kind`;
      return startWorker({ id, apiUrl: base, maxParallel: SLOTS, env: marksWorkerEnv(ctx, id) });
    }),
  );
  const stopPolling = new AbortController();
  const poller = new Poller(base, ['/health', '/api/v1/tasks?limit=5', '/queue/stats'], 100, o.pollTimeoutMs);
  const polling = poller.run(stopPolling.signal);
  const submitter = new Submitter({
    base,
    prefix: o.name,
    total: o.tasks,
    perSecond: o.perSecond,
    problemId: 'chaos-3x0.1',
    maxAttempts: 3,
    signal: ctx.signal,
  });
  const submitting = submitter.run();
  await sleep(o.warmupSeconds * 1000, ctx.signal);
  const handle: LoadHandle = {
    ctx,
    checks,
    get server() {
      return server;
    },
    serverEnv,
    dbUrl,
    directDbUrl,
    poller,
    submitter,
    async restartServer() {
      server = await startServer(serverEnv);
      return server;
    },
  };
  const faultFigures = await o.fault(handle);
  // Submitting goes on after the fault; a system that never recovers must not stall the suite.
  const cutoff = setTimeout(() => submitter.stop(), 25_000);
  await submitting;
  clearTimeout(cutoff);
  ctx.log(
    `submitted ${submitter.acknowledged.size} tasks (${submitter.calls} calls; failed calls: ${histogram([...submitter.failures.entries()].flatMap(([k, n]) => Array(n).fill(k))) || 'none'})`,
  );
  const settleStarted = Date.now();
  let rows = await tasksByPrefix(directDbUrl, o.name);
  try {
    await until(
      async () => {
        rows = await tasksByPrefix(directDbUrl, o.name);
        return rows.length >= submitter.acknowledged.size && rows.every((r) => TERMINAL.has(r.status));
      },
      'every task to end',
      45_000,
      ctx.signal,
      250,
    );
  } catch {
    // reported below
  }
  const settleSeconds = (Date.now() - settleStarted) / 1000;
  stopPolling.abort();
  await polling;
  await sleep(500, ctx.signal); // last marks of runs that were stopped
  const marks = readMarks(join(ctx.tmp, 'marks.log'));
  const r = settleReport(rows, submitter.acknowledged, marks);
  const first = <T>(xs: T[], f: (x: T) => string) => xs.slice(0, 5).map(f).join('; ');
  checks.check(
    submitter.acknowledged.size === o.tasks,
    `all ${o.tasks} tasks submitted`,
    `${submitter.acknowledged.size}`,
  );
  checks.check(
    r.lost.length === 0,
    'no acknowledged task lost',
    `${r.lost.length} missing: ${r.lost.slice(0, 5).join(', ')}`,
  );
  checks.check(
    rows.length === submitter.acknowledged.size,
    'no task duplicated',
    `${rows.length} rows for ${submitter.acknowledged.size} keys`,
  );
  checks.check(
    r.notEnded.length === 0,
    'every task ended (none stuck)',
    `${r.notEnded.length} not ended after ${settleSeconds.toFixed(0)} s: ${first(r.notEnded, (t) => `${t.id} ${t.status} attempt ${t.attempt}`)}`,
  );
  checks.check(
    r.notCompleted.length === 0,
    'every task completed',
    `${r.notCompleted.length}: ${first(r.notCompleted, (t) => `${t.id} ${t.status} ${JSON.stringify(t.error_details).slice(0, 200)}`)}`,
  );
  checks.check(
    r.wrongResult.length === 0,
    "each result is its final attempt's",
    first(r.wrongResult, (t) => `${t.id} attempt ${t.attempt} result ${JSON.stringify(t.result)}`),
  );
  checks.check(
    r.neverRan.length === 0,
    'every completed task ran',
    first(r.neverRan, (t) => t.id),
  );
  checks.check(
    r.overlaps.length === 0,
    'no task ran twice at once',
    first(r.overlaps, (x) => `${x.task} attempts ${x.earlier}/${x.later} overlapped ${x.ms} ms`),
  );
  const statuses = histogram(rows.map((t) => t.status));
  return {
    checks,
    poller,
    samples: poller.samples,
    figures: [
      ...faultFigures,
      ['tasks', `${rows.length} (${statuses})`],
      ['re-run', r.reruns],
      ['settled s', settleSeconds.toFixed(1)],
    ] as [string, string | number][],
  };
}

/** Samples in [from, to) by outcome. */
export function window(samples: Sample[], from: number, to: number): Sample[] {
  return samples.filter((s) => s.at >= from && s.at < to);
}
