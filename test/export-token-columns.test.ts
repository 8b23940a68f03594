/**
 * Migration 0013: token ids and logprobs moved out of the response jsonb into columns of their
 * own. Calls recorded before it (tokens only in the response) must export exactly what the
 * export read from the jsonb before, and the backfill must fill the columns exactly as the
 * recorder now does (src/gateway/token-columns.ts), edge cases included.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { exportRange, readTrajectories } from '../src/datasets/export/reader.ts';
import { listMigrations, migrate } from '../src/db/migrate.ts';
import { toStoredJson } from '../src/db/text-codec.ts';
import type { Queryable } from '../src/db/types.ts';
import { tokenColumns } from '../src/gateway/token-columns.ts';
import { createTestDb, dbModes } from './helpers/db.ts';

type Doc = Record<string, unknown>;

const choice = (fields: Doc): Doc => ({
  index: 0,
  message: { role: 'assistant', content: 'ok' },
  finish_reason: 'stop',
  ...fields,
});
const entry = (token: string, logprob: unknown, extra: Doc = {}): Doc => ({ token, logprob, ...extra });

/**
 * Responses as upstreams send them; `junk` ones hold values that are no token ids or logprobs;
 * `brokeExport`: the export before 0013 failed on it (a query error), now it has no logprobs.
 */
const RESPONSES: { name: string; response: Doc | null; junk?: boolean; brokeExport?: boolean }[] = [
  {
    name: 'vLLM with ids and top-k logprobs',
    response: {
      prompt_token_ids: [151644, 8948, 0, 2147483647],
      choices: [
        choice({
          token_ids: [40, 1079, 7],
          logprobs: {
            content: [
              entry('I', -0.30000000000000004, { top_logprobs: [entry('I', -0.30000000000000004)] }),
              entry(' am', -1.2345678901234566e-7, { bytes: [32, 97, 109] }),
              entry('.', -9999),
            ],
          },
        }),
      ],
    },
  },
  {
    name: 'entries without a logprob, and one that is no object',
    response: {
      choices: [
        choice({ logprobs: { content: [entry('a', null), { token: 'b' }, 7, entry('c', -2.5), [1]] } }),
      ],
    },
  },
  { name: 'no logprob entries', response: { choices: [choice({ logprobs: { content: [] } })] } },
  { name: 'completion ids only, empty', response: { choices: [choice({ token_ids: [] })] } },
  {
    name: 'a second choice with ids and logprobs, the first without',
    response: {
      choices: [choice({}), choice({ index: 1, token_ids: [1, 2], logprobs: { content: [entry('x', -1)] } })],
    },
  },
  { name: 'no token data', response: { choices: [choice({})] } },
  {
    name: 'a refusal: logprobs without content entries',
    response: { choices: [choice({ logprobs: { content: null, refusal: [entry('no', -0.5)] } })] },
    brokeExport: true,
  },
  { name: 'no response (a call that failed before one)', response: null },
  {
    name: 'ids that are no int4 integers',
    response: { prompt_token_ids: [1, 2.5], choices: [choice({ token_ids: [3_000_000_000] })] },
    junk: true,
  },
  {
    name: 'ids that are strings, a logprob that is a string',
    response: {
      prompt_token_ids: ['1'],
      choices: [choice({ token_ids: [1, null], logprobs: { content: [entry('a', '-1')] } })],
    },
    junk: true,
  },
];

/** What the export read from the response before migration 0013 (its store.ts, verbatim). */
const BEFORE_0013 = `
  SELECT seq,
         CASE WHEN has_token_ids THEN response -> 'prompt_token_ids' END AS prompt_token_ids,
         CASE WHEN has_token_ids THEN response -> 'choices' -> 0 -> 'token_ids' END AS completion_token_ids,
         CASE WHEN has_logprobs THEN (
           SELECT jsonb_agg(x -> 'logprob' ORDER BY n)
           FROM jsonb_array_elements(response -> 'choices' -> 0 -> 'logprobs' -> 'content')
                WITH ORDINALITY AS l(x, n)
         ) END AS completion_logprobs
  FROM llm_calls WHERE NOT seq = ANY($1::int[]) ORDER BY seq`;

const TOKEN_FIELDS = ['prompt_token_ids', 'completion_token_ids', 'completion_logprobs'] as const;

