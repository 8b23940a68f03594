/**
 * The real processes a scenario runs: `task-executor serve` and `task-executor worker`
 * children (through the test suite's startCli), every one tracked so that the suite kills
 * whatever is left at the end of a scenario, on failure and on a hard timeout too. Agent
 * programs started by the command backend live in process groups of their own (and outlive
 * a worker killed with SIGKILL): they record their group id in a folder, which cleanup
 * signals as groups.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { settingSpecs } from '../../src/config/index.ts';
import { type CliProcess, startCli } from '../../test/helpers/process.ts';
import { call } from './http.ts';

export const MARKS_AGENT = fileURLToPath(new URL('../agents/marks.sh', import.meta.url));

const live = new Set<CliProcess>();
const groupDirs = new Set<string>();

/** Every setting blank (its default) unless given: the caller's environment cannot leak in. */
function cleanEnv(env: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of Object.keys(settingSpecs)) out[name] = '';
  out.TEST_DATABASE_URL = '';
  out.TASK_EXECUTOR_TOKEN = '';
  return { ...out, LOG_LEVEL: 'info', ...env };
}

export interface Server {
  proc: CliProcess;
  base: string;
  pid: number;
}

/**
 * `task-executor serve` on env.PORT; resolves once it answers GET / (the server logs at warn,
 * so per-request log lines do not load the machine).
 */
export async function startServer(env: Record<string, string>, timeoutMs = 30_000): Promise<Server> {
  const port = Number(env.PORT);
  if (!port) throw new Error('startServer needs env.PORT');
  const proc = startCli(['serve'], cleanEnv({ HOST: '127.0.0.1', LOG_LEVEL: 'warn', ...env }));
  live.add(proc);
  proc.child.once('exit', () => live.delete(proc));
  const base = `http://127.0.0.1:${port}`;
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (proc.child.exitCode !== null || proc.child.signalCode !== null)
      throw new Error(`server exited before it answered:\n${proc.output().slice(-3000)}`);
    try {
      const a = await call(base, 'GET', '/', { timeoutMs: 2000 });
      if (a.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > end)
      throw new Error(`server did not answer within ${timeoutMs} ms:\n${proc.output().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { proc, base, pid: proc.child.pid ?? 0 };
}

export interface WorkerSpec {
  id: string;
  apiUrl: string;
  backendType?: string;
  maxParallel?: number;
  env: Record<string, string>;
  token?: string;
}

/** `task-executor worker`; resolves once it has registered with the API. */
export async function startWorker(w: WorkerSpec, timeoutMs = 30_000): Promise<CliProcess> {
  const proc = startCli(
    [
      'worker',
      '--api-url',
      w.apiUrl,
      '--id',
      w.id,
      '--backend-type',
      w.backendType ?? 'command',
      '--max-parallel',
      String(w.maxParallel ?? 1),
    ],
    cleanEnv({ ...w.env, ...(w.token ? { TASK_EXECUTOR_TOKEN: w.token } : {}) }),
  );
  live.add(proc);
  proc.child.once('exit', () => live.delete(proc));
  await proc.waitForLine(/worker started/, timeoutMs);
  return proc;
}

/** SIGKILL, and wait until the process is gone. */
export async function kill9(proc: CliProcess): Promise<void> {
  await proc.stop('SIGKILL');
}

/** Process groups whose leaders write their pid into this folder get SIGKILL at cleanup. */
export function trackGroups(dir: string): void {
  groupDirs.add(dir);
}

function killGroups(): void {
  for (const dir of groupDirs) {
    let names: string[] = [];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const name of names) {
      const pid = Number(name);
      if (!Number.isInteger(pid) || pid <= 1 || !isMarksAgent(pid)) continue;
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

/** The pid still belongs to a marks agent (not to a process that reused the number). */
function isMarksAgent(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('marks.sh');
  } catch {
    return false;
  }
}

/** Whether any process of the group led by pid is still alive. */
export function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Kills every tracked child and agent group; safe to call more than once, and synchronously at exit. */
export function killAll(): void {
  for (const p of live) {
    try {
      p.child.kill('SIGKILL');
    } catch {
      // gone
    }
  }
  killGroups();
}

/** killAll, then wait until the tracked children have exited (bounded). */
export async function cleanup(): Promise<void> {
  const waiting = [...live].map((p) => p.stop('SIGKILL').catch(() => null));
  killGroups();
  await Promise.race([Promise.all(waiting), new Promise((r) => setTimeout(r, 5000))]);
  groupDirs.clear();
}
