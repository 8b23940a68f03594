/**
 * Gateway benchmarks:
 *   1. added latency: the same agent-like calls sent straight to the fake upstream and through
 *      the gateway (which authorises, relays and records each one before answering), alternated
 *      so both see the same machine noise. Non-streamed: full response time; streamed: time to
 *      the first body chunk. Reported as p50/p99 of each and the difference of the medians.
 *   2. append cost: recording the call that adds message N to a conversation that already
 *      holds N−1, for N = 10, 100, 1000 (median over several conversations). Flat means the
 *      store never re-reads or rewrites history. Beside it, the in-flight row the gateway
 *      writes before forwarding a call with the same prompt (the price of losing no call
 *      when an API process dies).
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { createApp } from '../src/api/app.ts';
import type { Config } from '../src/config/index.ts';
import { loadConfig } from '../src/config/index.ts';
import type { Db } from '../src/db/types.ts';
import { createInFlightStore, promptBase } from '../src/gateway/in-flight.ts';
import { toStoredMessage } from '../src/gateway/messages.ts';
import { createRecorder } from '../src/gateway/recorder.ts';
import { summarize } from '../src/gateway/summary.ts';
import type { Queue } from '../src/queue/index.ts';
import { FAKE_CHAT_CONTENT, startFakeLlm } from '../test/fixtures/fake-llm.ts';
import { median, percentile } from './db.ts';

const CALLS = Number(process.env.BENCH_GATEWAY_CALLS ?? 400);
const TURNS_PER_CONVERSATION = 20;
const APPEND_SIZES = [10, 100, 1000];
const APPEND_SAMPLES = Number(process.env.BENCH_APPEND_SAMPLES ?? 31);

const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

/** POSTs and resolves at the first body byte (ttfb) and at the end (total), in ms. */
function timedPost(
  url: string,
  headers: Record<string, string>,
  body: string,
): Promise<{ ttfb: number; total: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let ttfb = 0;
    const req = http.request(
      url,
      {
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          ...headers,
        },
      },
      (res) => {
        res.once('data', () => {
          ttfb = performance.now() - t0;
        });
        res.on('data', () => {});
        res.on('end', () =>
          res.statusCode === 200
            ? resolve({ ttfb, total: performance.now() - t0 })
            : reject(new Error(`HTTP ${res.statusCode}`)),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * The floor: a bare node:http pass-through (no parsing, no auth, no record), to tell the cost
 * of one more HTTP hop on this machine from the gateway's own work.
 */
export async function startBareRelay(
  target: string,
  maxSockets = 4,
): Promise<{ url: string; close(): Promise<void> }> {
  const upstreamAgent = new http.Agent({ keepAlive: true, maxSockets });
  const server = http.createServer((req, res) => {
    const up = http.request(target, { method: 'POST', agent: upstreamAgent, headers: req.headers }, (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      ur.pipe(res);
    });
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/v1/chat/completions`,
    close: () =>
      new Promise((r) => {
        upstreamAgent.destroy();
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

const filler =
  'The pod frontend-5d8f is in CrashLoopBackOff; its logs show a refused connection to port 9090. ';

function summaryOf(sorted: number[]) {
  return { p50_ms: percentile(sorted, 50), p99_ms: percentile(sorted, 99) };
}

export async function gatewayLatency(queue: Queue, base: Config) {
  const fake = await startFakeLlm();
  const config = loadConfig({
    LOG_LEVEL: 'silent',
    OPENAI_API_KEY: 'sk-bench',
    OPENAI_BASE_URL: fake.url,
    DATABASE_URL: base.DATABASE_URL,
  });
  const app = await createApp({ config, queue, logger: false });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  try {
    const [task] = await queue.submit([
      {
        problem_id: 'bench-gateway',
        priority: 10,
        backend_type: null,
        parameters: { max_steps: 1, timeout_minutes: 60, agent_config: {} },
        max_attempts: 1,
        idempotency_key: null,
      },
    ]);
    await queue.registerWorker({
      id: 'worker-998-kind',
      backend_type: 'bench',
      capabilities: { max_parallel_tasks: 1, supported_problems: [] },
      metadata: {},
    });
    const [claimed] = await app.attempts.claim('worker-998-kind', 1, `${url}/llm/v1`);
    if (!task || !claimed?.llm_api_key) throw new Error('no task to bench the gateway with');
    const access = { llm_api_key: claimed.llm_api_key, llm_base_url: `${url}/llm/v1` };
    const gatewayHeaders = { authorization: `Bearer ${access.llm_api_key}` };
    const directHeaders = { authorization: 'Bearer sk-bench' };

    const relay = await startBareRelay(`${fake.url}/chat/completions`);
    const results: Record<string, { direct: number[]; relay: number[]; gateway: number[] }> = {
      plain: { direct: [], relay: [], gateway: [] },
      stream: { direct: [], relay: [], gateway: [] },
    };
    for (const kind of ['plain', 'stream'] as const) {
      let messages: unknown[] = [];
      for (let i = 0; i < CALLS + 20; i++) {
        if (i % TURNS_PER_CONVERSATION === 0) messages = [{ role: 'system', content: filler.repeat(10) }];
        messages.push({ role: 'user', content: `${filler}step ${i}` });
        const conv = `bench-${kind}-${Math.floor(i / TURNS_PER_CONVERSATION)}`;
        const body = JSON.stringify({
          model: 'fake-chat',
          messages,
          ...(kind === 'stream' ? { stream: true, stream_options: { include_usage: true } } : {}),
        });
        const d = await timedPost(`${fake.url}/chat/completions`, directHeaders, body);
        const r = await timedPost(relay.url, directHeaders, body);
        const g = await timedPost(
          `${access.llm_base_url}/chat/completions`,
          { ...gatewayHeaders, 'x-conversation-id': conv },
          body,
        );
        messages.push({ role: 'assistant', content: FAKE_CHAT_CONTENT });
        if (i < 20) continue; // warm-up: connections, plans, JIT
        const pick = (r: { ttfb: number; total: number }) => (kind === 'stream' ? r.ttfb : r.total);
        results[kind]!.direct.push(pick(d));
        results[kind]!.relay.push(pick(r));
        results[kind]!.gateway.push(pick(g));
      }
    }
    const report = (kind: 'plain' | 'stream') => {
      const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
      const direct = sorted(results[kind]!.direct);
      const bare = sorted(results[kind]!.relay);
      const gateway = sorted(results[kind]!.gateway);
      return {
        direct: summaryOf(direct),
        bare_relay: summaryOf(bare),
        gateway: summaryOf(gateway),
        added_p50_ms: percentile(gateway, 50) - percentile(direct, 50),
        added_p99_ms: percentile(gateway, 99) - percentile(direct, 99),
        hop_floor_p50_ms: percentile(bare, 50) - percentile(direct, 50),
      };
    };
    await relay.close();
    return { calls: CALLS, non_streamed: report('plain'), streamed_ttft: report('stream') };
  } finally {
    await app.close();
    await fake.close();
  }
}

/** The cost of recording the call that appends message N to a conversation holding N−1. */
export async function appendCost(db: Db, queue: Queue) {
  const recorder = createRecorder(db);
  const inFlight = createInFlightStore(db, 'bench');
  await queue.registerWorker({
    id: 'worker-997-kind',
    backend_type: 'bench-append',
    capabilities: { max_parallel_tasks: 1000, supported_problems: [] },
    metadata: {},
  });
  const [task] = await queue.submit([
    {
      problem_id: 'bench-append',
      priority: 10,
      backend_type: 'bench-append',
      parameters: { max_steps: 1, timeout_minutes: 60, agent_config: {} },
      max_attempts: 1,
      idempotency_key: null,
    },
  ]);
  await queue.claim('worker-997-kind', 1);
  const message = (i: number) =>
    toStoredMessage({ role: i % 2 ? 'assistant' : 'user', content: `${filler}#${i}` }, i);
  const reply = summarize({
    model: 'bench',
    choices: [{ index: 0, message: { role: 'assistant', content: `${filler}reply` }, finish_reason: 'stop' }],
  });
  const none = summarize(null);
  const appendOne = async (n: number, round: number, withHead: boolean) => {
    const conversationId = await recorder.openConversation(
      task!.task.id,
      1,
      `append-${n}-${round}-${withHead}`,
      {
        model: 'bench',
        config: {},
        metadata: {},
      },
    );
    // Messages 1..N−2: a prompt of N−3 and its reply, stored by one call; then message N−1
    // appended untimed, so the timed append follows an ordinary one, not a bulk insert.
    const prefill = Array.from({ length: n - 3 }, (_, i) => message(i));
    const bulk = await recorder.record(callRecord(conversationId, task!.task.id, prefill, reply));
    const context = [...prefill, reply.reply!, message(n - 1)];
    const before = await recorder.record(callRecord(conversationId, task!.task.id, context, none), bulk.head);
    // Message N: the same context plus one new user message.
    const prompt = [...context, message(n)];
    const t0 = performance.now();
    const r = await recorder.record(
      callRecord(conversationId, task!.task.id, prompt, none),
      withHead ? before.head : undefined,
    );
    const ms = performance.now() - t0;
    if (!r.prefixConsistent || r.newMessages !== 1)
      throw new Error(`append bench: expected one new message, got ${r.newMessages}`);
    // What the gateway writes before it forwards a call with this prompt (in-flight.ts).
    const id = randomUUID();
    const t1 = performance.now();
    // As the gateway does, only the messages past the known head are written.
    await inFlight.add(
      { ...callRecord(conversationId, task!.task.id, prompt, none), id },
      promptBase(before.head, prompt),
    );
    const inFlightMs = performance.now() - t1;
    await inFlight.remove(id);
    return { ms, inFlightMs };
  };
  // As the gateway records (the head the previous record left is known: one statement), and
  // without a known head (a transaction that locks the conversation row and reads it). Sizes
  // are interleaved round by round, so drift in the machine or the database hits all alike.
  const fast = new Map<number, number[]>(APPEND_SIZES.map((n) => [n, []]));
  const locked = new Map<number, number[]>(APPEND_SIZES.map((n) => [n, []]));
  const inFlightWrites = new Map<number, number[]>(APPEND_SIZES.map((n) => [n, []]));
  for (let round = 0; round < APPEND_SAMPLES; round++) {
    for (const n of APPEND_SIZES) {
      const withHead = await appendOne(n, round, true);
      fast.get(n)!.push(withHead.ms);
      inFlightWrites.get(n)!.push(withHead.inFlightMs);
      locked.get(n)!.push((await appendOne(n, round, false)).ms);
    }
  }
  const out: Record<
    `n_${number}`,
    { median_ms: number; locked_median_ms: number; in_flight_write_median_ms: number; samples: number }
  > = {};
  for (const n of APPEND_SIZES)
    out[`n_${n}`] = {
      median_ms: median(fast.get(n)!),
      locked_median_ms: median(locked.get(n)!),
      in_flight_write_median_ms: median(inFlightWrites.get(n)!),
      samples: fast.get(n)!.length,
    };
  const ratio = out[`n_${APPEND_SIZES.at(-1)!}`]!.median_ms / out[`n_${APPEND_SIZES[0]!}`]!.median_ms;
  return { by_n: out, ratio_1000_vs_10: ratio };
}

function callRecord(
  conversationId: string,
  taskId: string,
  prompt: ReturnType<typeof toStoredMessage>[],
  summary: ReturnType<typeof summarize>,
) {
  const now = new Date();
  return {
    conversationId,
    taskId,
    attempt: 1,
    upstream: 'bench',
    modelRequested: 'bench',
    stream: false,
    request: { model: 'bench' },
    injected: [],
    prompt,
    response: null,
    summary,
    status: 200,
    endReason: 'done' as const,
    error: null,
    cost: null,
    latencyMs: 1,
    ttftMs: null,
    startedAt: now,
    completedAt: now,
    inFlightId: null,
  };
}
