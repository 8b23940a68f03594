/**
 * A child process in a process group of its own, read line by line, stopped as a group.
 * Shared by every backend that spawns programs (the command backend now, the AIOpsLab
 * bridge later): an agent's shell easily leaves grandchildren (kubectl port-forward, a
 * sleeping retry loop), and signalling only the direct child would orphan them.
 */
import { spawn } from 'node:child_process';
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

export function runProcess(spec: ProcessSpec): Promise<ProcessExit> {
  return new Promise((resolve) => {
    const child = spawn(spec.file, spec.args, {
      cwd: spec.cwd,
      env: spec.env,
      // Its own process group (pgid = pid), so -pid reaches everything it starts.
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const tail: string[] = [];
    const keep = spec.tailLines ?? 20;
    const out = new LineSplitter(spec.onStdout);
    const err = new LineSplitter((line) => {
      spec.onStderr(line);
      tail.push(line.length > TAIL_LINE_MAX ? `${line.slice(0, TAIL_LINE_MAX)} …[cut]` : line);
      if (tail.length > keep) tail.shift();
    });
    child.stdout.setEncoding('utf8').on('data', (d: string) => out.push(d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => err.push(d));

    let killTimer: NodeJS.Timeout | undefined;
    const stopGroup = () => {
      if (killTimer) return;
      signalGroup(child.pid, 'SIGTERM');
      killTimer = setTimeout(() => signalGroup(child.pid, 'SIGKILL'), spec.killGraceMs);
      // The run has settled by then; this timer only finishes off a straggler.
      killTimer.unref();
    };
    if (spec.signal.aborted) stopGroup();
    else spec.signal.addEventListener('abort', stopGroup, { once: true });

    let spawnError: string | undefined;
    child.once('error', (e) => {
      spawnError = e.message;
    });
    // The leader is gone: what it left behind in its group is stopped the same way (SIGTERM,
    // SIGKILL after the grace), so a background job cannot outlive its task, nor keep the
    // output pipes open (which 'close' waits for, so that no last line is lost).
    child.once('exit', stopGroup);
    child.once('close', (code, signal) => {
      spec.signal.removeEventListener('abort', stopGroup);
      // Keep the SIGKILL armed only while some member of the group still lives.
      if (killTimer && !groupAlive(child.pid)) clearTimeout(killTimer);
      out.end();
      err.end();
      resolve({ code, signal, stderrTail: tail, ...(spawnError ? { spawnError } : {}) });
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
