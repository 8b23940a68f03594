/**
 * Gateway test helpers: an app listening on 127.0.0.1 with the fake upstream configured as
 * OpenAI and as a vLLM server, a claimed task with its token, and calls through the gateway
 * and straight to the fake (to compare bytes).
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { type FakeLlm, startFakeLlm } from '../fixtures/fake-llm.ts';
import {
  type Body,
  createTestApp,
  registerWorker,
  submitTask,
  type TestApp,
  type TestAppOptions,
} from './app.ts';
import type { DbMode } from './db.ts';

export const OPENAI_KEY = 'sk-test-openai-9f8e7d6c5b4a';
export const VLLM_KEY = 'vllm-test-key-1a2b3c4d5e';

export interface GatewayHarness {
  t: TestApp;
  fake: FakeLlm;
  close(): Promise<void>;
}

export async function startHarness(
  mode: DbMode,
  env: Record<string, string> = {},
  opts: Pick<TestAppOptions, 'logger'> = {},
): Promise<GatewayHarness> {
  const fake = await startFakeLlm();
  const t = await createTestApp(mode, {
    ...opts,
    listen: true,
    env: {
      OPENAI_API_KEY: OPENAI_KEY,
      OPENAI_BASE_URL: fake.url,
      LLM_UPSTREAMS: JSON.stringify({
        vllm: { base_url: fake.url, kind: 'vllm', api_key: VLLM_KEY, return_token_ids: true, logprobs: true },
      }),
      LLM_MODEL_ROUTES: JSON.stringify({
        'vllm-chat': { upstream: 'vllm', model: 'fake-chat' },
        'vllm-tools': { upstream: 'vllm', model: 'fake-tools' },
      }),
      LLM_TIMEOUT_SECONDS: '3',
      LLM_STREAM_IDLE_TIMEOUT_SECONDS: '1',
      ...env,
    },
  });
  return {
    t,
    fake,
    async close() {
      await t.close();
      await fake.close();
    },
  };
}

/** Rows of a JSON response; `any` so a test can index them directly (each index is checked by assertions). */
// biome-ignore lint/suspicious/noExplicitAny: see above.
export type Rows = any[];

export interface Claimed {
  task: Body;
  token: string;
  baseUrl: string;
  workerId: string;
}

let workers = 0;

/** Submits a task, registers a fresh worker and claims the task over HTTP. */
export async function claimTask(
  t: TestApp,
  payload: Record<string, unknown> = { problem_id: 'p-1' },
): Promise<Claimed> {
  const workerId = `worker-${String(100 + (workers++ % 800)).padStart(3, '0')}-kind`;
  await registerWorker(t, workerId);
  await submitTask(t, payload);
  const res = await fetch(`${t.url}/api/v1/workers/${workerId}/claim`, { method: 'POST' });
  const task = (await res.json()) as Body;
  if (!task) throw new Error('nothing claimed');
  return { task, token: task.llm_api_key, baseUrl: task.llm_base_url, workerId };
}

export interface RawReply {
  status: number;
  text: string;
  headers: Headers;
}

