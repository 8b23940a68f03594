/**
 * GET /api/v1/export over a real HTTP server, with conversations recorded through the gateway
 * from a vLLM-style upstream (token ids and logprobs): the record holds what was recorded, one
 * record per attempt, the filters select exactly their rows, and a range fixed by `until`
 * resumed with `after` gives the same lines as one uninterrupted export.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { Compile } from 'typebox/compile';
import { encodeLines, lookupFormat } from '../src/datasets/export/formats.ts';
import { TrajectoryRecord } from '../src/datasets/export/record.ts';
import type { Body } from './helpers/app.ts';
import { dbModes } from './helpers/db.ts';
import {
  type Claimed,
  claimAs,
  claimTask,
  converse,
  type GatewayHarness,
  report,
  startHarness,
} from './helpers/gateway.ts';
import { openSpillFiles } from './helpers/open-files.ts';
import { readWithDuckDb } from './helpers/parquet-readers.ts';

const checkRecord = Compile(TrajectoryRecord);
const DETECTED = { task_type: 'detection', results: { 'Detection Accuracy': 'Correct' } };

interface ExportReply {
  status: number;
  headers: Headers;
  lines: Body[];
  text: string;
}

for (const mode of dbModes()) {
  describe(`export endpoint (${mode})`, () => {
    let h: GatewayHarness;
    beforeEach(async () => {
      h = await startHarness(mode);
    });
    afterEach(() => h.close());

    const exportLines = async (query = ''): Promise<ExportReply> => {
      const res = await fetch(`${h.t.url}/api/v1/export${query ? `?${query}` : ''}`);
      const text = await res.text();
      const lines =
        res.status === 200
          ? text
              .split('\n')
              .filter(Boolean)
              .map((l) => JSON.parse(l) as Body)
          : [];
      return { status: res.status, headers: res.headers, lines, text };
    };
    /** A task that talks to the vLLM-style upstream for `turns` turns, then ends as told. */
    const play = async (
      payload: Record<string, unknown>,
      turns: number,
      end: { action: 'complete' | 'fail'; body: Record<string, unknown> },
    ): Promise<Claimed> => {
      const c = await claimTask(h.t, payload);
      if (turns > 0) await converse(c, 'vllm-chat', turns);
      await report(h.t, c, end.action, end.body);
      return c;
    };
    const completeWith = (result: unknown) => ({ action: 'complete' as const, body: { result } });

    it('writes one record per attempt with the conversation, token ids and logprobs as recorded', async () => {
      const c = await play({ problem_id: 'p-tokens', labels: { team: 'a' } }, 3, completeWith(DETECTED));
      const out = await exportLines();
      assert.equal(out.status, 200, out.text);
      assert.equal(out.headers.get('content-type'), 'application/x-ndjson');
      assert.equal(out.headers.get('x-export-total'), '1');
      assert.equal(out.headers.get('x-export-schema-version'), '1.0');
      assert.equal(out.lines.length, 1);
      const r = out.lines[0]!;
      assert.ok(checkRecord.Check(r), JSON.stringify([...checkRecord.Errors(r)].slice(0, 3)));
      assert.equal(r.task_id, c.task.id);
      assert.equal(r.attempt, 1);
      assert.equal(r.final, true);
      assert.equal(r.status, 'completed');
      assert.equal(r.reward, 1);
      assert.equal(r.task_type, 'detection');
      assert.deepEqual(r.results, DETECTED.results);
      assert.deepEqual(r.labels, { team: 'a' });
      assert.equal(r.worker_id, c.workerId);
      assert.ok(r.steps.some((s: Body) => s.source === 'server' && s.context?.event === 'claimed'));

      const conversation: Body = r.conversations[0]!;
      assert.equal(r.conversations.length, 1);
      assert.equal(conversation.calls.length, 3);
      assert.deepEqual(
        conversation.messages.map((m: Body) => m.role),
        ['user', 'assistant', 'user', 'assistant', 'user', 'assistant'],
      );
      // The token fields are exactly what the upstream answered, call by call.
      const stored = (
        await h.t.db.query<Body>(
          `SELECT c.seq, c.response FROM llm_calls c JOIN llm_conversations v ON v.id = c.conversation_id
           WHERE v.task_id = $1 ORDER BY c.seq`,
          [c.task.id],
        )
      ).rows;
      for (const [i, call] of conversation.calls.entries()) {
        const response = stored[i]!.response;
        assert.deepEqual(call.prompt_token_ids, response.prompt_token_ids);
        assert.deepEqual(call.completion_token_ids, response.choices[0].token_ids);
        assert.deepEqual(
          call.completion_logprobs,
          response.choices[0].logprobs.content.map((x: Body) => x.logprob),
        );
        assert.equal(call.completion_logprobs.length, call.completion_token_ids.length);
        assert.equal(call.request.model, 'vllm-chat');
        assert.equal(call.request.messages, undefined, 'messages live in the message list');
      }
    });

    it('gives each attempt its own record: a requeued attempt says so, `attempts=final` keeps the last', async () => {
      const first = await claimTask(h.t, { problem_id: 'p-retry', max_attempts: 2 });
      await converse(first, 'vllm-chat', 1, {}, 'first');
      await report(h.t, first, 'fail', { error_details: 'flaky', retry: true });
      const second = await claimAs(h.t, 'worker-900-kind');
      assert.equal(second.task.id, first.task.id);
      await converse(second, 'vllm-chat', 2, {}, 'second');
      await report(h.t, second, 'complete', { result: DETECTED });

      const all = (await exportLines()).lines;
      assert.deepEqual(
        all.map((r) => [r.attempt, r.final, r.status, r.worker_id, r.conversations[0]?.calls.length]),
        [
          [1, false, 'requeued', first.workerId, 1],
          [2, true, 'completed', second.workerId, 2],
        ],
      );
      assert.equal(all[0]!.cursor, all[1]!.cursor, 'the attempts of a task share its cursor');
      assert.equal(all[0]!.reward, null);
      assert.match(all[0]!.reward_reason, /not the last/);
      assert.ok(all[0]!.steps.every((s: Body) => s.message !== undefined));
      const final = (await exportLines('attempts=final')).lines;
      assert.deepEqual(
        final.map((r) => r.attempt),
        [2],
      );
    });

    it('selects exactly the rows each filter names', async () => {
      const a = await play({ problem_id: 'p-a', labels: { team: 'a' } }, 1, completeWith(DETECTED));
      const b = await play(
        { problem_id: 'p-b', labels: { team: 'b' }, policy_version: 7 },
        1,
        completeWith({ task_type: 'detection', results: { 'Detection Accuracy': 'Incorrect' } }),
      );
      const f = await play({ problem_id: 'p-a', labels: { team: 'b' } }, 0, {
        action: 'fail',
        body: { error_details: 'broken' },
      });
      const ids = async (q: string) => {
        const out = await exportLines(q);
        assert.equal(out.status, 200, out.text);
        return out.lines.map((r) => r.task_id);
      };
      assert.deepEqual(await ids(''), [a.task.id, b.task.id, f.task.id]);
      assert.deepEqual(await ids('problem_id=p-a'), [a.task.id, f.task.id]);
      assert.deepEqual(await ids('label=team=b'), [b.task.id, f.task.id]);
      assert.deepEqual(await ids('label=team:b&problem_id=p-a'), [f.task.id]);
      assert.deepEqual(await ids('status=failed'), [f.task.id]);
      assert.deepEqual(await ids('status=completed,failed&policy_version_min=7'), [b.task.id]);
      assert.deepEqual(await ids('policy_version_max=6'), []);
      assert.deepEqual(await ids(`worker_id=${a.workerId}`), [a.task.id]);
      assert.deepEqual(await ids('min_reward=1'), [a.task.id]);
      assert.deepEqual(await ids('max_reward=0.5'), [b.task.id]);
      // To the microsecond, as stored (a JS Date would round it down to the millisecond).
      const finishedB = (
        await h.t.db.query<Body>(
          `SELECT to_char(completed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at
           FROM tasks WHERE id = $1`,
          [b.task.id],
        )
      ).rows[0]!.at as string;
      assert.deepEqual(await ids(`completed_before=${finishedB}`), [a.task.id, b.task.id]);
      assert.deepEqual(await ids(`completed_after=${finishedB}`), [f.task.id]);
      const counted = await exportLines('label=team=b');
      assert.equal(counted.headers.get('x-export-total'), '2');
    });

    it('a fixed range resumed after any record equals the uninterrupted export', async () => {
      const tasks: Claimed[] = [];
      for (let i = 0; i < 5; i++) tasks.push(await play({ problem_id: `p-${i}` }, 1, completeWith(DETECTED)));
      const whole = await exportLines();
      const until = whole.headers.get('x-export-until')!;
      assert.match(until, /^\d+-\d+$/);
      // Later work stays outside the snapshot.
      await play({ problem_id: 'p-late' }, 0, completeWith(DETECTED));
      const again = await exportLines(`until=${until}`);
      assert.equal(again.text, whole.text);
      for (let cut = 0; cut < whole.lines.length; cut++) {
        const rest = await exportLines(`after=${whole.lines[cut]!.cursor}&until=${until}`);
        const head = `${whole.text
          .split('\n')
          .slice(0, cut + 1)
          .join('\n')}\n`;
        assert.equal(head + rest.text, whole.text, `resumed after record ${cut}`);
      }
      const all = await exportLines();
      assert.equal(all.lines.length, 6);
      assert.equal(all.lines.at(-1)!.problem_id, 'p-late');
    });

    it('writes every line format as the trajectories converted, token drift flagged where the ids broke', async () => {
      await play({ problem_id: 'p-1' }, 2, completeWith(DETECTED));
      await play({ problem_id: 'p-2' }, 0, completeWith(DETECTED));
      const whole = await exportLines();
      for (const name of ['openai-chat', 'tokens', 'atif']) {
        const format = lookupFormat(name);
        assert.ok(format && format.kind === 'lines', name);
        const out = await exportLines(`format=${name}`);
        assert.equal(out.status, 200, out.text);
        const expected = whole.lines.map((r) => encodeLines(format, r as TrajectoryRecord)).join('');
        assert.equal(out.text, expected, name);
      }
      // The fake vLLM numbers prompt tokens from 100 and sampled ones from 1000, so the second
      // call's prompt cannot extend the first call's prompt + completion: a drift right after
      // the first prompt, and only the first turn kept.
      const tokens = (await exportLines('format=tokens')).lines;
      assert.equal(tokens.length, 1, 'one line per conversation; the silent task has none');
      const [line] = tokens;
      const firstCall = whole.lines[0]!.conversations[0].calls[0];
      assert.equal(line!.token_consistent, false);
      assert.deepEqual(line!.drift, { call_seq: 2, position: firstCall.prompt_token_ids.length });
      assert.deepEqual(line!.prompt_ids, firstCall.prompt_token_ids);
      assert.deepEqual(line!.response_ids, firstCall.completion_token_ids);
      assert.deepEqual(line!.response_logprobs, firstCall.completion_logprobs);
      assert.ok(line!.response_mask.every((m: number) => m === 1));
      assert.equal(line!.calls_used, 1);
    });

    it('streams Parquet that DuckDB reads back as the same trajectories, token ids included', async () => {
      await play({ problem_id: 'p-1' }, 2, completeWith(DETECTED));
      await play({ problem_id: 'p-2', max_attempts: 1 }, 1, { action: 'fail', body: { error_details: 'x' } });
      const whole = await exportLines();
      const spillFiles = openSpillFiles().length;
      const res = await fetch(`${h.t.url}/api/v1/export?format=parquet`);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'application/vnd.apache.parquet');
      const dir = mkdtempSync(join(tmpdir(), 'te-export-'));
      try {
        const path = join(dir, 'export.parquet');
        writeFileSync(path, Buffer.from(await res.arrayBuffer()));
        assert.equal(openSpillFiles().length, spillFiles, 'the footer spill file is released');
        const rows = await readWithDuckDb(path);
        assert.deepEqual(
          rows.map((r) => [r.task_id, r.attempt, r.status, r.reward]),
          whole.lines.map((r) => [r.task_id, r.attempt, r.status, r.reward]),
        );
        const calls = (rows[0]!.conversations as Body[])[0]!.calls as Body[];
        const expected = whole.lines[0]!.conversations[0].calls;
        assert.deepEqual(
          calls.map((c) => [c.prompt_token_ids, c.completion_token_ids, c.completion_logprobs]),
          expected.map((c: Body) => [c.prompt_token_ids, c.completion_token_ids, c.completion_logprobs]),
        );
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('refuses a bad cursor, format or filter with 422, and serves the record schema', async () => {
      for (const q of [
        'after=12',
        'until=x-1',
        'format=csv',
        'status=running',
        'attempts=some',
        'label=bad',
      ]) {
        const out = await exportLines(q);
        assert.equal(out.status, 422, `${q}: ${out.text}`);
      }
      const res = await fetch(`${h.t.url}/api/v1/export/schema`);
      assert.equal(res.status, 200);
      const schema = (await res.json()) as Body;
      assert.equal(schema.title, 'Task Executor trajectory record');
      assert.ok(schema.properties.conversations);
      assert.ok(schema.required.includes('schema_version'));
    });
  });
}
