/**
 * Running the Python task executor's own clients (issue 10) against ours: where its files are,
 * what they need (a failed test says what to install, never a silent skip), its Python
 * programs as bounded child processes, and a forwarding proxy for its curl script, which
 * names http://localhost:8000 in every request.
 *
 * The files run from where they are (../shared/seed/predecessor beside the repo, or
 * SEED_PREDECESSOR_DIR), unchanged and never copied into the repo.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type CliProcess, watchChild } from './process.ts';

const REPO = fileURLToPath(new URL('../..', import.meta.url));

/** The Debian interpreter: the python3 first on PATH may be another one, without these packages. */
export const SYSTEM_PYTHON = '/usr/bin/python3';
const PYTHON_MODULES = ['httpx', 'pydantic', 'aiohttp'];
const INSTALL =
  'apt-get install -y python3 python3-httpx python3-pydantic python3-aiohttp curl jq (as .ci/run does)';

/** A test double of AIOpsLab shaped to what the predecessor's worker calls (see its __init__.py). */
export const FAKE_AIOPSLAB = fileURLToPath(new URL('../fixtures/seed-aiopslab', import.meta.url));

/**
 * Where the predecessor's files are: SEED_PREDECESSOR_DIR, else `shared/seed/predecessor` beside
 * the checkout or beside one of its parent folders (a clone elsewhere, e.g. CI's clean clone in a
 * temporary folder, falls back to the workplace's /work/shared).
 */
export function seedDir(): string {
  if (process.env.SEED_PREDECESSOR_DIR) return resolve(REPO, process.env.SEED_PREDECESSOR_DIR);
  const candidates: string[] = [];
  for (let dir = REPO; ; dir = dirname(dir)) {
    candidates.push(join(dir, '..', 'shared', 'seed', 'predecessor'));
    if (dirname(dir) === dir) break;
  }
  candidates.push('/work/shared/seed/predecessor');
  return candidates.find((c) => existsSync(join(c, 'workers', 'src', 'worker.py'))) ?? candidates[0]!;
}

/** A file of the predecessor's; throws naming SEED_PREDECESSOR_DIR when it is not there. */
export function seedFile(rel: string): string {
  const path = resolve(seedDir(), rel);
  if (!existsSync(path))
    throw new Error(
      `${path} is missing: set SEED_PREDECESSOR_DIR to the predecessor's folder (${rel} inside it)`,
    );
  return path;
}

/**
 * Throws, saying what to install, unless /usr/bin/python3 with httpx, pydantic and aiohttp,
 * and the commands given (curl, jq, bash) are all here.
 */
export function requireSeedTools(commands: string[] = []): void {
  const missing: string[] = [];
  if (!existsSync(SYSTEM_PYTHON)) missing.push(SYSTEM_PYTHON);
  else {
    for (const m of PYTHON_MODULES) {
      const r = spawnSync(SYSTEM_PYTHON, ['-c', `import ${m}`], { env: pythonEnv(), timeout: 30_000 });
      if (r.status !== 0) missing.push(`python module ${m}`);
    }
  }
  for (const c of commands) {
    const r = spawnSync('sh', ['-c', `command -v ${c}`], { timeout: 10_000 });
    if (r.status !== 0) missing.push(c);
  }
  if (missing.length > 0)
    throw new Error(
      `The predecessor's clients cannot run: missing ${missing.join(', ')}. Install: ${INSTALL}`,
    );
}

/**
 * A small environment of our own rather than this process's: no PYTHONPATH (another test's
 * fake aiopslab must not leak in), no proxy settings, no bytecode written into the seed folder.
 */
export function pythonEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/tmp',
    LANG: 'C.UTF-8',
    PYTHONUNBUFFERED: '1',
    PYTHONDONTWRITEBYTECODE: '1',
    ...extra,
  };
}

export interface Program extends CliProcess {
  /** Resolves with the exit code (null when a signal ended it) once it has exited. */
  exited: Promise<number | null>;
}

/**
 * A child in its own process group, killed as a group (a shell script's curl and jq too) by
 * stop() and, whatever happens, after `maxMs`.
 */
