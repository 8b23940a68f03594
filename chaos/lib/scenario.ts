/** What every scenario gets and gives back. */
import { join } from 'node:path';
import type { PgCluster } from './pg.ts';
import { MARKS_AGENT } from './procs.ts';
import type { Checks } from './util.ts';

export interface ScenarioContext {
  cluster: PgCluster;
  /** Fires at the scenario's hard timeout: loops stop, then every child is killed. */
  signal: AbortSignal;
  /** A folder of its own, removed afterwards. */
  tmp: string;
  log(message: string): void;
}

export interface ScenarioResult {
  checks: Checks;
  /** Key figures for the table, in order. */
  figures: [string, string | number][];
}

export interface Scenario {
  name: string;
  /** What it checks, in a few words, for the table. */
  checks: string;
  /** Hard limit; the scenario fails (and its children are killed) past it. */
  timeoutMs: number;
  run(ctx: ScenarioContext): Promise<ScenarioResult>;
}

/** Server settings for fast fault detection: 5 s leases, 1 s heartbeats, reaper every second. */
export function fastServerEnv(
  ctx: ScenarioContext,
  port: number,
  databaseUrl: string,
): Record<string, string> {
  return {
    PORT: String(port),
    DATABASE_URL: databaseUrl,
    DATA_DIR: join(ctx.tmp, 'server'),
    NUM_INTERNAL_WORKERS: '0',
    TIMEOUT_CHECK_INTERVAL: '1',
    LEASE_SECONDS: '5',
    HEARTBEAT_INTERVAL: '1',
    WORKER_HEARTBEAT_TIMEOUT: '10',
  };
}

/** A remote command worker running the marks agent, with its own data folder. */
export function marksWorkerEnv(ctx: ScenarioContext, id: string): Record<string, string> {
  return {
    DATA_DIR: join(ctx.tmp, id),
    COMMAND_BACKEND_CMD: JSON.stringify([MARKS_AGENT]),
    COMMAND_KILL_GRACE_MS: '2000',
    HEARTBEAT_INTERVAL: '1',
    WORKER_SHUTDOWN_GRACE: '1',
    CHAOS_MARKS: join(ctx.tmp, 'marks.log'),
    CHAOS_PIDS: join(ctx.tmp, 'pids'),
  };
}
