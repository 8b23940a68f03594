/**
 * Callback delivery end to end: a real dispatcher, a real database (PGlite, and PostgreSQL
 * when TEST_DATABASE_URL is set) and real HTTP receivers on 127.0.0.1. Loopback is refused by
 * default, so most tests allow 127.0.0.1 through CALLBACK_ALLOWED_HOSTS, as a deployment
 * delivering to a sidecar would.
 */
import assert from 'node:assert/strict';
import type { LookupAddress } from 'node:dns';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { CallbackDispatcher, type DeliveryLogger } from '../src/callbacks/dispatcher.ts';
import type { Resolver } from '../src/callbacks/guarded-lookup.ts';
import { verifyDelivery } from '../src/callbacks/signature.ts';
import { SIGNING_KEY_NAME } from '../src/callbacks/signing-key.ts';
import { loadConfig } from '../src/config/index.ts';
import type { Queue, TaskLog } from '../src/queue/index.ts';
import { dbModes } from './helpers/db.ts';
import { addWorker, claimOne, openQueue, submitOne } from './helpers/queue-fixtures.ts';

const SECRET = 'test-callback-signing-secret-0123456789';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

/** An HTTP server on 127.0.0.1 that records what it gets and answers with `respond`. */
async function receiver(
  t: TestContext,
  respond: (res: ServerResponse, n: number) => void = (res) => res.end('ok'),
): Promise<{ url: string; port: number; got: Received[] }> {
  const got: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      got.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      respond(res, got.length);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/hook`, port, got };
}

/** A port nothing listens on: one we held a moment ago. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

interface Setup {
  env?: Record<string, string>;
  resolve?: Resolver;
}

function dispatcherFor(queue: Queue, s: Setup = {}) {
  const settings = loadConfig({
    CALLBACK_MAX_ATTEMPTS: '1',
    CALLBACK_BACKOFF_MS: '10',
    CALLBACK_TIMEOUT_MS: '2000',
    CALLBACK_SIGNING_SECRET: SECRET,
    ...s.env,
  });
  const serverLog: { details: Record<string, unknown>; message: string }[] = [];
  const log: DeliveryLogger = { warn: (details, message) => serverLog.push({ details, message }) };
  const dispatcher = new CallbackDispatcher(queue, settings, (err) => assert.fail(err as Error), {
    log,
    resolve: s.resolve,
  });
  return { dispatcher, serverLog };
}

/** A completed task whose callback is due. */
async function endedTaskWithCallback(queue: Queue, callbackUrl: string): Promise<string> {
  await addWorker(queue, 'w1');
  await submitOne(queue, { parameters: { callback_url: callbackUrl } });
  const task = await claimOne(queue, 'w1');
  await queue.complete('w1', task.id, task.attempt, { ok: true });
  return task.id;
}

/** Delivery passes until the callback is delivered or given up on. */
async function deliverAll(queue: Queue, dispatcher: CallbackDispatcher, taskId: string) {
  for (let pass = 0; pass < 200; pass++) {
    await dispatcher.drain();
    const task = await queue.mustGetTask(taskId);
    if (task.callback_state !== 'pending') return task;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('callback still pending after 200 passes');
}

async function callbackLogs(queue: Queue, taskId: string): Promise<TaskLog[]> {
  const logs = await queue.readLogs(taskId, { limit: 100, order: 'oldest' });
  return logs.filter((l) => l.source === 'callback');
}

/** Words that would tell a submitter how the network behind the server looks. */
const NETWORK_DETAIL =
  /ECONN|ENOTFOUND|EAI_|EHOSTUNREACH|ENETUNREACH|timeout|timed out|connection refused|getaddrinfo|socket|\bms\b|127\.0\.0\.1(?!:)/i;

function assertNoNetworkDetail(logs: TaskLog[]): void {
  for (const l of logs) {
    const text = `${l.message} ${JSON.stringify(l.context)}`.replace(/http:\/\/[^ ]*/g, '<url>');
    assert.doesNotMatch(text, NETWORK_DETAIL, text);
  }
}

const allowLoopback = { CALLBACK_ALLOWED_HOSTS: '127.0.0.1' };

for (const mode of dbModes()) {
  describe(`callback delivery (${mode})`, () => {
    it('delivers the task JSON, signed, with a delivery id, and logs "delivered (HTTP 2xx)"', async (t) => {
      const { queue } = await openQueue(t, mode);
      const hook = await receiver(t, (res) => res.writeHead(204).end());
      const id = await endedTaskWithCallback(queue, `${hook.url}?token=abc`);
      const { dispatcher } = dispatcherFor(queue, { env: allowLoopback });
      const task = await deliverAll(queue, dispatcher, id);

      assert.equal(task.callback_state, 'delivered');
      assert.equal(hook.got.length, 1);
      const [{ headers, body }] = hook.got as [Received];
      assert.equal(JSON.parse(body).id, id);
      assert.equal(JSON.parse(body).status, 'completed');
      assert.equal(headers['content-type'], 'application/json');
      assert.match(String(headers['x-task-executor-delivery']), UUID);
      assert.ok(Math.abs(Number(headers['x-task-executor-timestamp']) - Date.now() / 1000) < 10);
      assert.match(String(headers['x-task-executor-signature']), /^v1=[0-9a-f]{64}$/);
      const signed = {
        timestamp: headers['x-task-executor-timestamp'] as string,
        signature: headers['x-task-executor-signature'] as string,
      };
      assert.ok(verifyDelivery(SECRET, signed, body), 'verifiable with the secret');
      assert.ok(!verifyDelivery('another-secret-of-some-length', signed, body), 'not with another');
      assert.ok(!verifyDelivery(SECRET, signed, `${body} `), 'not for another body');
      assert.ok(!verifyDelivery(SECRET, signed, body, Date.now() + 3600_000), 'not an hour later (replay)');

      const [log] = await callbackLogs(queue, id);
      assert.equal(log?.level, 'info');
      assert.match(log!.message, /delivered \(HTTP 204\)/);
      assert.doesNotMatch(log!.message, /token=abc/, 'the query string is not logged');
      assert.equal(
        (log!.context as Record<string, unknown>).delivery_id,
        headers['x-task-executor-delivery'],
      );
    });

    it('without CALLBACK_SIGNING_SECRET, signs with a key generated once and shared by replicas', async (t) => {
      const { db, queue } = await openQueue(t, mode);
      const hook = await receiver(t);
      const first = await endedTaskWithCallback(queue, hook.url);
      const env = { ...allowLoopback, CALLBACK_SIGNING_SECRET: '' };
      await deliverAll(queue, dispatcherFor(queue, { env }).dispatcher, first);
      await submitOne(queue, { parameters: { callback_url: hook.url } });
      const second = await claimOne(queue, 'w1');
      await queue.complete('w1', second.id, second.attempt, null);
      // Another replica: a dispatcher of its own on the same database.
      await deliverAll(queue, dispatcherFor(queue, { env }).dispatcher, second.id);

      const { rows } = await db.query<{ value: string }>('SELECT value FROM server_secrets WHERE name = $1', [
        SIGNING_KEY_NAME,
      ]);
      const key = rows[0]!.value;
      assert.ok(key.length >= 32);
      assert.equal(hook.got.length, 2);
      for (const { headers, body } of hook.got) {
        const signed = {
          timestamp: headers['x-task-executor-timestamp'] as string,
          signature: headers['x-task-executor-signature'] as string,
        };
        assert.ok(verifyDelivery(key, signed, body));
      }
    });

    it('a configured signing key shorter than 16 characters is refused at start', async (t) => {
      const { queue } = await openQueue(t, mode);
      assert.throws(
        () => dispatcherFor(queue, { env: { CALLBACK_SIGNING_SECRET: 'short' } }),
        /CALLBACK_SIGNING_SECRET must be at least 16 characters/,
      );
    });

    it('retries a 5xx with backoff, with a new delivery id per attempt, then gives up', async (t) => {
      const { queue } = await openQueue(t, mode);
      const hook = await receiver(t, (res) => res.writeHead(503).end('busy'));
      const id = await endedTaskWithCallback(queue, hook.url);
      const { dispatcher } = dispatcherFor(queue, { env: { ...allowLoopback, CALLBACK_MAX_ATTEMPTS: '3' } });
      const task = await deliverAll(queue, dispatcher, id);

      assert.equal(task.callback_state, 'failed');
      assert.equal(task.callback_attempts, 3);
      assert.equal(hook.got.length, 3);
      const ids = hook.got.map((r) => r.headers['x-task-executor-delivery']);
      assert.equal(new Set(ids).size, 3, 'each attempt has its own delivery id');
      assert.ok(
        hook.got.every((r) => JSON.parse(r.body).id === id),
        'the same task each time',
      );
      for (const r of hook.got) {
        const signed = {
          timestamp: r.headers['x-task-executor-timestamp'] as string,
          signature: r.headers['x-task-executor-signature'] as string,
        };
        assert.ok(verifyDelivery(SECRET, signed, r.body));
      }
      const logs = await callbackLogs(queue, id);
      assert.deepEqual(
        logs.map((l) => [l.level, l.message.replace(/^Callback to \S+: /, '')]),
        [
          ['warning', 'delivery failed (attempt 1/3) (HTTP 503); will retry'],
          ['warning', 'delivery failed (attempt 2/3) (HTTP 503); will retry'],
          ['error', 'delivery failed (attempt 3/3) (HTTP 503); giving up'],
        ],
      );
      // Backoff doubles from CALLBACK_BACKOFF_MS, counted from each attempt's start.
      const gaps = logs.slice(0, 2).map((l) => {
        const c = l.context as Record<string, string>;
        return Date.parse(c.retry_at!) - Date.parse(l.timestamp);
      });
      assert.deepEqual(gaps, [10, 20]);
    });

    it('a 5xx followed by a 2xx ends delivered', async (t) => {
      const { queue } = await openQueue(t, mode);
      const hook = await receiver(t, (res, n) => res.writeHead(n === 1 ? 500 : 200).end());
      const id = await endedTaskWithCallback(queue, hook.url);
      const { dispatcher } = dispatcherFor(queue, { env: { ...allowLoopback, CALLBACK_MAX_ATTEMPTS: '3' } });
      const task = await deliverAll(queue, dispatcher, id);
      assert.equal(task.callback_state, 'delivered');
      assert.equal(task.callback_attempts, 2);
    });

    it('does not follow a redirect: the 3xx is the answer', async (t) => {
      const { queue } = await openQueue(t, mode);
      const elsewhere = await receiver(t);
      const hook = await receiver(t, (res) => res.writeHead(307, { location: elsewhere.url }).end());
      const id = await endedTaskWithCallback(queue, hook.url);
      const { dispatcher } = dispatcherFor(queue, { env: allowLoopback });
      const task = await deliverAll(queue, dispatcher, id);
      assert.equal(task.callback_state, 'failed');
      assert.equal(hook.got.length, 1);
      assert.equal(elsewhere.got.length, 0, 'the redirect target never got a request');
      const [log] = await callbackLogs(queue, id);
      assert.match(log!.message, /delivery failed \(attempt 1\/1\) \(HTTP 307\); giving up/);
    });

    it('refuses loopback in every spelling by default, once, without retry or network detail', async (t) => {
      const { queue } = await openQueue(t, mode);
      const hook = await receiver(t);
      const spellings = [
        hook.url,
        `http://localhost:${hook.port}/hook`,
        `http://[::1]:${hook.port}/hook`,
        `http://[::ffff:127.0.0.1]:${hook.port}/hook`,
        `http://0x7f.1:${hook.port}/hook`,
        `http://2130706433:${hook.port}/hook`,
        `http://0.0.0.0:${hook.port}/hook`,
      ];
      await addWorker(queue, 'w1');
      const ids: string[] = [];
      for (const url of spellings) {
        await submitOne(queue, { parameters: { callback_url: url } });
        const task = await claimOne(queue, 'w1');
        await queue.complete('w1', task.id, task.attempt, null);
        ids.push(task.id);
      }
      const { dispatcher, serverLog } = dispatcherFor(queue, { env: { CALLBACK_MAX_ATTEMPTS: '5' } });
      for (const id of ids) {
        const task = await deliverAll(queue, dispatcher, id);
        assert.equal(task.callback_state, 'failed', task.parameters.callback_url);
        assert.equal(task.callback_attempts, 1, 'a refusal is not retried');
        const logs = await callbackLogs(queue, id);
        assert.equal(logs.length, 1);
        assert.equal(logs[0]!.level, 'error');
        assert.match(logs[0]!.message, /refused by policy/);
        assertNoNetworkDetail(logs);
      }
      assert.equal(hook.got.length, 0, 'nothing reached the receiver');
      assert.equal(serverLog.length, spellings.length);
      assert.ok(serverLog.every((l) => /is loopback|is unspecified/.test(String(l.details.detail))));
    });

    it('checks the address a name resolves to at connect time', async (t) => {
      const { queue } = await openQueue(t, mode);
      const hook = await receiver(t);
      // A DNS answer we control: the name points at the receiver on loopback.
      const resolve: Resolver = async (hostname) => {
        assert.equal(hostname, 'hooks.example');
        return [{ address: '127.0.0.1', family: 4 } satisfies LookupAddress];
      };
      const refusedId = await endedTaskWithCallback(queue, `http://hooks.example:${hook.port}/hook`);
      const refused = await deliverAll(queue, dispatcherFor(queue, { resolve }).dispatcher, refusedId);
      assert.equal(refused.callback_state, 'failed');
      assert.equal(hook.got.length, 0);

      // Allowed by name: the connection goes to the address the lookup returned.
      await submitOne(queue, { parameters: { callback_url: `http://HOOKS.example:${hook.port}/hook` } });
      const task = await claimOne(queue, 'w1');
      await queue.complete('w1', task.id, task.attempt, null);
      const env = { CALLBACK_ALLOWED_HOSTS: 'hooks.example' };
      const allowed = await deliverAll(queue, dispatcherFor(queue, { env, resolve }).dispatcher, task.id);
      assert.equal(allowed.callback_state, 'delivered');
      assert.equal(hook.got.length, 1);
      assert.equal(hook.got[0]!.headers.host, `hooks.example:${hook.port}`);
    });

    it('allows loopback by CIDR range and by the name localhost', async (t) => {
      const { queue } = await openQueue(t, mode);
      const hook = await receiver(t);
      const byRange = await endedTaskWithCallback(queue, hook.url);
      const env = { CALLBACK_ALLOWED_HOSTS: '127.0.0.0/8' };
      assert.equal(
        (await deliverAll(queue, dispatcherFor(queue, { env }).dispatcher, byRange)).callback_state,
        'delivered',
      );

      await submitOne(queue, { parameters: { callback_url: `http://localhost:${hook.port}/hook` } });
      const task = await claimOne(queue, 'w1');
      await queue.complete('w1', task.id, task.attempt, null);
      // localhost may resolve to ::1 first, where nothing listens: resolve it to 127.0.0.1 only.
      const resolve: Resolver = async () => [{ address: '127.0.0.1', family: 4 }];
      const byName = dispatcherFor(queue, { env: { CALLBACK_ALLOWED_HOSTS: 'localhost' }, resolve });
      assert.equal((await deliverAll(queue, byName.dispatcher, task.id)).callback_state, 'delivered');
      assert.equal(hook.got.length, 2);
    });

    it('an unreachable allowed address: the task log says "delivery failed", the server log says why', async (t) => {
      const { queue } = await openQueue(t, mode);
      const port = await closedPort();
      const id = await endedTaskWithCallback(queue, `http://127.0.0.1:${port}/hook`);
      const env = { ...allowLoopback, CALLBACK_MAX_ATTEMPTS: '2', CALLBACK_TIMEOUT_MS: '300' };
      const { dispatcher, serverLog } = dispatcherFor(queue, { env });
      const started = Date.now();
      await dispatcher.drain();
      // The refused connection is recorded only once the full timeout has passed.
      assert.ok(Date.now() - started >= 290, `recorded after ${Date.now() - started} ms`);
      const task = await deliverAll(queue, dispatcher, id);
      assert.equal(task.callback_state, 'failed');
      assert.equal(task.callback_attempts, 2);

      const logs = await callbackLogs(queue, id);
      assert.deepEqual(
        logs.map((l) => l.message.replace(/^Callback to \S+: /, '')),
        ['delivery failed (attempt 1/2); will retry', 'delivery failed (attempt 2/2); giving up'],
      );
      assertNoNetworkDetail(logs);
      assert.ok(logs.every((l) => (l.context as Record<string, unknown>).status === null));
      assert.ok(
        serverLog.every((l) => /ECONNREFUSED/.test(String(l.details.detail))),
        'the server log keeps it',
      );
    });

    it('a name that does not resolve reads like any other failure in the task log', async (t) => {
      const { queue } = await openQueue(t, mode);
      const resolve: Resolver = async (hostname) => {
        throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
      };
      const id = await endedTaskWithCallback(queue, 'http://nowhere.example/hook');
      const env = { CALLBACK_TIMEOUT_MS: '100' };
      const { dispatcher, serverLog } = dispatcherFor(queue, { env, resolve });
      await deliverAll(queue, dispatcher, id);
      const logs = await callbackLogs(queue, id);
      assert.match(logs[0]!.message, /delivery failed \(attempt 1\/1\); giving up$/);
      assertNoNetworkDetail(logs);
      assert.match(String(serverLog[0]!.details.detail), /ENOTFOUND/);
    });
  });
}