export async function post(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<RawReply> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

/** A chat call through the gateway with a task token. */
export function viaGateway(
  c: Claimed,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<RawReply> {
  return post(`${c.baseUrl}/chat/completions`, body, { authorization: `Bearer ${c.token}`, ...headers });
}

/** The same call straight to the fake upstream. */
export function direct(fake: FakeLlm, body: unknown): Promise<RawReply> {
  return post(`${fake.url}/chat/completions`, body, { authorization: `Bearer ${OPENAI_KEY}` });
}

export async function getJson(t: TestApp, path: string): Promise<Body> {
  const res = await fetch(`${t.url}${path}`);
  if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as Body;
}

/** A task's conversations: the endpoint answers a bare list, newest first (as the Python executor did). */
export async function taskConversations(t: TestApp, taskId: string): Promise<Rows> {
  const res = await fetch(`${t.url}/api/v1/llm-conversations/task/${taskId}/conversations`);
  if (res.status !== 200) throw new Error(`conversations of ${taskId}: ${res.status} ${await res.text()}`);
  const list = (await res.json()) as unknown;
  assert.ok(Array.isArray(list), `a list: ${JSON.stringify(list)}`);
  return list;
}

/** The task's conversations, and the calls of its first one. */
export async function recorded(t: TestApp, taskId: string): Promise<{ conversations: Rows; calls: Rows }> {
  const conversations = await taskConversations(t, taskId);
  if (conversations.length === 0) return { conversations, calls: [] };
  const { calls } = await getJson(t, `/api/v1/llm-conversations/${conversations[0].id}/calls`);
  return { conversations, calls };
}

/** Waits (bounded) until the task's first conversation holds n calls. */
export async function waitForCalls(t: TestApp, taskId: string, n: number): Promise<Rows> {
  for (let i = 0; i < 100; i++) {
    const { calls } = await recorded(t, taskId);
    if (calls.length >= n) return calls;
    await sleep(50);
  }
  throw new Error(`expected ${n} recorded calls for ${taskId}`);
}

export const user = (content: string) => ({ role: 'user', content });

/** Asserts an OpenAI-style error: `{ error: { message, type, param, code } }` with this status and code. */
export function assertOpenAiError(r: RawReply, status: number, code: string, message?: RegExp): Body {
  assert.equal(r.status, status, r.text);
  const body = JSON.parse(r.text) as Body;
  assert.equal(typeof body.error, 'object', `an OpenAI error object: ${r.text}`);
  assert.equal(typeof body.error.message, 'string', r.text);
  assert.equal(typeof body.error.type, 'string', r.text);
  assert.equal(body.error.code, code, r.text);
  if (message) assert.match(body.error.message, message);
  return body.error;
}

/** A chat call with an arbitrary Authorization header (or none). */
export function chatAs(c: Claimed, authorization: string | null, body: unknown): Promise<RawReply> {
  return post(`${c.baseUrl}/chat/completions`, body, authorization === null ? {} : { authorization });
}

export async function getStatus(url: string, headers: Record<string, string> = {}): Promise<RawReply> {
  const res = await fetch(url, { headers });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

/** A worker report (complete, fail, release) over HTTP; returns the reply, asserting 200. */
export async function report(
  t: TestApp,
  c: Claimed,
  action: string,
  body: Record<string, unknown>,
): Promise<Body> {
  const r = await post(`${t.url}/api/v1/workers/${c.workerId}/tasks/${c.task.id}/${action}`, body);
  assert.equal(r.status, 200, `${action}: ${r.text}`);
  return JSON.parse(r.text) as Body;
}

/** Registers `workerId` and claims over HTTP; the claim must return a task. */
export async function claimAs(t: TestApp, workerId: string): Promise<Claimed> {
  await registerWorker(t, workerId);
  const res = await fetch(`${t.url}/api/v1/workers/${workerId}/claim`, { method: 'POST' });
  assert.equal(res.status, 200);
  const task = (await res.json()) as Body | null;
  assert.ok(task, `${workerId} claimed nothing`);
  return { task, token: task.llm_api_key, baseUrl: task.llm_base_url, workerId };
}

/**
 * Plays `turns` turns of a conversation with `model` (non-streamed), each prompt extending the
 * previous one with the reply, as an agent does. Returns the replies' contents.
 */
export async function converse(
  c: Claimed,
  model: string,
  turns: number,
  headers: Record<string, string> = {},
  label = 'turn',
): Promise<string[]> {
  const messages: { role: string; content: string }[] = [];
  const replies: string[] = [];
  for (let i = 0; i < turns; i++) {
    messages.push(user(`${label} ${i}`));
    const r = await viaGateway(c, { model, messages }, headers);
    assert.equal(r.status, 200, r.text);
    const content = JSON.parse(r.text).choices[0].message.content as string;
    replies.push(content);
    messages.push({ role: 'assistant', content });
  }
  return replies;
}

/**
 * Recording follows the answer: waits (bounded) until the task's conversations hold `n` calls
 * in all, and returns them.
 */
export async function waitForTaskCalls(t: TestApp, taskId: string, n: number): Promise<Rows> {
  let total = 0;
  for (let i = 0; i < 100; i++) {
    const conversations = await taskConversations(t, taskId);
    total = conversations.reduce((sum: number, x: Body) => sum + x.call_count, 0);
    if (total >= n) return conversations;
    await sleep(50);
  }
  throw new Error(`expected ${n} recorded calls for task ${taskId}, found ${total}`);
}

export const byKey = (conversations: Rows, key: string) => {
  const found = conversations.find((x) => x.conversation_key === key);
  assert.ok(found, `no conversation with key ${key} among ${conversations.map((x) => x.conversation_key)}`);
  return found;
};

export const near = (actual: number, expected: number, what: string) => {
  assert.equal(typeof actual, 'number', `${what} is a number`);
  assert.ok(
    Math.abs(actual - expected) <= 1e-12 + Math.abs(expected) * 1e-9,
    `${what}: ${actual} is not ${expected}`,
  );
};
