/** Child processes of the real CLI for end-to-end tests: spawn, read JSON log lines, stop with a signal. */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestDb, type DbMode, type TestDb } from './db.ts';

export const CLI = fileURLToPath(new URL('../../bin/task-executor.mjs', import.meta.url));

export interface CliProcess {
  child: ChildProcess;
  output: () => string;
  /** Resolves with the first stdout/stderr line matching re (rejects if the process exits first). */
  waitForLine(re: RegExp, timeoutMs?: number): Promise<string>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function startCli(args: string[], env: Record<string, string>): CliProcess {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return watchChild(child, (signal) => child.kill(signal));
}

/**
 * Collects a child's stdout and stderr, resolves waits for lines of it, and stops it with
 * `kill` (the child alone, or its whole process group).
 */
export function watchChild(child: ChildProcess, kill: (signal: NodeJS.Signals) => void): CliProcess {
  let out = '';
  const waiters = new Set<() => void>();
  const onData = (d: Buffer) => {
    out += d.toString();
    for (const w of waiters) w();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = once(child, 'exit');
  return {
    child,
    output: () => out,
    waitForLine(re, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const line = out.split('\n').find((l) => re.test(l));
          if (line !== undefined) {
            cleanup();
            resolve(line);
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`no line matching ${re} within ${timeoutMs} ms; output:\n${out}`));
        }, timeoutMs);
        const onExit = () => {
          cleanup();
          reject(new Error(`process exited before a line matched ${re}; output:\n${out}`));
        };
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
          child.off('exit', onExit);
        };
        waiters.add(check);
        child.once('exit', onExit);
        check();
      });
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      kill(signal);
      const [code] = (await exited) as [number | null];
      return code;
    },
  };
}

export async function waitFor<T>(
  fn: () => Promise<T | undefined | null | false>,
  what: string,
  timeoutMs = 60_000,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface ServeProcess {
  server: CliProcess;
  /** The API's base URL, from the server's "listening" log line. */
  base: string;
  dataDir: string;
  /** Stops the server (if still running) and removes its data folder and database. */
  close(): Promise<void>;
}

/**
 * `task-executor serve` as a child process on a free port, with its own data folder and, in
 * postgres mode, a database of its own (the server opens its own pool on it).
 */
export async function startServe(mode: DbMode, env: Record<string, string>): Promise<ServeProcess> {
  const dataDir = mkdtempSync(join(tmpdir(), 'te-e2e-'));
  let testDb: TestDb | undefined;
  if (mode === 'postgres') {
    testDb = await createTestDb('postgres');
    await testDb.db.close();
  }
  const server = startCli(['serve'], {
    PORT: '0',
    DATA_DIR: dataDir,
    DATABASE_URL: testDb?.url ?? '',
    ...env,
  });
  const line = await server.waitForLine(/Task Executor listening/);
  return {
    server,
    base: (JSON.parse(line) as { url: string }).url,
    dataDir,
    async close() {
      await server.stop();
      rmSync(dataDir, { recursive: true, force: true });
      if (testDb) await testDb.drop().catch(() => {});
    },
  };
}
