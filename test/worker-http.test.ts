/**
 * The HTTP transport against a scripted stand-in API: request shapes, 409 never retried,
 * 503 and dropped connections retried, the claim's long-poll and null answer.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HttpError, HttpTransport } from '../src/worker/http.ts';
import { fencingError, startFakeApi } from './fixtures/fake-api.ts';
import { fakeTask } from './fixtures/worker-helpers.ts';

const W = 'worker-007-kind';
const lease = { task_id: '6c1f3a52-7d1b-4c1e-9a43-0f5e3c2b9d10', attempt: 2 };
const fast = { backoffMs: 1 };

test('register sends the worker id, backend and capabilities', async (t) => {
  const api = await startFakeApi();
  t.after(() => api.close());
  await new HttpTransport(`${api.url}/`, fast).register({
    id: W,
    backend_type: 'command',
    max_parallel_tasks: 2,
    supported_problems: ['k8s-*'],
    metadata: { host: 'h1' },
  });
  assert.equal(api.requests.length, 1);
  assert.equal(api.requests[0]!.path, '/api/v1/workers/register');
  assert.deepEqual(api.requests[0]!.body, {
    worker_id: W,
    backend_type: 'command',
    capabilities: { max_parallel_tasks: 2, supported_problems: ['k8s-*'] },
    metadata: { host: 'h1' },
  });
  assert.equal(api.requests[0]!.authorization, undefined);
});

test('a 409 on a report is a refusal: false at once, never retried', async (t) => {
  const api = await startFakeApi(() => fencingError('STALE_ATTEMPT'));
  t.after(() => api.close());
  const http = new HttpTransport(api.url, fast);
  assert.equal(await http.complete(W, lease, { score: 1 }), false);
  assert.equal(await http.fail(W, lease, { reason: 'x' }, true), false);
  assert.equal(await http.release(W, lease), false);
  assert.equal(await http.appendLogs(W, lease, [{ level: 'info', message: 'hi' }]), false);
  assert.equal(api.requests.length, 4, 'one request per call');
});

test('a 503 is retried until the API answers', async (t) => {
  let n = 0;
  const api = await startFakeApi(() =>
    ++n <= 2 ? { status: 503, body: { error: 'db down', code: 'DATABASE_UNAVAILABLE' } } : {},
  );
  t.after(() => api.close());
  const http = new HttpTransport(api.url, fast);
  assert.equal(await http.complete(W, lease, { score: 1 }), true);
  assert.equal(api.calls('/complete').length, 3);
  assert.equal(api.requests[2]!.path, `/api/v1/workers/${W}/tasks/${lease.task_id}/complete`);
  assert.deepEqual(api.requests[2]!.body, { worker_id: W, attempt: 2, result: { score: 1 } });
});

test('a transient error that outlasts the retries is thrown', async (t) => {
  const api = await startFakeApi(() => ({ status: 503, body: { error: 'down', code: 'X' } }));
  t.after(() => api.close());
  const http = new HttpTransport(api.url, { backoffMs: 1, retries: 3 });
  await assert.rejects(http.fail(W, lease, { reason: 'x' }, false), (err) => {
    assert.ok(err instanceof HttpError);
    assert.equal(err.status, 503);
    return true;
  });
  assert.equal(api.requests.length, 3);
});

test('a dropped connection is retried until the API answers', async (t) => {
  let n = 0;
  const api = await startFakeApi(() => (++n <= 2 ? { drop: true } : {}));
  t.after(() => api.close());
  assert.equal(await new HttpTransport(api.url, fast).release(W, lease), true);
  assert.equal(api.calls('/release').length, 3);
});

test('an API that is not there is retried, then the network error is thrown', async () => {
  const api = await startFakeApi();
  const url = api.url;
  await api.close();
  const http = new HttpTransport(url, { backoffMs: 1, retries: 3 });
  await assert.rejects(http.release(W, lease), { code: 'ECONNREFUSED' });
});

test('a 422 is a refusal of the request itself: thrown, not retried', async (t) => {
  const api = await startFakeApi(() => ({ status: 422, body: { error: 'bad', code: 'VALIDATION_FAILED' } }));
  t.after(() => api.close());
  const http = new HttpTransport(api.url, fast);
  await assert.rejects(http.complete(W, lease, null), { name: 'HttpError', code: 'VALIDATION_FAILED' });
  assert.equal(api.requests.length, 1);
});

test('claim long-polls with ?wait= and maps null to no task', async (t) => {
  const task = fakeTask({ attempt: 3 });
  let give = false;
  const api = await startFakeApi(() => ({ body: give ? task : null }));
  t.after(() => api.close());
  const http = new HttpTransport(api.url, fast);
  const signal = new AbortController().signal;
  assert.deepEqual(await http.claim(W, 4, 5000, signal), []);
  give = true;
  assert.deepEqual(await http.claim(W, 4, 5000, signal), [task]);
  assert.equal(api.requests[0]!.path, `/api/v1/workers/${W}/claim`);
  assert.equal(api.requests[0]!.query.get('wait'), '5');
});

test('heartbeat sends status and leases and reads lost and cancelled ids', async (t) => {
  const api = await startFakeApi(() => ({
    body: { worker_id: W, status: 'busy', lost_task_ids: ['a'], cancel_task_ids: ['b'], extended: [] },
  }));
  t.after(() => api.close());
  const reply = await new HttpTransport(api.url, fast).heartbeat(W, 'draining', [lease]);
  assert.deepEqual(reply, { lost: ['a'], cancel_requested: ['b'] });
  assert.deepEqual(api.requests[0]!.body, { status: 'draining', tasks: [lease] });
  assert.equal(api.requests[0]!.path, `/api/v1/workers/${W}/heartbeat`);
  await new HttpTransport(api.url, fast).heartbeat(W, 'idle', [], 'resetting its cluster');
  assert.deepEqual(api.requests[1]!.body, {
    status: 'idle',
    tasks: [],
    status_reason: 'resetting its cluster',
  });
});

test('logs and fail carry the attempt; fail carries error_details and retry', async (t) => {
  const api = await startFakeApi();
  t.after(() => api.close());
  const http = new HttpTransport(api.url, fast);
  const log = {
    level: 'info' as const,
    message: 'm',
    context: { step: 1 },
    source: 'stdout',
    timestamp: 'T',
  };
  await http.appendLogs(W, lease, [log]);
  await http.fail(W, lease, { reason: 'exit_code' }, true);
  assert.deepEqual(api.calls('/logs')[0]!.body, { attempt: 2, logs: [log] });
  assert.deepEqual(api.calls('/fail')[0]!.body, {
    worker_id: W,
    attempt: 2,
    error_details: { reason: 'exit_code' },
    retry: true,
  });
});

test('a token goes in the Authorization header', async (t) => {
  const api = await startFakeApi(() => ({ body: null }));
  t.after(() => api.close());
  await new HttpTransport(api.url, { token: 's3cret' }).claim(W, 1, 0, new AbortController().signal);
  assert.equal(api.requests[0]!.authorization, 'Bearer s3cret');
});

test('reports made in the same turn go in one /reports request; each keeps its own verdict', async (t) => {
  const api = await startFakeApi((r) =>
    r.path.endsWith('/reports')
      ? { body: { results: [{ accepted: true }, { accepted: false, code: 'STALE_ATTEMPT' }], tasks: [] } }
      : {},
  );
  t.after(() => api.close());
  const http = new HttpTransport(api.url, fast);
  const other = { task_id: '0b6f2a9e-3c1d-4e5f-8a7b-9c0d1e2f3a4b', attempt: 1 };
  const [a, b] = await Promise.all([
    http.complete(W, lease, { score: 1 }),
    http.fail(W, other, { reason: 'x' }, true),
  ]);
  assert.deepEqual([a, b], [true, false]);
  assert.equal(api.requests.length, 1);
  assert.deepEqual(api.requests[0]!.body, {
    reports: [
      { task_id: lease.task_id, attempt: 2, outcome: 'complete', result: { score: 1 } },
      { task_id: other.task_id, attempt: 1, outcome: 'fail', error_details: { reason: 'x' }, retry: true },
    ],
    claim_next: 0,
  });
});

test('a worker taking tasks gets the ones its reports claimed; a 413 batch is resent one by one', async (t) => {
  const next = fakeTask({ attempt: 1 });
  const api = await startFakeApi((r) => {
    if (r.path.endsWith('/reports'))
      return { status: 413, body: { error: 'too large', code: 'BODY_TOO_LARGE' } };
    const body = r.body as { claim_next?: number };
    return { body: { status: 'completed', next_tasks: body.claim_next ? [next] : [] } };
  });
  t.after(() => api.close());
  const http = new HttpTransport(api.url, fast);
  const taken: unknown[] = [];
  http.attachWorker(W, { accepting: () => true, take: (tasks) => taken.push(...tasks) });
  const other = { task_id: '0b6f2a9e-3c1d-4e5f-8a7b-9c0d1e2f3a4b', attempt: 1 };
  assert.deepEqual(await Promise.all([http.complete(W, lease, 1), http.complete(W, other, 2)]), [true, true]);
  assert.deepEqual(
    api.requests.map((r) => r.path.split('/').at(-1)),
    ['reports', 'complete', 'complete'],
  );
  assert.equal((api.calls('/complete')[0]!.body as { claim_next: number }).claim_next, 1);
  assert.deepEqual(taken, [next, next]);
});
