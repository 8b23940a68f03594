/**
 * A child process in a process group of its own, read line by line, stopped as a group, and
 * never outliving the process that started it. Shared by every backend that spawns programs
 * (the command backend now, the AIOpsLab bridge later): an agent's shell easily leaves
 * grandchildren (kubectl port-forward, a sleeping retry loop), and signalling only the direct
 * child would orphan them.
 *
 * Each program runs under a small supervisor (process-supervisor.mjs, where the design is
 * explained) that holds the worker's IPC channel as its lifeline and stops the program's whole
 * group when that channel closes — which the kernel does when the worker (remote, or the API
 * process with its in-process workers) dies by any means, SIGKILL included. While the worker
 * lives, everything works as before: the program leads a session and process group of its own,
 * the worker signals that group (SIGTERM, SIGKILL after the grace) on cancel, deadline and
 * shutdown, and reads the program's output from pipes the program writes to directly.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { Socket } from 'node:net';
import type { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { LineSplitter } from './lines.ts';

export interface ProcessSpec {
  file: string;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Aborting sends SIGTERM to the group, then SIGKILL after killGraceMs. */
  signal: AbortSignal;
  killGraceMs: number;
  onStdout(line: string): void;
  onStderr(line: string): void;
  /** Lines of stderr kept for the failure report. */
  tailLines?: number;
  /**
   * Raw stdout chunks instead of lines (onStdout is then not called): for a protocol whose
   * lines have no length limit, which LineSplitter would cut.
   */
  onStdoutData?(chunk: string): void;
  /**
   * Give the program a pipe as stdin instead of /dev/null; called at once with its write end,
   * which the caller keeps open as long as it likes (it closes when this process dies).
   */
  onStdin?(stdin: Writable): void;
}

export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderrTail: string[];
  /** Set when the program could not be started at all (ENOENT, EACCES…). */
  spawnError?: string;
}

/** Longest stderr line kept in the tail (the full line, up to 16 KiB, is in the task log). */
const TAIL_LINE_MAX = 2048;

const SUPERVISOR = fileURLToPath(new URL('./process-supervisor.mjs', import.meta.url));

/** What the supervisor says on its channel (see process-supervisor.mjs). */
type SupervisorMessage =
  | { type: 'started'; pid: number }
  | { type: 'exit'; code: number | null; signal: NodeJS.Signals | null }
  | { type: 'spawn_error'; message: string };

function launchSupervisor(): ChildProcess {
  return spawn(process.execPath, [SUPERVISOR], {
    // A session of its own: signals to the worker's group (Ctrl-C) are not its business.
    detached: true,
    // fd 0 is the lifeline; the program itself gets /dev/null there, or fd 3 when it asks for
    // a stdin pipe (see ProcessSpec.onStdin).
    stdio: ['ipc', 'pipe', 'pipe', 'pipe'],
    // The supervisor needs nothing from the environment, and must not pick up NODE_OPTIONS
    // (a loader would slow every start); the program gets spec.env, sent on the channel.
    env: {},
  });
}

/**
 * One supervisor started ahead of need, so that a run does not wait for Node to boot (tens of
 * milliseconds, more on a loaded machine) before its program starts. While idle it holds
 * nothing of this process open (its handles are unref'd), and it exits with this process like
 * any supervisor. Made when a run ends, so a process that never runs a program never has one.
 */
let spare: ChildProcess | undefined;

function prewarm(): void {
  if (spare) return;
  const c = launchSupervisor();
  hold(c, false);
  // Cannot even start Node: the next run will say so.
  c.once('error', () => {});
  c.once('exit', () => {
    if (spare === c) spare = undefined;
  });
  spare = c;
}

function takeSupervisor(): ChildProcess {
  const ready = spare?.connected ? spare : undefined;
  spare = undefined;
  const c = ready ?? launchSupervisor();
  hold(c, true);
  return c;
}

