/**
 * scripts/export_task_data.py (the predecessor's promised script, over the Python client) against
 * a real server whose tasks carry recorded conversations: every format's file is the endpoint's
 * bytes, a connection dropped mid-export (through a proxy that stalls the answer part way) ends
 * with the same bytes, and errors exit 1 with the server's message, bad arguments 2.
 * Python is required: without python3 these tests fail, saying what to install.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { reapOnce } from '../src/queue/index.ts';
import type { Body } from './helpers/app.ts';
import { dbModes } from './helpers/db.ts';
import {
  claimAs,
  claimTask,
  type GatewayHarness,
  report,
  startHarness,
  user,
  viaGateway,
  waitForCalls,
} from './helpers/gateway.ts';
import { waitFor } from './helpers/process.ts';
import { type Program, pythonEnv, requirePython3, runProgram, startProgram } from './helpers/seed.ts';
import { startTcpProxy, type TcpProxy } from './helpers/tcp-proxy.ts';

const SCRIPT = fileURLToPath(new URL('../scripts/export_task_data.py', import.meta.url));
const PYTHON = 'python3';
const TASKS = 12;
const FORMATS = ['trajectories', 'openai-chat', 'tokens', 'atif', 'parquet'];

const requirePython = () => requirePython3('scripts/export_task_data.py');

/** Completed and failed tasks with one or two gateway calls; task 1 took two attempts. */
async function seed(h: GatewayHarness): Promise<void> {
  for (let i = 0; i < TASKS; i++) {
    let c = await claimTask(h.t, {
      problem_id: `p-${i % 3}`,
      labels: { split: i % 2 ? 'train' : 'eval' },
      max_attempts: i === 1 ? 2 : 1,
    });
    if (i === 1) {
      // Its first worker went away: the lease expires, the reaper requeues it, another claims it.
      await h.t.db.query(`UPDATE tasks SET lease_expires_at = now() - interval '1 minute' WHERE id = $1`, [
        c.task.id,
      ]);
      await reapOnce(h.t.queue, 3600);
      c = await claimAs(h.t, 'worker-990-kind');
    }
    for (let call = 0; call <= i % 2; call++) {
      const r = await viaGateway(c, { model: 'fake-chat', messages: [user(`task ${i} turn ${call}`)] });
      assert.equal(r.status, 200, r.text);
    }
    await waitForCalls(h.t, c.task.id, 1 + (i % 2));
    const end = i % 5 === 4 ? 'fail' : 'complete';
    const body = end === 'fail' ? { error: 'boom' } : { result: { task_type: 'detection', results: {} } };
    await report(h.t, c, end, { ...body, attempt: c.task.attempt });
  }
}

/** The script as a child process (no PYTHONPATH: it must find the client by itself). */
const startScript = (args: string[]): Program =>
  startProgram(PYTHON, [SCRIPT, ...args], { env: pythonEnv(), maxMs: 120_000 });

const runScript = (args: string[]) =>
  runProgram(PYTHON, [SCRIPT, ...args], { env: pythonEnv(), maxMs: 120_000 });

/** The JSON summary the script prints on stdout as its last line. */
const summaryOf = (output: string): Body => {
  const line = output
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .at(-1);
  assert.ok(line, output);
  return JSON.parse(line) as Body;
};

