// The supervisor every backend program runs under (process.ts starts it): plain JavaScript
// using only Node's own modules, run as `node process-supervisor.mjs` with an empty
// environment, so it starts the same whatever loader or NODE_OPTIONS the worker runs with.
//
// Why: a worker killed with SIGKILL (or crashing, or OOM-killed) runs no cleanup, and Linux's
// PR_SET_PDEATHSIG is out of Node's reach (and would reach one process, not a group). So each
// program gets a small watchdog between it and the worker:
//
//   worker ──spawn(detached)──▶ supervisor (a session of its own)
//                                   └──spawn(detached)──▶ program (session and group leader,
//                                                          pgid = its pid, as before) ──▶ …
//
// The supervisor's fd 0 is the worker's IPC channel (a socketpair): its lifeline. The kernel
// closes the worker's end whenever the worker process ends, however it ends, so the supervisor
// sees the channel disconnect and stops the program's whole group: SIGTERM, then SIGKILL after
// the grace. Nothing has to run in the worker for that, and there is no window where a program
// runs unwatched: the lifeline is inherited at fork, before the program exists, and a program
// is only started on the worker's request, received on that same channel.
//
// The program sees what it saw when the worker spawned it directly: stdin /dev/null (fd 0 is
// replaced, so the lifeline never leaks into it), stdout and stderr the worker's own pipes
// (inherited, not relayed: no copy, no buffering), the same environment, cwd and default signal
// dispositions, its own session and process group (`kill -- -$$` still means "my group"). The
// supervisor is outside that group, so the group's signals (from the worker on cancel, deadline
// and shutdown, or from the program itself) never reach it, and it always lives to report the
// program's real status. It ignores SIGTERM/SIGINT/SIGHUP/SIGQUIT sent to it directly: stopping
// the program is the worker's decision (a draining worker gives its runs a grace period), or
// follows the worker's death.
//
// Channel protocol: worker → { file, args, cwd, env, killGraceMs, pipeStdin }; supervisor →
// { type: 'started', pid } (pid = the program's process group), then { type: 'exit', code,
// signal } or { type: 'spawn_error', message }. Whatever the program leaves running in its
// group when it exits gets SIGTERM, then SIGKILL after the grace; the supervisor exits once the
// group is empty (worker alive or not), so a finished run never leaves a process behind.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { constants } from 'node:os';

const POLL_MS = 50;

let command;
/** The program's process group (its pid) once it runs. */
let pgid = 0;
/** The program has exited, failed to start, or will never be started. */
let commandDone = false;
let exitCode = 0;
let grace = 5000;
let sweeping = false;
/** Messages still being written to the worker: exiting waits for them. */
const pending = new Set();

for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT']) process.on(sig, () => {});

function send(message) {
  if (!process.connected) return;
  const p = new Promise((resolve) => process.send(message, () => resolve()));
  pending.add(p);
  p.then(() => pending.delete(p));
}

function signalGroup(signal) {
  if (!pgid) return;
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: nobody left.
  }
}

/**
 * Does a live process remain in the program's group? Read from /proc, where a zombie counts as
 * gone (it runs nothing, and in a container PID 1 may never reap it); kill(-pgid, 0) elsewhere.
 */
function groupLive() {
  if (!pgid) return false;
  let entries;
  try {
    entries = readdirSync('/proc');
  } catch {
    try {
      process.kill(-pgid, 0);
      return true;
    } catch {
      return false;
    }
  }
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    let stat;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'latin1');
    } catch {
      continue; // gone meanwhile
    }
    // After the parenthesised command name: state, ppid, pgrp, …
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) === pgid && fields[0] !== 'Z') return true;
  }
  return false;
}

async function finish() {
  await Promise.all(pending);
  process.exit(exitCode);
}

/**
 * Stops what is left of the program's group: SIGTERM, then SIGKILL after the grace. Exits once
 * the program has been reaped and its group is empty (after a SIGKILL nothing can linger but
 * zombies, so then only the program's own exit is awaited).
 */
function sweep() {
  if (sweeping) return;
  sweeping = true;
  signalGroup('SIGTERM');
  const deadline = Date.now() + grace;
  let killed = false;
  const tick = () => {
    if (commandDone && (killed || !groupLive())) return void finish();
    if (!killed && Date.now() >= deadline) {
      signalGroup('SIGKILL');
      killed = true;
    }
    setTimeout(tick, POLL_MS);
  };
  tick();
}

function start(spec) {
  if (command || sweeping) return;
  grace = spec.killGraceMs;
  command = spawn(spec.file, spec.args, {
    cwd: spec.cwd,
    env: spec.env,
    // A session and process group of its own (pgid = pid), as when the worker spawned it.
    detached: true,
    // fd 3 is a pipe from the worker when the program wants a stdin (the AIOpsLab bridge):
    // the worker's end closes when the worker dies, which the program sees as end of input.
    stdio: [spec.pipeStdin ? 3 : 'ignore', 'inherit', 'inherit'],
  });
  // Known at once when the start succeeded (undefined otherwise: 'error' follows).
  pgid = command.pid ?? 0;
  command.once('spawn', () => send({ type: 'started', pid: pgid }));
  command.once('error', (err) => {
    // Only a failed start reaches here: this process never signals the program by its pid.
    if (commandDone) return;
    commandDone = true;
    exitCode = 127;
    send({ type: 'spawn_error', message: err.message });
    sweep();
  });
  command.once('exit', (code, signal) => {
    if (commandDone) return;
    commandDone = true;
    exitCode = code ?? 128 + (constants.signals[signal] ?? 0);
    send({ type: 'exit', code, signal });
    sweep();
  });
}

process.once('message', start);
// The worker is gone (or let go of us): nothing it started may outlive it.
process.once('disconnect', () => {
  if (!command) commandDone = true;
  sweep();
});
