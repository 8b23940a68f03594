/**
 * runProcess under its supervisor (src/backends/process-supervisor.mjs) gives the program what
 * a direct spawn gave it: its own exit code or signal, /dev/null on stdin and no extra
 * descriptor (the supervisor's lifeline never leaks into it), a session and process group of
 * its own; and what the program leaves behind, even ignoring SIGTERM, is stopped without
 * changing the program's reported status.
 * (Killing the worker itself is in process-watchdog.test.ts.)
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { type ProcessExit, runProcess } from '../src/backends/process.ts';
import { until } from './fixtures/worker-helpers.ts';

function run(script: string, killGraceMs = 300): Promise<ProcessExit & { out: string[] }> {
  const out: string[] = [];
  return runProcess({
    file: '/bin/sh',
    args: ['-c', script],
    cwd: '/tmp',
    env: { PATH: process.env.PATH },
    signal: new AbortController().signal,
    killGraceMs,
    onStdout: (l) => out.push(l),
    onStderr: () => {},
  }).then((exit) => ({ ...exit, out }));
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

test('the program’s own exit code and signal are reported', async () => {
  const exited = await run('exit 7');
  assert.equal(exited.code, 7);
  assert.equal(exited.signal, null);
  const killed = await run('kill -TERM $$');
  assert.equal(killed.code, null);
  assert.equal(killed.signal, 'SIGTERM');
});

test('the program gets /dev/null on stdin and no socket beyond its output pipes', async () => {
  const { code, out } = await run(
    'for f in /proc/$$/fd/*; do echo "$(basename "$f") $(readlink "$f")"; done',
  );
  assert.equal(code, 0);
  const fds = new Map(out.map((l) => l.split(' ') as [string, string]));
  assert.equal(fds.get('0'), '/dev/null');
  const sockets = [...fds].filter(([, target]) => target?.startsWith('socket:')).map(([fd]) => fd);
  assert.deepEqual(sockets.sort(), ['1', '2']);
});

test('the program leads a session and process group of its own, as when spawned directly', async () => {
  // Fields 5 and 6 of /proc/PID/stat: process group and session (the name, "(sh)", has no space).
  const { code, out } = await run('echo $$ $(cut -d" " -f5,6 /proc/$$/stat)');
  assert.equal(code, 0);
  const [pid, pgrp, session] = out[0]!.split(' ');
  assert.equal(pgrp, pid);
  assert.equal(session, pid);
});

test('a leftover that ignores SIGTERM is killed after the grace; the program’s status stands', async () => {
  const { code, signal, out } = await run(
    `sh -c 'trap "" TERM; echo $$; exec sleep 300' & sleep 0.3; exit 0`,
  );
  assert.equal(code, 0);
  assert.equal(signal, null);
  const pid = Number(out[0]);
  assert.ok(pid > 0, `pid line: ${out[0]}`);
  await until(() => !alive(pid), 'the leftover to be gone', 10_000);
});
