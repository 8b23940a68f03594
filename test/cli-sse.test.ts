/**
 * The CLI's SSE reader against real HTTP servers on 127.0.0.1 that misbehave on purpose: a
 * dropped connection is resumed with Last-Event-ID (nothing lost or repeated), a `disconnect`
 * event and a silent connection lead to a reconnect, refusals are thrown at once, and an
 * unreachable or failing server ends in a clear error after a bounded number of attempts.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { ApiError, createClient } from '../src/cli/client.ts';
import { readStream, type StreamEvent, StreamLostError } from '../src/cli/sse.ts';

type Handler = (req: IncomingMessage, res: ServerResponse, n: number) => void;

/** Serves request n (0, 1, …) with handlers[n] (the last one for any later request). */
async function serve(handlers: Handler[]) {
  const lastEventIds: Array<string | undefined> = [];
  const closed: number[] = [];
  const server: Server = createServer((req, res) => {
    const n = lastEventIds.length;
    lastEventIds.push(req.headers['last-event-id'] as string | undefined);
    res.on('close', () => closed.push(n));
    handlers[Math.min(n, handlers.length - 1)]!(req, res, n);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { server, url, lastEventIds, closed };
}

const open = (res: ServerResponse) => {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.write('retry: 1\n\n');
};
const send = (res: ServerResponse, event: string, data: unknown, id?: string) =>
  res.write(`${id ? `id: ${id}\n` : ''}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);

/** Reads events until `end` (or the reader stops); every wait here is bounded by the reader's retries. */
async function readAll(url: string, path = '/s', options = {}): Promise<StreamEvent[]> {
  const events: StreamEvent[] = [];
  for await (const e of readStream(createClient(url, 'tok'), path, { backoffMs: 5, ...options })) {
    events.push(e);
    if (e.event === 'end') break;
  }
  return events;
}

describe('CLI SSE reader', () => {
  const servers: Server[] = [];
  afterEach(() => {
    for (const s of servers.splice(0)) s.close();
  });

  it('resumes a dropped connection with Last-Event-ID: nothing lost, nothing repeated', async () => {
    const s = await serve([
      (_req, res) => {
        open(res);
        send(res, 'log', { n: 1 }, '7-1');
        send(res, 'log', { n: 2 }, '7-2');
        // The network fails mid-stream.
        setTimeout(() => res.socket?.destroy(), 20);
      },
      (req, res) => {
        open(res);
        assert.equal(req.headers.authorization, 'Bearer tok');
        send(res, 'log', { n: 3 }, '9-3');
        send(res, 'end', { status: 'completed' });
      },
    ]);
    servers.push(s.server);
    const events = await readAll(s.url);
    assert.deepEqual(
      events.map((e) => [e.event, e.id, e.data]),
      [
        ['log', '7-1', { n: 1 }],
        ['log', '7-2', { n: 2 }],
        ['log', '9-3', { n: 3 }],
        ['end', undefined, { status: 'completed' }],
      ],
    );
    assert.deepEqual(s.lastEventIds, [undefined, '7-2']);
  });

  it('reconnects after a `disconnect` event and after a silent connection, from the given cursor', async () => {
    const s = await serve([
      (_req, res) => {
        open(res);
        send(res, 'log', { n: 1 }, '1-1');
        send(res, 'disconnect', { reason: 'shutdown', cursor: '1-1' });
        res.end();
      },
      // Accepts and then says nothing: the reader must not wait on it forever.
      (_req, res) => open(res),
      (_req, res) => {
        open(res);
        send(res, 'end', { status: 'failed' });
      },
    ]);
    servers.push(s.server);
    const events = await readAll(s.url, '/s', { idleTimeoutMs: 150, lastEventId: '0-9' });
    assert.deepEqual(
      events.map((e) => e.event),
      ['log', 'end'],
    );
    assert.deepEqual(s.lastEventIds, ['0-9', '1-1', '1-1']);
  });

  it('throws a refusal (404) at once, without retrying', async () => {
    const s = await serve([
      (_req, res) => {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'Task x not found', code: 'TASK_NOT_FOUND' }));
      },
    ]);
    servers.push(s.server);
    await assert.rejects(readAll(s.url), (err: unknown) => {
      assert.ok(err instanceof ApiError);
      assert.equal(err.status, 404);
      assert.equal(err.code, 'TASK_NOT_FOUND');
      return true;
    });
    assert.equal(s.lastEventIds.length, 1);
  });

  it('gives up on a failing server after the bounded retries, with backoff between them', async () => {
    const s = await serve([
      (_req, res) => {
        res.writeHead(503, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'Database unavailable', code: 'SERVICE_UNAVAILABLE' }));
      },
    ]);
    servers.push(s.server);
    const delays: number[] = [];
    await assert.rejects(
      readAll(s.url, '/s', {
        maxRetries: 3,
        onReconnect: (i: { delayMs: number }) => delays.push(i.delayMs),
      }),
      (err: unknown) => {
        assert.ok(err instanceof StreamLostError);
        assert.match(
          err.message,
          /Lost the event stream \/s \(Database unavailable\); gave up after 3 reconnects/,
        );
        return true;
      },
    );
    assert.equal(s.lastEventIds.length, 4);
    assert.deepEqual(delays, [5, 10, 20]);
  });

  it('says the API cannot be reached when nothing listens', async () => {
    const s = await serve([(_req, res) => res.end()]);
    s.server.close();
    await once(s.server, 'close');
    await assert.rejects(
      readAll(s.url, '/s', { maxRetries: 1 }),
      /Cannot reach the API at .*gave up after 1/,
    );
  });

  it('closes the request when the caller stops reading', async () => {
    const s = await serve([
      (_req, res) => {
        open(res);
        send(res, 'log', { n: 1 }, '1-1');
      },
    ]);
    servers.push(s.server);
    for await (const e of readStream(createClient(s.url), '/s')) {
      assert.equal(e.event, 'log');
      break;
    }
    for (let i = 0; i < 100 && s.closed.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(s.closed, [0]);
  });
});
