/**
 * Peer queues measured in the same `npm run bench` run as ours, so ratios compare like with
 * like on a noisy machine: graphile-worker (default configuration, and tuned), pg-boss, through
 * the scripts of shared/bench-peers. Their dependencies are never part of this repository:
 * install that folder somewhere (`npm install` in a copy of it) and point BENCH_PEERS_DIR at
 * it. Without it (or without PostgreSQL) the part prints "peers: not installed" and the ratios
 * are left out.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export interface PeerFigures {
  graphile_default_drain_per_s?: number;
  graphile_tuned_drain_per_s?: number;
  pgboss_drain_per_s?: number;
  graphile_latency_ms?: { p50: number; p99: number };
}

/** Where the peers are installed, or why they cannot run here. */
export function peersDir(databaseUrl: string | undefined): { dir: string } | { missing: string } {
  const dir = process.env.BENCH_PEERS_DIR;
  if (!dir || !existsSync(join(dir, 'node_modules', 'graphile-worker')))
    return { missing: 'not installed (set BENCH_PEERS_DIR to an npm-installed copy of shared/bench-peers)' };
  if (!databaseUrl) return { missing: 'need PostgreSQL (DATABASE_URL)' };
  return { dir };
}

/** Runs one peer script; its last stdout line is one JSON object of figures. */
async function runPeer(dir: string, databaseUrl: string, args: string[]): Promise<Record<string, unknown>> {
  const child = spawn(process.execPath, args, {
    cwd: dir,
    env: { ...process.env, DATABASE_URL: databaseUrl, BENCH_DIR: join(dir, 'run') },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (c) => {
    out += String(c);
  });
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  const line = out.trim().split('\n').at(-1) ?? '';
  if (code !== 0 || !line.startsWith('{')) throw new Error(`peer ${args.join(' ')} failed (exit ${code})`);
  return JSON.parse(line) as Record<string, unknown>;
}

/** The peers' drains of `tasks` no-op jobs and graphile-worker's dispatch latency. */
export async function peerBench(dir: string, databaseUrl: string, tasks: number): Promise<PeerFigures> {
  const drain = async (args: string[]) => (await runPeer(dir, databaseUrl, args)).drain_jobs_per_s as number;
  const n = String(tasks);
  const figures: PeerFigures = {
    graphile_default_drain_per_s: await drain(['gw.mjs', 'drain', '10', '0', n]),
    graphile_tuned_drain_per_s: await drain(['gw.mjs', 'drain', '24', '1', n]),
    pgboss_drain_per_s: await drain(['boss.mjs', 'drain', '10', '100', n]),
  };
  const lat = (await runPeer(dir, databaseUrl, ['gw.mjs', 'latency', '200', '20'])).latency_ms as {
    p50: number;
    p99: number;
  };
  figures.graphile_latency_ms = { p50: lat.p50, p99: lat.p99 };
  return figures;
}
