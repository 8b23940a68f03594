/**
 * `npm run chaos`: fault scenarios with real processes and real faults on this machine — a
 * private PostgreSQL cluster (never the shared one), `task-executor serve` and `worker`
 * children, SIGKILL, a PostgreSQL crash and restart, a half-open database connection, an LLM
 * upstream that breaks streams, and 10,000 fuzzed requests. Network only to 127.0.0.1.
 *
 * CHAOS_ONLY=name[,name] runs some (names in the table); CHAOS_KEEP=1 keeps each scenario's folder. Every scenario has a hard timeout;
 * every child process is killed when it ends, whatever happened. Prints one row per scenario
 * and exits 1 when any invariant was violated (or a scenario could not finish).
 */
import { rmSync } from 'node:fs';
import { PgCluster } from './lib/pg.ts';
import { cleanup, killAll } from './lib/procs.ts';
import type { Scenario, ScenarioResult } from './lib/scenario.ts';
import { Checks, tempDir } from './lib/util.ts';
import { apiKill } from './scenarios/api-kill.ts';
import { fuzz } from './scenarios/fuzz.ts';
import { halfOpen } from './scenarios/half-open.ts';
import { llmStream } from './scenarios/llm-stream.ts';
import { pgRestart } from './scenarios/pg-restart.ts';
import { workerKill } from './scenarios/worker-kill.ts';

const ALL: Scenario[] = [workerKill, apiKill, pgRestart, halfOpen, llmStream, fuzz];

interface Row {
  scenario: string;
  checks: string;
  result: 'PASS' | 'FAIL';
  figures: string;
  seconds: number;
  violations: string[];
  notes: string[];
}

function selected(): Scenario[] {
  const only = (process.env.CHAOS_ONLY ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (only.length === 0) return ALL;
  const unknown = only.filter((n) => !ALL.some((s) => s.name === n));
  if (unknown.length > 0) {
    console.error(`unknown scenario(s): ${unknown.join(', ')}; known: ${ALL.map((s) => s.name).join(', ')}`);
    process.exit(2);
  }
  return ALL.filter((s) => only.includes(s.name));
}

async function runOne(s: Scenario, cluster: PgCluster): Promise<Row> {
  const started = Date.now();
  const abort = new AbortController();
  const tmp = tempDir(`chaos-${s.name}-`);
  const log = (m: string) =>
    console.log(`  [${s.name} +${((Date.now() - started) / 1000).toFixed(1)}s] ${m}`);
  let timer: NodeJS.Timeout | undefined;
  let result: ScenarioResult;
  try {
    result = await Promise.race([
      s.run({ cluster, signal: abort.signal, tmp: tmp.path, log }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          abort.abort();
          reject(new Error(`hard timeout: did not finish within ${s.timeoutMs / 1000} s`));
        }, s.timeoutMs);
      }),
    ]);
  } catch (err) {
    const checks = new Checks();
    checks.check(false, 'scenario finished', (err as Error).stack ?? String(err));
    result = { checks, figures: [] };
  } finally {
    clearTimeout(timer);
    abort.abort();
    await cleanup();
    // PostgreSQL must be up for the next scenario, whatever this one did to it.
    if (!(await cluster.running()))
      await cluster.start().catch((e) => log(`cannot restart PostgreSQL: ${e}`));
    if (process.env.CHAOS_KEEP) log(`kept ${tmp.path}`);
    else tmp.remove();
  }
  const { checks, figures } = result;
  return {
    scenario: s.name,
    checks: s.checks,
    result: checks.violations.length === 0 ? 'PASS' : 'FAIL',
    figures: figures.map(([k, v]) => `${k}: ${v}`).join(', '),
    seconds: Math.round((Date.now() - started) / 100) / 10,
    violations: checks.violations,
    notes: [`${checks.passed.length} checks passed`, ...checks.notes],
  };
}

function printTable(rows: Row[]): void {
  const head = ['scenario', 'checked', 'result', 'key figures', 's'];
  const data = rows.map((r) => [r.scenario, r.checks, r.result, r.figures, String(r.seconds)]);
  const widths = head.map((h, i) => Math.max(h.length, ...data.map((d) => d[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  console.log(`\n${line(head)}\n|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const d of data) console.log(line(d));
  for (const r of rows) {
    if (r.violations.length === 0 && r.notes.length <= 1) continue;
    console.log(`\n${r.scenario} (${r.notes.join('; ')}):`);
    for (const v of r.violations) console.log(`  VIOLATED ${v}`);
  }
}

async function main(): Promise<number> {
  const scenarios = selected();
  process.once('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM'] as const)
    process.once(sig, () => {
      killAll();
      process.exit(130);
    });
  console.log(`chaos suite: ${scenarios.map((s) => s.name).join(', ')}`);
  const cluster = await PgCluster.create();
  console.log(`private PostgreSQL cluster on 127.0.0.1:${cluster.port} (${cluster.dir})`);
  const rows: Row[] = [];
  try {
    for (const s of scenarios) {
      console.log(`\n== ${s.name}: ${s.checks}`);
      const row = await runOne(s, cluster);
      console.log(`== ${s.name}: ${row.result} in ${row.seconds} s${row.figures ? ` (${row.figures})` : ''}`);
      for (const v of row.violations) console.log(`   VIOLATED ${v}`);
      rows.push(row);
    }
  } finally {
    await cleanup();
    await cluster.destroy().catch(() => {});
    rmSync(cluster.dir, { recursive: true, force: true });
  }
  printTable(rows);
  const failed = rows.filter((r) => r.result === 'FAIL').length;
  console.log(`\n${rows.length - failed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}

process.exitCode = await main();
// Keep-alive sockets and stray timers must not keep the suite alive.
setTimeout(() => process.exit(process.exitCode ?? 0), 500).unref();
