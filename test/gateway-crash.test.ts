/**
 * kill -9 of the API while an LLM call is in flight: after a restart, the call is found and
 * recorded as interrupted (real server processes on a real PostgreSQL; PGlite's single
 * process is not killed mid-write here).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startFakeLlm } from './fixtures/fake-llm.ts';
import { createTestDb } from './helpers/db.ts';
import { OPENAI_KEY } from './helpers/gateway.ts';
import { type CliProcess, startCli, waitFor } from './helpers/process.ts';

type Body = Record<string, unknown> & { id: string };

test('an LLM call in flight when the API is killed is recorded as interrupted after restart', {
  skip: process.env.TEST_DATABASE_URL ? false : 'needs TEST_DATABASE_URL (a PostgreSQL server)',
}, async () => {
  const fake = await startFakeLlm();
  const testDb = await createTestDb('postgres');
  await testDb.db.close();
  const dataDir = mkdtempSync(join(tmpdir(), 'te-crash-'));
  const env = {
    PORT: '0',
    DATA_DIR: dataDir,
    DATABASE_URL: testDb.url!,
    NUM_INTERNAL_WORKERS: '0',
    OPENAI_API_KEY: OPENAI_KEY,
    OPENAI_BASE_URL: fake.url,
    LLM_TIMEOUT_SECONDS: '120',
    LLM_STREAM_IDLE_TIMEOUT_SECONDS: '120',
    LLM_INFLIGHT_STALE_SECONDS: '5',
  };
  const servers: CliProcess[] = [];
  const serve = async (): Promise<string> => {
    const server = startCli(['serve'], env);
    servers.push(server);
    return (JSON.parse(await server.waitForLine(/Task Executor listening/)) as { url: string }).url;
  };
  const call = (base: string, path: string, body?: unknown) =>
    fetch(`${base}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  try {
    const first = await serve();
    assert.equal(
      (await call(first, '/api/v1/workers/register', { worker_id: 'worker-001-kind' })).status < 300,
      true,
    );
    assert.equal((await call(first, '/api/v1/tasks', { problem_id: 'p-1' })).status, 201);
    const task = (await (await call(first, '/api/v1/workers/worker-001-kind/claim', {})).json()) as Body & {
      llm_base_url: string;
      llm_api_key: string;
    };
    // A stream that never ends; the API dies under it.
    const pending = fetch(`${task.llm_base_url}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${task.llm_api_key}` },
      body: JSON.stringify({
        model: 'fake-stall',
        stream: true,
        messages: [{ role: 'user', content: 'think' }],
      }),
    })
      .then((r) => r.text())
      .catch(() => 'connection lost');
    await waitFor(async () => fake.requests.length === 1, 'the call to reach the upstream', 30_000);
    await servers[0]!.stop('SIGKILL');
    await pending;

    const second = await serve();
    const calls = await waitFor(
      async () => {
        const conversations = (await (
          await call(second, `/api/v1/llm-conversations/task/${task.id}/conversations`)
        ).json()) as Body[];
        if (conversations.length === 0) return null;
        const { calls } = (await (
          await call(second, `/api/v1/llm-conversations/${conversations[0]!.id}/calls`)
        ).json()) as { calls: Body[] };
        return calls.length > 0 && calls;
      },
      'the interrupted call to be recorded',
      60_000,
    );
    assert.equal(calls.length, 1);
    assert.equal(calls[0]!.end_reason, 'interrupted');
    assert.equal(calls[0]!.prompt_message_count, 1);
  } finally {
    for (const s of servers) await s.stop('SIGKILL').catch(() => {});
    await fake.close();
    rmSync(dataDir, { recursive: true, force: true });
    await testDb.drop().catch(() => {});
  }
});
