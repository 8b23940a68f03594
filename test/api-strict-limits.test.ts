/**
 * Over real HTTP: a client still sending an oversized body reads its 413, not a connection
 * reset (EPIPE / ECONNRESET), with Node's fetch and with node:http, declared length or chunked;
 * the gateway's 413 keeps OpenAI's error shape.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Body, claimToken, createTestApp, registerWorker, type TestApp } from './helpers/app.ts';

const LIMIT = 64 * 1024;
/** Over the limit, under the drain bound (2× the limit): more than the socket buffers hold. */
const OVERSIZED = Math.floor(LIMIT * 1.8);

function bigTask(bytes: number): string {
  const head = '{"problem_id":"p","metadata":{"blob":"';
  const tail = '"}}';
  return head + 'x'.repeat(bytes - head.length - tail.length) + tail;
}

/** POST with node:http, writing the body in 16 KiB pieces; resolves with status and body. */
function nodePost(
  url: string,
  body: string,
  chunked: boolean,
  headers: Record<string, string> = {},
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const h: Record<string, string | number> = { 'content-type': 'application/json', ...headers };
    if (!chunked) h['content-length'] = Buffer.byteLength(body);
    const req = http.request(url, { method: 'POST', headers: h }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => {
        text += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    const piece = 16 * 1024;
    const writeFrom = (i: number) => {
      while (i < body.length) {
        const more = req.write(body.slice(i, i + piece));
        i += piece;
        if (!more) return void req.once('drain', () => writeFrom(i));
      }
      req.end();
    };
    writeFrom(0);
  });
}

/**
 * A client that writes the whole request before reading anything, as Python's requests does:
 * a server that answers and closes early makes its writes fail with EPIPE, and it never sees
 * the answer. Resolves with the status line, or the error.
 */
function writeThenRead(url: string, path: string, body: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const s = net.connect(Number(port), hostname);
    let got = '';
    s.on('error', (e) => resolve(`error ${e.message}`));
    s.on('connect', async () => {
      s.pause();
      const head = `POST ${path} HTTP/1.1\r\nhost: ${hostname}\r\ncontent-type: application/json\r\n`;
      s.write(`${head}content-length: ${Buffer.byteLength(body)}\r\n\r\n`);
      const piece = 16 * 1024;
      for (let i = 0; i < body.length; i += piece) {
        if (!s.write(body.slice(i, i + piece))) await once(s, 'drain');
        await sleep(1);
      }
      s.on('data', (d) => {
        got += d;
      });
      s.on('end', () => resolve(got.split('\r\n')[0] ?? ''));
      s.resume();
    });
  });
}

describe('oversized bodies over real HTTP', () => {
  let t: TestApp;
  before(async () => {
    t = await createTestApp('pglite', {
      listen: true,
      env: { BODY_LIMIT_BYTES: String(LIMIT), LLM_MAX_REQUEST_BYTES: String(LIMIT) },
    });
  });
  after(() => t.close());

  const assert413 = (status: number, text: string) => {
    assert.equal(status, 413, text);
    assert.equal((JSON.parse(text) as Body).code, 'PAYLOAD_TOO_LARGE');
  };

  it('answers fetch with a readable 413', async () => {
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${t.url}/api/v1/tasks`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: bigTask(OVERSIZED),
      });
      assert413(res.status, await res.text());
    }
  });

  it('answers node:http with a readable 413, with a declared length and chunked', async () => {
    for (const chunked of [false, true]) {
      const r = await nodePost(`${t.url}/api/v1/tasks`, bigTask(OVERSIZED), chunked);
      assert413(r.status, r.text);
    }
  });

  it('answers a client that writes everything before reading with its 413, not EPIPE', async () => {
    for (let i = 0; i < 3; i++)
      assert.equal(
        await writeThenRead(t.url, '/api/v1/tasks', bigTask(OVERSIZED)),
        'HTTP/1.1 413 Payload Too Large',
      );
  });

  it('still accepts a body just under the limit, and serves requests after a refusal', async () => {
    const res = await fetch(`${t.url}/api/v1/tasks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: bigTask(LIMIT - 512),
    });
    assert.equal(res.status, 201, await res.text());
    // Far past the drain bound the server does not read it all; whatever the client sees,
    // the server stays well.
    await fetch(`${t.url}/api/v1/tasks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: bigTask(LIMIT * 8),
    }).then(
      (r) => r.text(),
      () => '',
    );
    assert.equal((await fetch(`${t.url}/health`)).status, 200);
  });

  it('answers the gateway’s oversized request with a readable 413 in OpenAI’s shape', async () => {
    const body = JSON.stringify({
      model: 'scripted:echo',
      messages: [{ role: 'user', content: 'x'.repeat(OVERSIZED) }],
    });
    // A valid token: without one the gateway refuses before reading the body (401).
    await registerWorker(t, 'worker-002-kind');
    const token = await claimToken(t, 'worker-002-kind');
    const res = await fetch(`${t.url}/llm/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body,
    });
    assert.equal(res.status, 413);
    const err = ((await res.json()) as Body).error;
    assert.equal(err.code, 'request_too_large');
    assert.equal(err.type, 'invalid_request_error');
  });
});