/** A finished task with one conversation whose calls got RESPONSES, written as the gateway did before 0013. */
async function seedOldCalls(db: Queryable): Promise<string> {
  const { rows } = await db.query<{ id: string }>(
    `INSERT INTO tasks (problem_id, status, attempt, started_at, completed_at)
     VALUES ('p', 'completed', 1, now(), now()) RETURNING id`,
  );
  const taskId = rows[0]!.id;
  const conv = await db.query<{ id: string }>(
    `INSERT INTO llm_conversations (task_id, attempt, conversation_key, call_count)
     VALUES ($1, 1, 'default', $2) RETURNING id`,
    [taskId, RESPONSES.length],
  );
  for (const [i, { response }] of RESPONSES.entries()) {
    const choices = (response?.choices ?? []) as Doc[];
    await db.query(
      `INSERT INTO llm_calls (conversation_id, task_id, attempt, seq, upstream, model_requested, stream,
         request, prompt_message_count, prefix_consistent, response, end_reason, has_token_ids,
         has_logprobs, started_at)
       VALUES ($1, $2, 1, $3, 'vllm', 'm', false, '{}', 0, true, $4::jsonb, 'done', $5, $6, now())`,
      [
        conv.rows[0]!.id,
        taskId,
        i + 1,
        response === null ? null : toStoredJson(response),
        Array.isArray(response?.prompt_token_ids) || choices.some((c) => Array.isArray(c.token_ids)),
        choices.some((c) => c.logprobs != null),
      ],
    );
  }
  return taskId;
}

for (const mode of dbModes()) {
  describe(`migration 0013: token columns over recorded calls (${mode})`, () => {
    it('exports calls recorded before it byte for byte as before, and drops values that are no tokens', async () => {
      const { db, drop } = await createTestDb(
        mode,
        2,
        listMigrations().filter((m) => m.version < 13),
      );
      try {
        await seedOldCalls(db);
        const broke = RESPONSES.flatMap((r, i) => (r.brokeExport ? [i + 1] : []));
        const before = new Map(
          (await db.query<Doc>(BEFORE_0013, [broke])).rows.map((r) => [Number(r.seq), r]),
        );
        await migrate(db);
        const records = [];
        for await (const r of readTrajectories(db, {}, await exportRange(db))) records.push(r);
        assert.equal(records.length, 1);
        const calls = records[0]!.conversations[0]!.calls;
        assert.equal(calls.length, RESPONSES.length);
        for (const [i, spec] of RESPONSES.entries()) {
          for (const field of TOKEN_FIELDS) {
            const got = calls[i]![field];
            if (spec.junk || spec.brokeExport) assert.equal(got, null, `${spec.name}: ${field}`);
            else {
              const old = before.get(i + 1)![field];
              assert.equal(
                JSON.stringify(got),
                JSON.stringify(Array.isArray(old) ? old : null),
                `${spec.name}: ${field}`,
              );
            }
          }
        }
        assert.deepEqual(
          calls[0]!.completion_logprobs,
          [-0.30000000000000004, -1.2345678901234566e-7, -9999],
        );
        assert.deepEqual(calls[1]!.completion_logprobs, [null, null, null, -2.5, null]);
        assert.equal(calls[2]!.completion_logprobs, null);
        assert.deepEqual(calls[3]!.completion_token_ids, []);
      } finally {
        await drop();
      }
    });

    it('fills the columns as the recorder does, for every response', async () => {
      const { db, drop } = await createTestDb(
        mode,
        2,
        listMigrations().filter((m) => m.version < 13),
      );
      try {
        await seedOldCalls(db);
        await migrate(db);
        for (const [i, { name, response }] of RESPONSES.entries()) {
          const want = tokenColumns(response);
          const { rows } = await db.query<Doc>(
            `SELECT prompt_token_ids IS NOT DISTINCT FROM $2::bytea AS prompt,
                    completion_token_ids IS NOT DISTINCT FROM $3::bytea AS completion,
                    completion_logprobs IS NOT DISTINCT FROM $4::bytea AS logprobs
             FROM llm_calls WHERE seq = $1`,
            [i + 1, want.promptTokenIds, want.completionTokenIds, want.completionLogprobs],
          );
          assert.deepEqual(rows[0], { prompt: true, completion: true, logprobs: true }, name);
        }
      } finally {
        await drop();
      }
    });
  });
}
