/**
 * `task-executor export` as a child process against a real server (with the fake LLM upstream,
 * so tasks carry recorded conversations): the file is the endpoint's bytes; an export stopped
 * by SIGINT, or whose connection is dropped, ends byte-identical to an uninterrupted one with
 * the same manifest; a different selection over an unfinished export is refused.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
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
import { type CliProcess, startCli, waitFor } from './helpers/process.ts';
import { startTcpProxy, type TcpProxy } from './helpers/tcp-proxy.ts';

const TASKS = 24;

/**
 * Finished tasks of several kinds: completed with a result, failed, with one or two gateway
 * calls, labelled train/eval, and one that took two attempts (its first worker went away).
 */
async function seed(h: GatewayHarness): Promise<void> {
  for (let i = 0; i < TASKS; i++) {
    const c = await claimTask(h.t, {
      problem_id: `p-${i % 3}`,
      labels: { split: i % 2 ? 'train' : 'eval' },
      max_attempts: i === 1 ? 2 : 1,
    });
    let claimed = c;
    if (i === 1) {
      await h.t.db.query(`UPDATE tasks SET lease_expires_at = now() - interval '1 minute' WHERE id = $1`, [
        c.task.id,
      ]);
      await reapOnce(h.t.queue, 3600);
      claimed = await claimAs(h.t, 'worker-990-kind');
    }
    for (let call = 0; call < 1 + (i % 2); call++) {
      const r = await viaGateway(claimed, { model: 'fake-chat', messages: [user(`task ${i} turn ${call}`)] });
      assert.equal(r.status, 200, r.text);
    }
    await waitForCalls(h.t, claimed.task.id, 1 + (i % 2));
    if (i % 5 === 4) await report(h.t, claimed, 'fail', { error: 'boom', attempt: claimed.task.attempt });
    else
      await report(h.t, claimed, 'complete', {
        result: { task_type: 'detection', results: { 'Detection Accuracy': 'Correct' } },
        attempt: claimed.task.attempt,
      });
  }
}

interface Run {
  code: number | null;
  output: string;
}

/** The CLI running `export --format trajectories …`, and its exit code once it ends. */
function startExport(
  args: string[],
  format = 'trajectories',
): { cli: CliProcess; exited: Promise<number | null> } {
  const cli = startCli(['export', '--format', format, ...args], {});
  const exited = once(cli.child, 'exit').then(([code]) => code as number | null);
  return { cli, exited };
}