for (const mode of dbModes()) {
  describe(`scripts/export_task_data.py (${mode})`, () => {
    let h: GatewayHarness;
    let proxy: TcpProxy;
    let dir: string;
    let until: string;
    /** The endpoint's bytes per format, over one snapshot. */
    const reference = new Map<string, Buffer>();

    before(async () => {
      requirePython();
      h = await startHarness(mode);
      await seed(h);
      proxy = await startTcpProxy(h.t.url);
      dir = mkdtempSync(join(tmpdir(), 'te-export-script-'));
      const head = await fetch(`${h.t.url}/api/v1/export`);
      until = head.headers.get('x-export-until')!;
      reference.set('trajectories', Buffer.from(await head.arrayBuffer()));
      for (const format of FORMATS.slice(1)) {
        const res = await fetch(`${h.t.url}/api/v1/export?format=${format}&until=${until}`);
        assert.equal(res.status, 200);
        reference.set(format, Buffer.from(await res.arrayBuffer()));
      }
    });
    after(async () => {
      await proxy?.close();
      await h?.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('writes the endpoint’s bytes in every format (JSONL in a .json file, as promised)', async () => {
      const file = join(dir, 'tmp', 'export.json');
      const run = await runScript([h.t.url, '--output', file]);
      assert.equal(run.code, 0, run.output);
      assert.equal(
        readFileSync(file, 'utf8'),
        reference.get('trajectories')!.toString(),
        'same bytes as the endpoint',
      );
      const summary = summaryOf(run.output);
      assert.equal(summary.tasks, TASKS);
      assert.equal(summary.lines, TASKS + 1, 'the two-attempt task gives two records');
      assert.equal(summary.total, TASKS);
      assert.equal(summary.until, until);
      assert.match(run.output, new RegExp(`export: done, ${TASKS}/${TASKS} tasks`));
      for (const format of FORMATS.slice(1)) {
        const out = join(dir, `all-${format}`);
        const r = await runScript([h.t.url, '-o', out, '--format', format, '--until', until, '-q']);
        assert.equal(r.code, 0, `${format}: ${r.output}`);
        assert.ok(readFileSync(out).equals(reference.get(format)!), `${format}: same bytes as the endpoint`);
      }
    });

    it('passes its filters to the endpoint', async () => {
      const file = join(dir, 'train.jsonl');
      const run = await runScript([
        h.t.url,
        '-o',
        file,
        '--label',
        'split=train',
        '--status',
        'completed',
        '-q',
      ]);
      assert.equal(run.code, 0, run.output);
      const expected = await fetch(
        `${h.t.url}/api/v1/export?label=split=train&status=completed&until=${until}`,
      );
      assert.equal(
        readFileSync(file, 'utf8'),
        await expected.text(),
        'same bytes as the endpoint with those filters',
      );
      const records = readFileSync(file, 'utf8')
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l) as Body);
      assert.ok(records.length > 0, 'some records');
      assert.ok(
        records.every((r) => r.labels.split === 'train' && (!r.final || r.status === 'completed')),
        'only train tasks that completed (an earlier attempt says requeued)',
      );
    });

    it('resumes a line export dropped mid-way after its last complete task: same bytes', async () => {
      const file = join(dir, 'dropped.jsonl');
      const bytes = reference.get('trajectories')!;
      // The server stalls after ~40% of the export, then every connection is dropped.
      proxy.holdAfter(Math.floor(bytes.length * 0.4));
      const forwarded = proxy.forwarded;
      const run = startScript([proxy.url, '-o', file, '--until', until]);
      try {
        await run.waitForLine(/^export: [1-9]\d*\/\d+ tasks/);
        proxy.dropAll();
        proxy.holdAfter(null);
        assert.equal(await run.exited, 0, run.output());
      } finally {
        await run.stop('SIGKILL');
        proxy.holdAfter(null);
      }
      assert.equal(
        readFileSync(file, 'utf8'),
        bytes.toString(),
        'byte-identical to the uninterrupted export',
      );
      const summary = summaryOf(run.output());
      assert.ok(summary.reconnects >= 1, run.output());
      assert.match(run.output(), /export: the export was cut off: .*; retrying after \d+-\d+ in/);
      assert.ok(proxy.forwarded - forwarded >= 2, 'connected again through the proxy');
      assert.equal(summary.tasks, TASKS);
    });

    it('restarts a Parquet download dropped mid-way, and renames only a whole file into place', async () => {
      const file = join(dir, 'dropped.parquet');
      const bytes = reference.get('parquet')!;
      proxy.holdAfter(Math.floor(bytes.length * 0.5));
      const run = startScript([proxy.url, '-o', file, '--format', 'parquet', '--until', until, '-q']);
      try {
        // The held answer cannot complete: once its file is open, a drop is mid-download.
        await waitFor(async () => existsSync(`${file}.part`), 'the download under way');
        assert.equal(existsSync(file), false);
        proxy.dropAll();
        proxy.holdAfter(null);
        assert.equal(await run.exited, 0, run.output());
      } finally {
        await run.stop('SIGKILL');
        proxy.holdAfter(null);
      }
      assert.ok(readFileSync(file).equals(bytes), 'byte-identical to the endpoint’s Parquet');
      assert.ok(summaryOf(run.output()).reconnects >= 1, run.output());
      assert.ok(!readdirSync(dir).some((f) => f.endsWith('.part')), 'no .part file left');
    });

    it("exits 1 with the server's message, and 2 on bad arguments", async () => {
      const refused = await runScript([h.t.url, '-o', join(dir, 'x.jsonl'), '--experiment-id', 'not-a-uuid']);
      assert.equal(refused.code, 1, refused.output);
      assert.match(
        refused.output,
        /export failed: HTTP 422 VALIDATION_ERROR: [^\n]*\ndetails: .*"field": "experiment_id"/,
      );
      const down = await runScript(['http://127.0.0.1:9', '-o', join(dir, 'y.jsonl'), '--max-retries', '1']);
      assert.equal(down.code, 1, down.output);
      assert.match(down.output, /export failed: .*gave up after 1 failed attempts/);
      for (const bad of [
        [h.t.url],
        [h.t.url, '-o', 'z', '--label', 'nokey'],
        [h.t.url, '-o', 'z', '--format', 'csv'],
      ]) {
        const r = await runScript(bad);
        assert.equal(r.code, 2, `${bad.join(' ')}: ${r.output}`);
      }
    });
  });
}
