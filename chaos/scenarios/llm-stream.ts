/**
 * 5. The upstream LLM fails in the middle of streams. A fake OpenAI-compatible upstream on
 * 127.0.0.1 (LLM_UPSTREAMS) breaks its streams in every way it can — socket destroyed, body
 * ended early, error event, silence, half an event — while an "agent" calls the gateway with
 * a claimed task's token, concurrently. Then the worker completes the task while one more
 * stream is still running. Checked: the agent got an error for every broken call (an error
 * event, never a clean-looking end), every call is recorded with the right end reason and the
 * partial output the agent saw, nothing is recorded twice or lost, the completion waited for
 * the records, and the task's result and the recording agree.
 */
import http from 'node:http';
import { startFakeUpstream, words } from '../lib/fake-upstream.ts';
import { call, json } from '../lib/http.ts';
import { histogram } from '../lib/load.ts';
import { startServer } from '../lib/procs.ts';
import type { Scenario } from '../lib/scenario.ts';
import { Checks, freePort, seconds, sleep } from '../lib/util.ts';

interface Seen {
  model: string;
  mode: 'stream' | 'abort' | 'plain';
  status: number;
  content: string;
  done: boolean;
  error: string | null;
}

/** Expected end_reason, and whether the agent must have seen an error. */
const EXPECT: Record<string, { end: string; error: boolean; content: string }> = {
  'chaos-ok': { end: 'done', error: false, content: words(6) },
  'chaos-break': { end: 'upstream_error', error: true, content: words(3) },
  'chaos-eof': { end: 'upstream_error', error: true, content: words(3) },
  'chaos-error': { end: 'upstream_error', error: true, content: words(3) },
  'chaos-stall': { end: 'timeout', error: true, content: words(3) },
  'chaos-garbage': { end: 'upstream_error', error: true, content: words(3) },
};

/** One streamed call as an OpenAI SDK would make it; abortAfter closes the connection after that many content chunks. */
function streamCall(
  llmBase: string,
  token: string,
  model: string,
  n: number,
  abortAfter?: number,
): Promise<Seen> {
  const u = new URL(`${llmBase}/chat/completions`);
  return new Promise((resolve) => {
    const seen: Seen = {
      model,
      mode: abortAfter ? 'abort' : 'stream',
      status: 0,
      content: '',
      done: false,
      error: null,
    };
    let buf = '';
    let chunks = 0;
    const body = JSON.stringify({
      model,
      stream: true,
      messages: [
        { role: 'system', content: 'You are a chaos agent.' },
        { role: 'user', content: `call ${n} to ${model}` },
      ],
    });
    const req = http.request(
      {
        host: '127.0.0.1',
        port: Number(u.port),
        path: u.pathname,
        method: 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        },
      },
      (res) => {
        seen.status = res.statusCode ?? 0;
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          buf += d;
          for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
            const ev = buf.slice(0, i);
            buf = buf.slice(i + 2);
            const data = ev
              .split('\n')
              .filter((l) => l.startsWith('data:'))
              .map((l) => l.slice(5).trim())
              .join('\n');
            if (!data) continue;
            if (data === '[DONE]') {
              seen.done = true;
              continue;
            }
            try {
              const j = JSON.parse(data) as {
                error?: { message?: string };
                choices?: { delta?: { content?: string } }[];
              };
              if (j.error) seen.error = j.error.message ?? 'error';
              const c = j.choices?.[0]?.delta?.content;
              if (c) {
                seen.content += c;
                if (abortAfter && ++chunks >= abortAfter) {
                  req.destroy();
                  resolve(seen);
                }
              }
            } catch {
              seen.error = `unparseable event: ${data.slice(0, 80)}`;
            }
          }
        });
        res.on('end', () => resolve(seen));
        res.on('error', () => resolve(seen));
        res.on('aborted', () => {
          seen.error ??= 'connection broke';
          resolve(seen);
        });
      },
    );
    req.on('error', (e) => {
      seen.error ??= e.message;
      resolve(seen);
    });
    req.setTimeout(30_000, () => {
      seen.error ??= 'client timeout';
      req.destroy();
      resolve(seen);
    });
    req.end(body);
  });
}