async function exportCli(args: string[], format?: string): Promise<Run> {
  const { cli, exited } = startExport(args, format);
  const code = await exited;
  return { code, output: cli.output() };
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const readJson = (path: string): Body => JSON.parse(readFileSync(path, 'utf8')) as Body;

for (const mode of dbModes()) {
  describe(`export CLI (${mode})`, () => {
    let h: GatewayHarness;
    let proxy: TcpProxy;
    let dir: string;
    /** The uninterrupted export every other run is compared with. */
    let reference: { bytes: Buffer; manifest: Body };

    before(async () => {
      h = await startHarness(mode);
      await seed(h);
      proxy = await startTcpProxy(h.t.url);
      dir = mkdtempSync(join(tmpdir(), 'te-cli-export-'));
      const file = join(dir, 'reference.jsonl');
      const run = await exportCli(['--api-url', h.t.url, '-o', file]);
      assert.equal(run.code, 0, run.output);
      reference = { bytes: readFileSync(file), manifest: readJson(`${file}.manifest.json`) };
    });
    after(async () => {
      await proxy?.close();
      await h?.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('writes exactly the endpoint’s bytes, and a manifest whose sha256 and counts match them', async () => {
      const m = reference.manifest;
      const res = await fetch(`${h.t.url}/api/v1/export?format=trajectories&until=${m.range.until}`);
      assert.equal(res.status, 200);
      assert.ok(Buffer.from(await res.arrayBuffer()).equals(reference.bytes), 'same bytes as the endpoint');
      const lines = reference.bytes.toString('utf8').trimEnd().split('\n');
      const records = lines.map((l) => JSON.parse(l) as Body);
      assert.equal(m.counts.tasks, TASKS);
      assert.equal(m.counts.trajectories, TASKS + 1, 'the two-attempt task gives two records');
      assert.equal(m.counts.lines, records.length);
      assert.equal(new Set(records.map((r) => r.cursor)).size, TASKS);
      assert.ok(records.some((r) => r.conversations.length > 0 && r.conversations[0].calls.length === 2));
      assert.deepEqual(m.files, [
        { path: 'reference.jsonl', bytes: reference.bytes.length, sha256: sha256(reference.bytes) },
      ]);
      assert.equal(m.format, 'trajectories');
      assert.equal(m.range.after, '0');
      assert.equal(m.api_url, h.t.url);
      assert.equal(m.schema_version, records[0]?.schema_version);
      const completed = records.map((r) => r.completed_at as string).sort();
      assert.equal(m.time_range.first_completed_at, completed[0]);
      assert.equal(m.time_range.last_completed_at, completed.at(-1));
    });

    it('writes every other format as the endpoint does, Parquet through its spool', async () => {
      const until = reference.manifest.range.until as string;
      for (const format of ['openai-chat', 'tokens', 'atif', 'parquet']) {
        const file = join(dir, `all.${format}`);
        const run = await exportCli(['--api-url', h.t.url, '-o', file, '--until', until, '-q'], format);
        assert.equal(run.code, 0, `${format}: ${run.output}`);
        const res = await fetch(`${h.t.url}/api/v1/export?format=${format}&until=${until}`);
        assert.equal(res.status, 200);
        const bytes = readFileSync(file);
        assert.ok(
          Buffer.from(await res.arrayBuffer()).equals(bytes),
          `${format}: same bytes as the endpoint`,
        );
        const m = readJson(`${file}.manifest.json`);
        assert.equal(m.format, format);
        assert.equal(m.counts.tasks, TASKS);
        assert.equal(m.files[0].sha256, sha256(bytes));
        assert.throws(() => readFileSync(`${file}.spool.jsonl`), /ENOENT/, 'the spool is gone');
      }
    });

    it('says a finished export is complete, and exports again only with --force', async () => {
      const file = join(dir, 'again.jsonl');
      assert.equal((await exportCli(['--api-url', h.t.url, '-o', file, '-q'])).code, 0);
      const again = await exportCli(['--api-url', h.t.url, '-o', file]);
      assert.equal(again.code, 0);
      assert.match(again.output, /already exported/);
      const forced = await exportCli(['--api-url', h.t.url, '-o', file, '--force', '-q']);
      assert.equal(forced.code, 0, forced.output);
      assert.ok(readFileSync(file).equals(reference.bytes));
    });

    it('resumes after SIGINT to a file byte-identical to an uninterrupted export, however the file grew since', async () => {
      const file = join(dir, 'interrupted.jsonl');
      const args = ['--api-url', proxy.url, '-o', file];
      // The server stalls after ~40% of the export: some tasks are written and saved, not all.
      proxy.holdAfter(Math.floor(reference.bytes.length * 0.4));
      const { cli: first } = startExport(args);
      const saved = await waitForSavedTasks(`${file}.partial.json`, first);
      assert.ok(saved < TASKS, `stopped part way (${saved} of ${TASKS})`);
      assert.equal(await first.stop('SIGINT'), 130, first.output());
      assert.match(first.output(), /Run the same command again to resume/);
      const partial = readJson(`${file}.partial.json`);
      const written = readFileSync(file);
      assert.equal(written.length, partial.bytes);
      assert.ok(
        written.length > 0 && reference.bytes.subarray(0, written.length).equals(written),
        'a prefix',
      );

      // A task finishing now is after the snapshot: the resumed export must not include it.
      const late = await claimTask(h.t, { problem_id: 'p-late' });
      await report(h.t, late, 'complete', { result: {}, attempt: late.task.attempt });
      // Bytes past the resume point (a crash between a write and its save) are cut off.
      appendFileSync(file, '{"half a record');

      const refused = await exportCli([...args, '--status', 'completed']);
      assert.equal(refused.code, 2, refused.output);
      assert.match(refused.output, /different selection[\s\S]*--force/);

      proxy.holdAfter(null);
      const second = await exportCli(args);
      assert.equal(second.code, 0, second.output);
      assert.match(second.output, /resuming/);
      assert.ok(readFileSync(file).equals(reference.bytes), 'byte-identical to the uninterrupted export');
      const m = readJson(`${file}.manifest.json`);
      assert.deepEqual(m.counts, reference.manifest.counts);
      assert.deepEqual(m.range, reference.manifest.range);
      assert.equal(m.files[0].sha256, reference.manifest.files[0].sha256);
      assert.throws(() => readFileSync(`${file}.partial.json`), /ENOENT/);
    });

    it('retries a dropped connection from the last task written, within the same run', async () => {
      const file = join(dir, 'dropped.jsonl');
      const until = reference.manifest.range.until as string;
      proxy.holdAfter(Math.floor(reference.bytes.length * 0.5));
      const { cli: run, exited } = startExport(['--api-url', proxy.url, '-o', file, '--until', until]);
      await waitForSavedTasks(`${file}.partial.json`, run);
      proxy.holdAfter(null);
      proxy.dropAll();
      const code = await exited;
      assert.equal(code, 0, run.output());
      assert.match(run.output(), /connection lost .* retrying after task \d+/);
      assert.ok(readFileSync(file).equals(reference.bytes));
      assert.equal(readJson(`${file}.manifest.json`).files[0].sha256, reference.manifest.files[0].sha256);
    });
  });
}

/** Waits until the export has saved a resume point past at least one task; returns how many. */
async function waitForSavedTasks(partialPath: string, cli: CliProcess): Promise<number> {
  return waitFor(async () => {
    if (cli.child.exitCode !== null) throw new Error(`the export exited early:\n${cli.output()}`);
    try {
      const tasks = readJson(partialPath).tally.tasks as number;
      return tasks > 0 ? tasks : null;
    } catch {
      return null;
    }
  }, 'a saved resume point');
}