export function startProgram(
  cmd: string,
  args: string[],
  opts: { env: Record<string, string>; cwd?: string; maxMs: number },
): Program {
  const child: ChildProcess = spawn(cmd, args, {
    env: opts.env,
    cwd: opts.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const killGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, signal);
    } catch {
      // Already gone.
    }
  };
  const watchdog = setTimeout(() => killGroup('SIGKILL'), opts.maxMs);
  watchdog.unref();
  const exited = new Promise<number | null>((done) => {
    child.once('exit', (code) => {
      clearTimeout(watchdog);
      // Whatever it left behind in its group goes with it.
      killGroup('SIGKILL');
      done(code);
    });
  });
  return { ...watchChild(child, killGroup), exited };
}

/** Runs a program to its end (or kills it after maxMs); resolves with its exit code and output. */
export async function runProgram(
  cmd: string,
  args: string[],
  opts: { env: Record<string, string>; cwd?: string; maxMs: number },
): Promise<{ code: number | null; output: string }> {
  const p = startProgram(cmd, args, opts);
  const code = await p.exited;
  return { code, output: p.output() };
}

/** Runs test_integrated.py's own test function with its API_BASE_URL (a module constant) set to `base`. */
export const RUN_INTEGRATED = `
import asyncio, importlib.util, sys
spec = importlib.util.spec_from_file_location("seed_test_integrated", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
module.API_BASE_URL = sys.argv[2]
asyncio.run(module.test_integrated_system())
`;

export interface Exchange {
  method: string;
  /** The URL the client asked for (absolute, as a proxy receives it). */
  url: string;
  status: number;
  body: string;
}

export interface ForwardProxy {
  /** For http_proxy. */
  url: string;
  exchanges: Exchange[];
  close(): Promise<void>;
}

/**
 * An HTTP proxy that forwards requests for http://localhost:8000 (the address the curl script
 * names) to `target`, and records each exchange; anything else gets a 502.
 */
export async function startForwardProxy(target: string, forHost = 'localhost:8000'): Promise<ForwardProxy> {
  const to = new URL(target);
  const exchanges: Exchange[] = [];
  const server = createServer((req, res) => {
    const asked = new URL(req.url ?? '/', 'http://invalid');
    if (asked.host !== forHost) {
      exchanges.push({ method: req.method ?? '', url: req.url ?? '', status: 502, body: '' });
      res.writeHead(502).end(`this proxy forwards ${forHost} only`);
      return;
    }
    const { 'proxy-connection': _, ...headers } = req.headers;
    const upstream = httpRequest(
      {
        host: to.hostname,
        port: to.port,
        method: req.method,
        path: `${asked.pathname}${asked.search}`,
        headers: { ...headers, host: to.host },
      },
      (reply: IncomingMessage) => {
        const chunks: Buffer[] = [];
        reply.on('data', (c: Buffer) => chunks.push(c));
        reply.on('end', () =>
          exchanges.push({
            method: req.method ?? '',
            url: req.url ?? '',
            status: reply.statusCode ?? 0,
            body: Buffer.concat(chunks).toString(),
          }),
        );
        res.writeHead(reply.statusCode ?? 502, reply.headers);
        reply.pipe(res);
      },
    );
    upstream.on('error', () => res.writeHead(502).end());
    req.pipe(upstream);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    exchanges,
    close: () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}

export interface Expectations {
  /** Runs `fn` (assertions); a failure is recorded under `label` and the test goes on. */
  check(label: string, fn: () => void): void;
  /** Fails the test with every recorded failure, each under its label. */
  done(): void;
}

/**
 * Several independent expectations in one test: each is checked and reported, so one run
 * lists everything a client finds different, not only the first.
 */
export function expectations(): Expectations {
  const failed: string[] = [];
  return {
    check(label, fn) {
      try {
        fn();
      } catch (err) {
        failed.push(`${label}: ${(err as Error).message.split('\n')[0]}`);
      }
    },
    done() {
      assert.deepEqual(failed, [], `${failed.length} expectation(s) failed:\n- ${failed.join('\n- ')}`);
    },
  };
}

/** Fails loudly (never skips) when there is no python3 (3.8 or newer) to run `what` with. */
export function requirePython3(what: string): void {
  const r = spawnSync('python3', ['-c', 'import sys; assert sys.version_info >= (3, 8), sys.version'], {
    env: pythonEnv(),
    encoding: 'utf8',
    timeout: 30_000,
  });
  if (r.error || r.status !== 0)
    throw new Error(
      `python3 (3.8 or newer) is needed to test ${what}: ${r.error?.message ?? r.stderr}. Install python3.`,
    );
}