/** Whether the child's process, channel and pipes keep this process's event loop alive. */
function hold(c: ChildProcess, held: boolean): void {
  // The output pipes are sockets (stdio: 'pipe'), typed only as streams.
  const stdin = c.stdio[3] as Socket | null;
  for (const h of [c, c.channel, c.stdout as Socket | null, c.stderr as Socket | null, stdin]) {
    if (!h) continue;
    if (held) h.ref();
    else h.unref();
  }
}

export function runProcess(spec: ProcessSpec): Promise<ProcessExit> {
  return new Promise((resolve) => {
    const child = takeSupervisor();
    const tail: string[] = [];
    const keep = spec.tailLines ?? 20;
    const out = new LineSplitter(spec.onStdout);
    const err = new LineSplitter((line) => {
      spec.onStderr(line);
      tail.push(line.length > TAIL_LINE_MAX ? `${line.slice(0, TAIL_LINE_MAX)} …[cut]` : line);
      if (tail.length > keep) tail.shift();
    });
    const onData = spec.onStdoutData ?? ((d: string) => out.push(d));
    child.stdout!.setEncoding('utf8').on('data', onData);
    const stdin = child.stdio[3] as Socket;
    // EPIPE once the program has gone: its exit says what happened.
    stdin.on('error', () => {});
    if (spec.onStdin) spec.onStdin(stdin);
    else stdin.destroy();
    child.stderr!.setEncoding('utf8').on('data', (d: string) => err.push(d));

    /** The program's process group (its pid), once the supervisor has started it. */
    let pgid: number | undefined;
    /** Signals owed to the group: sent when asked, or as soon as the group is known. */
    const owed = new Set<NodeJS.Signals>();
    const signal = (sig: NodeJS.Signals) => {
      owed.add(sig);
      signalGroup(pgid, sig);
    };
    let killTimer: NodeJS.Timeout | undefined;
    const stopGroup = () => {
      if (killTimer) return;
      signal('SIGTERM');
      killTimer = setTimeout(() => signal('SIGKILL'), spec.killGraceMs);
      // The run has settled by then; this timer only finishes off a straggler.
      killTimer.unref();
    };
    if (spec.signal.aborted) stopGroup();
    else spec.signal.addEventListener('abort', stopGroup, { once: true });

    let reported: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let spawnError: string | undefined;
    child.on('message', (m: SupervisorMessage) => {
      if (m?.type === 'started') {
        pgid = m.pid;
        // A stop asked for before the program existed reaches it now.
        for (const sig of owed) signalGroup(pgid, sig);
      } else if (m?.type === 'exit') reported = { code: m.code, signal: m.signal };
      else if (m?.type === 'spawn_error') spawnError = m.message;
    });
    const { file, args, cwd, env, killGraceMs } = spec;
    const pipeStdin = Boolean(spec.onStdin);
    // A failed send means the supervisor is already gone; its exit tells the rest.
    child.send({ file, args, cwd, env, killGraceMs, pipeStdin }, () => {});
    child.once('error', (e) => {
      spawnError ??= e.message;
    });
    // The supervisor exits once the program and all it left in its group are gone (it stops
    // them: SIGTERM, SIGKILL after the grace). Should it have died first (killed on its own),
    // the worker stops the group the same way, so that a background job cannot outlive its
    // task, nor keep the output pipes open (which 'close' waits for, so that no last line is lost).
    child.once('exit', () => {
      // Ready a supervisor for the next run now, rather than while a program starts (when it
      // would compete with it for the CPU).
      prewarm();
      stopGroup();
    });
    // After 'exit', the output pipes and the channel (so every message has been read).
    child.once('close', (code, sig) => {
      spec.signal.removeEventListener('abort', stopGroup);
      // Keep the SIGKILL armed only while some member of the group still lives.
      if (killTimer && !groupAlive(pgid)) clearTimeout(killTimer);
      out.end();
      err.end();
      stdin.destroy();
      // The program's own status, as the supervisor saw it; the supervisor's own when it could
      // not say (it was killed, or could not start).
      const status = reported ?? { code, signal: sig };
      resolve({ ...status, stderrTail: tail, ...(spawnError ? { spawnError } : {}) });
    });
  });
}

export function signalGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (!pid) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the whole group is already gone.
  }
}

function groupAlive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}
