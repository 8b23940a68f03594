/**
 * The record of an upstream answer is capped (LLM_MAX_RESPONSE_BYTES): past the cap the client
 * still gets every byte, streamed or not, while the record keeps what came before the cap,
 * flagged `truncated`, and ends upstream_error. exchange() driven directly with a scripted
 * upstream and a real ServerResponse.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { type ExchangeOutcome, exchange } from '../src/gateway/exchange.ts';
import type { Upstream } from '../src/gateway/upstream-types.ts';

const CAP = 4096;

function upstreamOf(status: number, contentType: string, chunks: string[]): Upstream {
  return {
    name: 'fake',
    kind: 'openai',
    async send() {
      async function* body() {
        for (const c of chunks) yield new TextEncoder().encode(c);
      }
      return { status, headers: { 'content-type': contentType }, body: body() };
    },
  };
}

/** Runs one exchange behind a real HTTP server; returns what the client read and the outcome. */
async function run(upstream: Upstream, stream: boolean) {
  let outcome: ExchangeOutcome | undefined;
  const server = http.createServer(async (_req, res) => {
    outcome = await exchange({
      upstream,
      body: { model: 'm', messages: [], stream },
      injected: [],
      res,
      requestId: 'r1',
      timeoutMs: 5000,
      idleTimeoutMs: 5000,
      scrub: (t) => t,
      signal: new AbortController().signal,
      maxResponseBytes: CAP,
    });
    outcome.finish();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const { port } = server.address() as AddressInfo;
    const res = await fetch(`http://127.0.0.1:${port}/`);
    const text = await res.text();
    assert.ok(outcome);
    return { status: res.status, text, outcome };
  } finally {
    server.close();
  }
}

const completion = (content: string) =>
  JSON.stringify({
    id: 'c1',
    object: 'chat.completion',
    model: 'm',
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
  });

const split = (text: string, size: number) =>
  Array.from({ length: Math.ceil(text.length / size) }, (_, i) => text.slice(i * size, (i + 1) * size));

describe('upstream answers past LLM_MAX_RESPONSE_BYTES', () => {
  it('relays a large document whole and records its head, flagged, as upstream_error', async () => {
    const doc = completion('x'.repeat(CAP * 3));
    const { status, text, outcome } = await run(upstreamOf(200, 'application/json', split(doc, 1000)), false);
    assert.equal(status, 200);
    assert.equal(text, doc, 'the client got every byte');
    assert.equal(outcome.endReason, 'upstream_error');
    assert.match(outcome.error ?? '', /LLM_MAX_RESPONSE_BYTES/);
    assert.equal(outcome.response?.truncated, true);
    assert.equal(outcome.response?.truncated_at_bytes, CAP);
    assert.equal(outcome.response?.head, doc.slice(0, CAP));
  });

  it('leaves a document under the cap as it was', async () => {
    const doc = completion('short');
    const { text, outcome } = await run(upstreamOf(200, 'application/json', split(doc, 10)), false);
    assert.equal(text, doc);
    assert.equal(outcome.endReason, 'done');
    assert.equal(outcome.response?.truncated, undefined);
  });

  it('relays a large stream whole, with no error event, and records the part before the cap', async () => {
    const events = Array.from(
      { length: 200 },
      (_, i) =>
        `data: ${JSON.stringify({ id: 'c1', model: 'm', choices: [{ index: 0, delta: { content: `w${i} ` } }] })}\n\n`,
    );
    events.push(
      `data: ${JSON.stringify({ id: 'c1', choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })}\n\n`,
    );
    events.push('data: [DONE]\n\n');
    const { status, text, outcome } = await run(upstreamOf(200, 'text/event-stream', events), true);
    assert.equal(status, 200);
    assert.equal(text, events.join(''), 'the client got the stream untouched');
    assert.equal(outcome.endReason, 'upstream_error');
    assert.match(outcome.error ?? '', /LLM_MAX_RESPONSE_BYTES/);
    const response = outcome.response as { truncated: boolean; choices: { message: { content: string } }[] };
    assert.equal(response.truncated, true);
    const content = response.choices[0]?.message.content ?? '';
    assert.ok(content.startsWith('w0 w1 '), content.slice(0, 40));
    assert.ok(content.length < CAP, 'only what came before the cap');
  });

  it('does not relay an error answer past the cap: the client gets a gateway error', async () => {
    const body = JSON.stringify({ error: { message: 'x'.repeat(CAP * 2) } });
    const { status, text, outcome } = await run(
      upstreamOf(500, 'application/json', split(body, 1000)),
      false,
    );
    assert.equal(status, 502);
    assert.equal(JSON.parse(text).error.code, 'upstream_unreachable');
    assert.equal(outcome.status, 500);
    assert.equal(outcome.endReason, 'upstream_error');
    assert.equal(outcome.response?.truncated, true);
  });
});
