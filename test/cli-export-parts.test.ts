/**
 * The export command's parts on their own: the manifest builder, the selection's canonical
 * form, the resume file and data file, the start plan, the line splitter and the progress text.
 * test/cli-export.test.ts runs the whole command against a real server.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { DataFile } from '../src/cli/export/data-file.ts';
import { Journal } from '../src/cli/export/journal.ts';
import { exportQuery, labelParam, selectionFrom } from '../src/cli/export/options.ts';
import { createOutput } from '../src/cli/export/output.ts';
import { planStart } from '../src/cli/export/plan.ts';
import { createProgress, formatDuration, progressBar, progressSummary } from '../src/cli/export/progress.ts';
import { splitLines, TruncatedStreamError } from '../src/cli/export/source.ts';
import { exportPaths, type PartialState, readPartial, writeJsonAtomic } from '../src/cli/export/state.ts';
import type { ExportFormat } from '../src/datasets/export/formats.ts';
import {
  buildManifest,
  canonicalFilters,
  emptyTally,
  publicUrl,
  sameFilters,
  tallyTask,
} from '../src/datasets/export/manifest.ts';
import type { TrajectoryRecord } from '../src/datasets/export/record.ts';

const rec = (completed_at: string | null) => ({ completed_at }) as TrajectoryRecord;

describe('export manifest', () => {
  it('counts tasks, records and lines, and spans the earliest to the latest completion', () => {
    let t = emptyTally();
    // Finish-cursor order is commit order: a later cursor can carry an earlier completed_at.
    t = tallyTask(t, [rec('2025-01-02T00:00:00.000Z'), rec('2025-01-02T00:00:05.000Z')], 2);
    t = tallyTask(t, [rec('2025-01-01T23:59:00.000Z')], 1);
    t = tallyTask(t, [rec(null)], 0);
    const m = buildManifest({
      schemaVersion: '1.0',
      format: 'trajectories',
      kind: 'lines',
      filters: { status: 'failed,completed', label: ['b:2', 'a:1'] },
      apiUrl: 'http://user:secret@api.example:8000/?token=x',
      serverVersion: '0.3.0',
      createdAt: new Date('2025-02-01T00:00:00Z'),
      range: { after: '0', until: '10-4' },
      tally: t,
      files: [{ path: 'out.jsonl', bytes: 12, sha256: 'ab' }],
    });
    assert.deepEqual(m.counts, { tasks: 3, trajectories: 4, lines: 3 });
    assert.deepEqual(m.time_range, {
      first_completed_at: '2025-01-01T23:59:00.000Z',
      last_completed_at: '2025-01-02T00:00:05.000Z',
    });
    assert.equal(m.api_url, 'http://api.example:8000');
    assert.deepEqual(m.filters, { label: ['a:1', 'b:2'], status: 'completed,failed' });
    assert.equal(m.created_at, '2025-02-01T00:00:00.000Z');
    const file = buildManifest({
      ...m,
      schemaVersion: '1.0',
      apiUrl: null,
      serverVersion: null,
      createdAt: new Date(),
      kind: 'file',
      tally: t,
      files: [],
    });
    assert.deepEqual(file.counts, { tasks: 3, trajectories: 4, rows: 3 });
  });

  it('treats selections that differ only in spelling as the same', () => {
    assert.ok(
      sameFilters(
        { status: 'completed, failed', label: ['x:1', 'y:2'] },
        { label: ['y:2', 'x:1'], status: 'failed,completed' },
      ),
    );
    assert.ok(!sameFilters({ status: 'completed' }, { status: 'failed' }));
    assert.ok(!sameFilters({ label: ['x:1'] }, {}));
    assert.deepEqual(canonicalFilters({ model: '', label: [] }), {});
    assert.equal(publicUrl('not a url'), '(invalid url)');
  });
});

describe('export selection flags', () => {
  it('become query parameters, with labels as key=value and the range set per request', () => {
    const f = selectionFrom({
      experimentId: 'e1',
      status: 'failed,completed',
      label: ['run=1', 'k:v'],
      minReward: '0.5',
    });
    assert.deepEqual(f, {
      experiment_id: 'e1',
      label: ['k=v', 'run=1'],
      min_reward: '0.5',
      status: 'completed,failed',
    });
    const q = new URLSearchParams(exportQuery({ ...f, after: '5-1' }, { after: '9-2', until: '12-3' }));
    assert.equal(q.get('format'), 'trajectories');
    assert.deepEqual(q.getAll('label'), ['k=v', 'run=1']);
    assert.equal(labelParam('a=b:c'), 'a=b:c');
    assert.equal(labelParam('a:b=c'), 'a:b=c', 'the first = splits, as on the server');
    assert.equal(q.get('after'), '9-2', 'the request’s own position, not the selection’s start');
    assert.equal(q.get('until'), '12-3');
    assert.equal(new URLSearchParams(exportQuery({}, { after: '0', until: null })).has('until'), false);
    assert.throws(() => labelParam('novalue'), /key=value/);
  });
});

describe('export lines from a response body', () => {
  async function* chunks(...parts: string[]) {
    for (const p of parts) yield Buffer.from(p);
  }
  const all = async (body: AsyncIterable<Uint8Array>) => {
    const out: string[] = [];
    for await (const l of splitLines(body)) out.push(l.toString());
    return out;
  };

  it('joins lines split across chunks, including a line longer than several chunks', async () => {
    assert.deepEqual(await all(chunks('{"a":1}\n{"b"', ':2', '2}\n', '{"c":"é"}\n')), [
      '{"a":1}',
      '{"b":22}',
      '{"c":"é"}',
    ]);
  });

  it('fails a body that stops inside a line, as a cut connection does', async () => {
    await assert.rejects(all(chunks('{"a":1}\n{"b":')), TruncatedStreamError);
  });
});

describe('export progress text', () => {
  it('shows done/total, megabytes, the run’s rate and the time left', () => {
    const r = { tasks: 150, total: 300, bytes: 3 * 1024 * 1024, runTasks: 100, runSeconds: 10 };
    assert.equal(progressSummary(r), '150/300 tasks  3.0 MB  10.0 tasks/s  ETA 0:15');
    assert.equal(progressBar(r, 10), '[#####-----]  50%');
    assert.equal(progressSummary({ ...r, total: null, runTasks: 0 }), '150 tasks  3.0 MB');
    assert.equal(formatDuration(3725), '1:02:05');
  });

  it('draws a bar in place on a terminal, plain lines elsewhere, nothing when quiet', () => {
    const r = { tasks: 1, total: 2, bytes: 0, runTasks: 1, runSeconds: 1 };
    const written: string[] = [];
    const tty = createProgress({ isTTY: true, write: (s) => written.push(s) }, { quiet: false });
    tty.update(r);
    tty.note('hello');
    tty.stop();
    assert.match(written[0]!, /^\r\[#+-+\]/);
    assert.ok(written.includes('hello\n'));
    assert.equal(written.at(-1), '\r\x1b[K');
    const plain: string[] = [];
    createProgress({ isTTY: false, write: (s) => plain.push(s) }, { quiet: false }).update(r);
    assert.deepEqual(plain, ['export: 1/2 tasks  0.0 MB  1.0 tasks/s  ETA 0:01\n']);
    const quiet: string[] = [];
    const q = createProgress({ isTTY: true, write: (s) => quiet.push(s) }, { quiet: true });
    q.update(r);
    q.note('x');
    assert.deepEqual(quiet, []);
  });
});

describe('export files on disk', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'te-export-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const state = (over: Partial<PartialState> = {}): PartialState => ({
    partial_version: 1,
    format: 'trajectories',
    filters: { status: 'completed' },
    api_url: 'http://127.0.0.1:1',
    after: '0',
    until: '9-9',
    cursor: '0',
    bytes: 0,
    tally: emptyTally(),
    total: 3,
    schema_version: '1.0',
    server_version: null,
    started_at: 'now',
    updated_at: 'now',
    ...over,
  });

  it('saves a resume point only after the bytes it names, and a reopen cuts what came after', async () => {
    const paths = exportPaths(join(dir, 'out.jsonl'));
    const journal = new Journal(await DataFile.open(paths.file, 0), state(), paths.partial, {
      everyTasks: 2,
      everyMs: 60_000,
    });
    await journal.commit('1-1', [rec(null)], { bytes: Buffer.from('a\n'), units: 1 });
    assert.equal(await readPartial(paths.partial), null, 'not saved before everyTasks');
    await journal.commit('2-1', [rec(null), rec(null)], { bytes: Buffer.from('bb\nbb\n'), units: 2 });
    const saved = await readPartial(paths.partial);
    assert.equal(saved?.cursor, '2-1');
    assert.equal(saved?.bytes, 8);
    assert.equal(statSync(paths.file).size, 8, 'the data reached the file before the point naming it');
    assert.deepEqual(saved?.tally, { ...emptyTally(), tasks: 2, trajectories: 3, units: 3 });
    await journal.commit('3-1', [rec(null)], { bytes: Buffer.from('ccc\n'), units: 1 });
    await journal.close();
    assert.equal((await readPartial(paths.partial))?.cursor, '3-1', 'close saves the last task');

    // A crash after more bytes were written than the saved point names: reopening cuts them.
    writeFileSync(paths.file, 'a\nbb\nbb\nccc\nhalf-a-li');
    const again = await DataFile.open(paths.file, 12);
    await again.append(Buffer.from('d\n'));
    await again.close();
    assert.equal(readFileSync(paths.file, 'utf8'), 'a\nbb\nbb\nccc\nd\n');
    await assert.rejects(DataFile.open(paths.file, 100), /has 14 bytes but the resume point says 100/);
  });

  it('plans a fresh start, a resume, a refusal, or nothing to do, from the files there', async () => {
    const paths = exportPaths(join(dir, 'out.jsonl'));
    const want = { format: 'trajectories', filters: { status: 'completed' } };
    assert.equal((await planStart(paths, want, false)).kind, 'fresh');
    writeFileSync(paths.file, 'x\n');
    const foreign = await planStart(paths, want, false);
    assert.equal(foreign.kind, 'refuse', 'a file this command did not write is not overwritten');
    await writeJsonAtomic(paths.partial, state());
    assert.equal((await planStart(paths, want, false)).kind, 'resume');
    const other = await planStart(paths, { ...want, filters: { status: 'failed' } }, false);
    assert.equal(other.kind, 'refuse');
    assert.match(
      (other as { message: string }).message,
      /different selection[\s\S]*"completed"[\s\S]*"failed"/,
    );
    assert.equal((await planStart(paths, { ...want, format: 'parquet' }, false)).kind, 'refuse');
    // --force starts over whatever is there.
    await writeJsonAtomic(paths.manifest, {});
    assert.equal((await planStart(paths, { ...want, filters: {} }, true)).kind, 'fresh');
    assert.equal(await readPartial(paths.partial), null);
    await writeJsonAtomic(paths.manifest, {});
    writeFileSync(paths.spool, 'left over');
    assert.equal((await planStart(paths, want, false)).kind, 'complete');
    assert.throws(() => statSync(paths.spool), /ENOENT/);
  });

  it('refuses a resume file it cannot read rather than guessing', async () => {
    const paths = exportPaths(join(dir, 'out.jsonl'));
    writeFileSync(paths.partial, '{"partial_version": 7}');
    await assert.rejects(readPartial(paths.partial), /--force/);
    writeFileSync(paths.partial, '{');
    await assert.rejects(readPartial(paths.partial), /not valid JSON/);
  });

  it('a file format keeps the server’s lines in a spool, then writes the file from it record by record', async () => {
    const paths = exportPaths(join(dir, 'out.bin'));
    const seen: string[] = [];
    let closed = 0;
    // A whole-file format in miniature: a header, one row per record, a footer on end().
    const format: ExportFormat = {
      name: 'parquet',
      kind: 'file',
      contentType: 'application/octet-stream',
      extension: '.bin',
      writer: (out) => {
        out.write('HEAD\n');
        return {
          async write(r) {
            seen.push(r.task_id);
            out.write(`${r.task_id}\n`);
          },
          async end() {
            out.write('FOOT\n');
          },
          close() {
            closed++;
          },
        };
      },
    };
    const output = createOutput(format, paths);
    assert.equal(output.dataPath, paths.spool);
    const raw = [
      Buffer.from('{"task_id":"a", "cursor":"1-1"}'),
      Buffer.from('{"task_id":"b","cursor":"1-1"}'),
    ];
    const encoded = output.encode([{ task_id: 'a' }, { task_id: 'b' }] as TrajectoryRecord[], raw);
    assert.equal(encoded.units, 2, 'one row per record');
    assert.equal(
      encoded.bytes.toString(),
      '{"task_id":"a", "cursor":"1-1"}\n{"task_id":"b","cursor":"1-1"}\n',
      'as sent',
    );
    writeFileSync(paths.spool, Buffer.concat([encoded.bytes, Buffer.from('{"task_id":"c"}\n')]));
    const rows: number[] = [];
    await output.finish((n) => rows.push(n));
    assert.equal(readFileSync(paths.file, 'utf8'), 'HEAD\na\nb\nc\nFOOT\n');
    assert.deepEqual(rows, [1, 2, 3]);
    assert.deepEqual(seen, ['a', 'b', 'c']);
    assert.equal(closed, 1, 'the writer is closed once its file is written');
  });
});