type Claimed = { id: string; attempt: number; llm_base_url: string; llm_api_key: string };
type CallRecord = {
  seq: number;
  model_requested: string;
  stream: boolean;
  end_reason: string;
  error: string | null;
  status: number | null;
  attempt: number | null;
  response: { choices?: { message?: { content?: string | null } }[] } | null;
};

export const llmStream: Scenario = {
  name: 'llm-stream',
  checks:
    'upstream LLM breaks streams mid-way: agent gets an error, partial calls recorded with end reason, result consistent',
  timeoutMs: 100_000,
  async run(ctx) {
    const checks = new Checks();
    const upstream = await startFakeUpstream();
    try {
      const dbUrl = await ctx.cluster.createDatabase('chaos_llm_stream');
      const port = await freePort();
      const server = await startServer({
        PORT: String(port),
        DATABASE_URL: dbUrl,
        DATA_DIR: `${ctx.tmp}/server`,
        NUM_INTERNAL_WORKERS: '0',
        LLM_UPSTREAMS: JSON.stringify({
          chaos: { base_url: upstream.url, kind: 'openai', models: ['chaos-*'] },
        }),
        LLM_STREAM_IDLE_TIMEOUT_SECONDS: '2',
        LLM_INFLIGHT_GRACE_SECONDS: '1',
      });
      const base = server.base;
      const wid = 'worker-501-kind';
      await json(base, 'POST', '/api/v1/workers/register', { worker_id: wid, backend_type: 'command' });
      const task = await json<{ id: string }>(base, 'POST', '/api/v1/tasks', {
        problem_id: 'chaos-llm-stream',
        backend_type: 'command',
        agent_config: { model: 'chaos-ok' },
      });
      const claimed = await json<Claimed | null>(base, 'POST', `/api/v1/workers/${wid}/claim?wait=10`);
      if (!claimed || claimed.id !== task.id) throw new Error(`claim returned ${JSON.stringify(claimed)}`);
      const { llm_base_url: llm, llm_api_key: token } = claimed;
      ctx.log(`claimed ${task.id}; gateway ${llm}`);

      // Two rounds of every failure mode at once, plus a client that walks away mid-stream.
      const seen: Seen[] = [];
      let n = 0;
      for (let round = 0; round < 2; round++) {
        const calls = Object.keys(EXPECT).map((m) => streamCall(llm, token, m, n++));
        calls.push(streamCall(llm, token, 'chaos-slow', n++, 2));
        seen.push(...(await Promise.all(calls)));
      }
      // Non-streamed, the upstream drops the connection before answering: a 502 for the agent.
      const plain = await call(base, 'POST', '/llm/v1/chat/completions', {
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'chaos-break', messages: [{ role: 'user', content: 'plain' }] }),
      });
      seen.push({
        model: 'chaos-break',
        mode: 'plain',
        status: plain.status,
        content: '',
        done: false,
        error: plain.status >= 400 ? plain.text.slice(0, 200) : null,
      });
      checks.check(
        plain.status === 502,
        'non-streamed call whose upstream hangs up: 502 to the agent',
        `HTTP ${plain.status}`,
      );

      for (const s of seen.filter((x) => x.mode === 'stream')) {
        const e = EXPECT[s.model]!;
        checks.check(s.status === 200, `${s.model}: stream opened (200)`, `HTTP ${s.status}`);
        checks.check(
          e.error ? s.error !== null && !s.done : s.error === null && s.done,
          `${s.model}: agent ${e.error ? 'got an error event, no [DONE]' : 'got the whole stream and [DONE]'}`,
          `error=${s.error} done=${s.done}`,
        );
        checks.check(
          s.content === e.content,
          `${s.model}: agent saw the content relayed before the break`,
          JSON.stringify(s.content),
        );
      }

      // The worker completes while a slow stream is still running: the report must wait
      // LLM_INFLIGHT_GRACE_SECONDS, cut it (attempt_ended), and only then complete.
      const inFlight = streamCall(llm, token, 'chaos-slow', n++);
      await sleep(1200, ctx.signal);
      const agentView = {
        calls: seen.length + 1,
        errors: seen.filter((s) => s.error !== null).length,
      };
      const completeStarted = Date.now();
      await json(base, 'POST', `/api/v1/workers/${wid}/tasks/${task.id}/complete`, {
        attempt: claimed.attempt,
        result: { agent: agentView },
      });
      const completeMs = Date.now() - completeStarted;
      const cut = await inFlight;
      seen.push(cut);
      checks.check(
        cut.error !== null && !cut.done,
        'stream in flight at completion: agent got an error',
        `error=${cut.error} done=${cut.done}`,
      );
      checks.check(
        completeMs >= 800 && completeMs < 15_000,
        'completion waited for the in-flight call (grace 1 s), bounded',
        `${completeMs} ms`,
      );

      // Read the record right after the completion returned: it must already be whole.
      const convs = await json<{ conversations: { id: string }[] }>(
        base,
        'GET',
        `/api/v1/llm-conversations?task_id=${task.id}`,
      );
      const records: CallRecord[] = [];
      for (const c of convs.conversations) {
        const page = await json<{ calls: CallRecord[] }>(
          base,
          'GET',
          `/api/v1/llm-conversations/${c.id}/calls?include_response=true&limit=1000`,
        );
        records.push(...page.calls);
      }
      checks.check(
        records.length === seen.length,
        'every call recorded once, already at completion',
        `${records.length} records for ${seen.length} calls`,
      );
      const recorded = (model: string, stream: boolean) =>
        records.filter((r) => r.model_requested === model && r.stream === stream);
      for (const [model, e] of Object.entries(EXPECT)) {
        const rs = recorded(model, true);
        checks.check(rs.length === 2, `${model}: both streamed calls recorded`, `${rs.length}`);
        for (const r of rs) {
          checks.check(r.end_reason === e.end, `${model}: recorded end_reason ${e.end}`, r.end_reason);
          checks.check(
            e.end === 'done' ? r.error === null : !!r.error,
            `${model}: recorded error ${e.end === 'done' ? 'none' : 'set'}`,
            String(r.error),
          );
          const content = r.response?.choices?.[0]?.message?.content ?? '';
          checks.check(
            content === e.content,
            `${model}: recorded partial output = what was relayed`,
            JSON.stringify(content),
          );
          checks.check(r.attempt === claimed.attempt, `${model}: recorded on the claimed attempt`);
        }
      }
      const aborted = recorded('chaos-slow', true);
      const ends = histogram(aborted.map((r) => r.end_reason));
      checks.check(
        aborted.filter((r) => r.end_reason === 'client_cancelled').length === 2 &&
          aborted.filter((r) => r.end_reason === 'attempt_ended').length === 1,
        'client walking away: client_cancelled ×2; cut at completion: attempt_ended ×1',
        ends,
      );
      const plainRec = recorded('chaos-break', false);
      checks.check(
        plainRec.length === 1 && plainRec[0]!.end_reason === 'upstream_error',
        'non-streamed broken call recorded upstream_error',
        JSON.stringify(plainRec.map((r) => r.end_reason)),
      );

      const final = await json<{ status: string; result: { agent?: typeof agentView } }>(
        base,
        'GET',
        `/api/v1/tasks/${task.id}`,
      );
      checks.check(final.status === 'completed', 'task completed', final.status);
      checks.check(
        JSON.stringify(final.result?.agent) === JSON.stringify(agentView),
        'task result is what the worker reported',
      );
      const recordedErrors = records.filter((r) => r.end_reason !== 'done').length;
      checks.check(
        recordedErrors === agentView.errors + 1 && records.length === agentView.calls,
        "the record agrees with the agent's own count (calls, failed calls)",
        `agent ${agentView.calls} calls / ${agentView.errors + 1} failed; record ${records.length} / ${recordedErrors}`,
      );
      const after = await call(base, 'POST', '/llm/v1/chat/completions', {
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'chaos-ok', messages: [{ role: 'user', content: 'late' }] }),
      });
      checks.check(
        after.status === 401,
        "the finished attempt's token is refused (401)",
        `HTTP ${after.status}`,
      );
      const upstreamRequests = upstream.requests;
      checks.check(
        upstreamRequests === seen.length,
        'the gateway forwarded each call once (never retried)',
        `${upstreamRequests} upstream requests for ${seen.length} calls`,
      );
      await server.proc.stop('SIGTERM');
      return {
        checks,
        figures: [
          ['calls', seen.length],
          ['end reasons', histogram(records.map((r) => r.end_reason))],
          ['complete waited s', seconds(completeMs)],
        ],
      };
    } finally {
      await upstream.close();
    }
  },
};
