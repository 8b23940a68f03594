/**
 * A harness for the AIOpsLab bridge program (bridge/aiopslab_bridge.py) against the fake
 * `aiopslab` package in test/fixtures/fake-aiopslab: a test plays the parent (the worker) with
 * scripted replies over the JSON-lines protocol of bridge/PROTOCOL.md. No cluster: the fake is
 * the test double.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';

export const PYTHON = '/usr/bin/python3';
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BRIDGE = join(ROOT, 'bridge/aiopslab_bridge.py');
export const FAKE = join(ROOT, 'test/fixtures/fake-aiopslab');
/** Bound on every wait for the bridge; a hung bridge fails the test instead of hanging it. */
export const WAIT_MS = 30_000;

if (!existsSync(PYTHON)) throw new Error(`${PYTHON} is missing: the bridge tests need Python 3.11+ there`);

export type Msg = Record<string, unknown> & { type: string };

export interface Bridge {
  child: ChildProcess;
  messages: Msg[];
  stdoutNoise: string[];
  stderr: () => string;
  next(type: string): Promise<Msg>;
  send(msg: object): void;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  events(): Array<Record<string, unknown>>;
}

export function startBridge(t: TestContext, args: string[], env: Record<string, string> = {}): Bridge {
  const dir = mkdtempSync(join(tmpdir(), 'bridge-'));
  const eventsFile = join(dir, 'events.jsonl');
  const child = spawn(PYTHON, [BRIDGE, ...args.map((a) => a.replace('$DIR', dir))], {
    cwd: dir,
    env: {
      PATH: process.env.PATH ?? '',
      PYTHONPATH: FAKE,
      PYTHONDONTWRITEBYTECODE: '1',
      FAKE_AIOPSLAB_EVENTS: eventsFile,
      ...env,
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const messages: Msg[] = [];
  const stdoutNoise: string[] = [];
  const stderrChunks: string[] = [];
  let partial = '';
  let wake: () => void = () => {};
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    const lines = (partial + d).split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      try {
        messages.push(JSON.parse(line) as Msg);
      } catch {
        stdoutNoise.push(line);
      }
    }
    wake();
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => stderrChunks.push(d));
  child.stdin!.on('error', () => {});
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  /** Per message type, how many of that type next() has returned (each type is read in order). */
  const taken = new Map<string, number>();
  const next = async (type: string): Promise<Msg> => {
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      const ofType = messages.filter((m) => m.type === type);
      const n = taken.get(type) ?? 0;
      if (ofType.length > n) {
        taken.set(type, n + 1);
        return ofType[n]!;
      }
      if (child.exitCode !== null)
        throw new Error(
          `bridge exited before a ${type} line; stderr tail: ${stderrChunks.join('').slice(-2000)}`,
        );
      if (Date.now() > deadline) throw new Error(`no ${type} line within ${WAIT_MS} ms`);
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, 50);
      });
    }
  };
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  const exited = Promise.race([
    exit,
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error('bridge did not exit in time')), WAIT_MS).unref(),
    ),
  ]);
  // Tests that never wait for the exit must not see its timeout as an unhandled rejection.
  exited.catch(() => {});
  return {
    child,
    messages,
    stdoutNoise,
    stderr: () => stderrChunks.join(''),
    next,
    send: (msg) => child.stdin!.write(`${JSON.stringify(msg)}\n`),
    exit: exited,
    events: () =>
      existsSync(eventsFile)
        ? readFileSync(eventsFile, 'utf8')
            .trim()
            .split('\n')
            .map((l) => JSON.parse(l))
        : [],
  };
}

export const run = (problem: string, maxSteps = 10) => [
  'run',
  '--problem-id',
  problem,
  '--max-steps',
  String(maxSteps),
  '--results-dir',
  '$DIR/results',
];
export const block = (call: string) => `I will run:\n\`\`\`\n${call}\n\`\`\``;

/** Answers action_requests with the scripted replies, in order; returns the final line. */
export async function play(b: Bridge, replies: string[]): Promise<Msg> {
  for (const reply of replies) {
    const req = await b.next('action_request');
    b.send({ type: 'reply', step: req.step, content: reply });
  }
  return b.next('final');
}

export const DETECTION = 'k8s_target_port-misconfig-detection-1';
