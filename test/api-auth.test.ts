/**
 * Role-based bearer tokens on the API: each role against a representative route of each
 * group (allowed, 403, 401 with a challenge), public routes, HEAD and 404 handling, the
 * gateway left to its own tokens, the table covering every route, tokens off by default on
 * loopback, no token in the logs, and no gateway token outside the claim that hands it out.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { type Body, createTestApp, json, type TestApp } from './helpers/app.ts';
import { dbModes } from './helpers/db.ts';

const TOKENS = {
  admin: 'admin-token-aaaaaaaaaaaa',
  client: 'client-token-bbbbbbbbbbb',
  worker: 'worker-token-ccccccccccc',
} as const;
type Who = keyof typeof TOKENS | 'none';
const API_TOKENS = Object.entries(TOKENS)
  .map(([role, token]) => `${role}:${token}`)
  .join(',');
const W = 'worker-001-kind';

const auth = (who: Who) => (who === 'none' ? {} : { authorization: `Bearer ${TOKENS[who]}` });

interface Probe {
  group: string;
  method: 'GET' | 'POST' | 'DELETE';
  url: string;
  payload?: Record<string, unknown>;
  allowed: Who[];
}

// One representative route per group; ids that do not exist are fine (a 404 is not an auth answer).
const PROBES: Probe[] = [
  {
    group: 'submit',
    method: 'POST',
    url: '/api/v1/tasks',
    payload: { problem_id: 'p-1' },
    allowed: ['admin', 'client'],
  },
  { group: 'task reads', method: 'GET', url: '/api/v1/tasks', allowed: ['admin', 'client'] },
  {
    group: 'task logs',
    method: 'GET',
    url: `/api/v1/tasks/${randomUUID()}/logs`,
    allowed: ['admin', 'client'],
  },
  {
    group: 'cancel',
    method: 'POST',
    url: `/api/v1/tasks/${randomUUID()}/cancel`,
    allowed: ['admin', 'client'],
  },
  { group: 'delete', method: 'DELETE', url: `/api/v1/tasks/${randomUUID()}`, allowed: ['admin', 'client'] },
  { group: 'problems', method: 'GET', url: '/api/v1/problems', allowed: ['admin', 'client'] },
  { group: 'conversations', method: 'GET', url: '/api/v1/llm-conversations', allowed: ['admin', 'client'] },
  { group: 'stats', method: 'GET', url: '/queue/stats', allowed: ['admin', 'client'] },
  { group: 'metrics', method: 'GET', url: '/metrics', allowed: ['admin', 'client'] },
  { group: 'worker reads', method: 'GET', url: '/api/v1/workers', allowed: ['admin', 'client'] },
  {
    group: 'register',
    method: 'POST',
    url: '/api/v1/workers/register',
    payload: { worker_id: W },
    allowed: ['admin', 'worker'],
  },
  { group: 'heartbeat', method: 'POST', url: `/api/v1/workers/${W}/heartbeat`, allowed: ['admin', 'worker'] },
  { group: 'claim', method: 'POST', url: `/api/v1/workers/${W}/claim`, allowed: ['admin', 'worker'] },
  {
    group: 'report',
    method: 'POST',
    url: `/api/v1/workers/${W}/tasks/${randomUUID()}/complete`,
    payload: { result: {} },
    allowed: ['admin', 'worker'],
  },
  {
    group: 'log append',
    method: 'POST',
    url: `/api/v1/workers/${W}/tasks/${randomUUID()}/logs`,
    payload: { logs: [] },
    allowed: ['admin', 'worker'],
  },
  { group: 'internal status', method: 'GET', url: '/api/v1/workers/internal/status', allowed: ['admin'] },
  {
    group: 'internal scale',
    method: 'POST',
    url: '/api/v1/workers/internal/scale?num_workers=1',
    allowed: ['admin'],
  },
];

/** Log lines of an app, for the redaction and unlisted-route checks. */
function logSink() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  return { lines, stream };
}

for (const mode of dbModes()) {
  describe(`API roles (${mode})`, () => {
    let t: TestApp;
    const sink = logSink();
    before(async () => {
      t = await createTestApp(mode, { env: { API_TOKENS }, logger: { level: 'warn', stream: sink.stream } });
    });
    after(() => t.close());

    const call = (p: Pick<Probe, 'method' | 'url' | 'payload'>, who: Who, headers = auth(who)) =>
      t.inject({ method: p.method, url: p.url, payload: p.payload, headers });

    it('lets each role call its routes and refuses the others with 403 FORBIDDEN', async () => {
      // Register first so the worker routes answer with their own outcomes, not 404s only.
      assert.equal((await call(PROBES.find((p) => p.group === 'register')!, 'worker')).statusCode, 201);
      for (const probe of PROBES) {
        for (const who of ['admin', 'client', 'worker'] as const) {
          const res = await call(probe, who);
          const what = `${who} → ${probe.method} ${probe.url} (${probe.group}): ${res.statusCode} ${res.body}`;
          if (probe.allowed.includes(who)) {
            assert.ok(![401, 403].includes(res.statusCode), what);
          } else {
            assert.equal(res.statusCode, 403, what);
            const body = json<Body>(res);
            assert.equal(body.code, 'FORBIDDEN', what);
            assert.equal(body.details.role, who);
            assert.ok(body.details.allowed_roles.includes('admin'));
          }
        }
      }
    });

    it('answers 401 UNAUTHORIZED with a Bearer challenge when the token is missing or unknown', async () => {
      for (const probe of PROBES) {
        const none = await call(probe, 'none');
        assert.equal(none.statusCode, 401, `${probe.group}: ${none.body}`);
        assert.equal(none.headers['www-authenticate'], 'Bearer');
        assert.equal(json<Body>(none).code, 'UNAUTHORIZED');
        assert.ok(none.headers['x-request-id'], 'a refusal carries the request id');
      }
      const probe = PROBES[0]!;
      for (const header of [
        `Bearer ${TOKENS.admin}x`,
        'Bearer short',
        `Bearer ${TOKENS.admin.slice(0, -1)}`,
      ]) {
        const res = await call(probe, 'none', { authorization: header });
        assert.equal(res.statusCode, 401);
        assert.equal(res.headers['www-authenticate'], 'Bearer error="invalid_token"');
      }
      // Only the Bearer scheme counts.
      for (const header of [`Basic ${TOKENS.admin}`, TOKENS.admin, `Bearer`]) {
        const res = await call(probe, 'none', { authorization: header });
        assert.equal(res.statusCode, 401, header);
      }
      // The scheme is case-insensitive (RFC 7235).
      assert.equal((await call(probe, 'none', { authorization: `bearer ${TOKENS.client}` })).statusCode, 201);
    });

    it('keeps /, /health, /openapi.json and /docs open', async () => {
      for (const url of ['/', '/health', '/openapi.json', '/docs', '/docs/json']) {
        const res = await t.inject({ method: 'GET', url });
        assert.ok(![401, 403].includes(res.statusCode), `${url}: ${res.statusCode}`);
      }
    });

    it('judges HEAD as GET, and leaves an unknown URL a 404', async () => {
      assert.equal((await t.inject({ method: 'HEAD', url: '/api/v1/tasks' })).statusCode, 401);
      assert.equal(
        (await t.inject({ method: 'HEAD', url: '/api/v1/tasks', headers: auth('client') })).statusCode,
        200,
      );
      const missing = await t.inject({ method: 'GET', url: '/api/v1/nothing-here' });
      assert.equal(missing.statusCode, 404);
      assert.equal(json<Body>(missing).code, 'NOT_FOUND');
    });

    it('decides on the matched route, not the raw URL', async () => {
      // Query strings, encodings and dot segments do not smuggle a worker route past the table.
      for (const url of [
        '/api/v1/workers/internal/status?x=/api/v1/tasks',
        '/api/v1/workers/%69nternal/status',
        '/api/v1/tasks/../workers/internal/status',
      ]) {
        const res = await t.inject({ method: 'GET', url, headers: auth('client') });
        assert.ok([403, 404].includes(res.statusCode), `${url}: ${res.statusCode}`);
      }
    });

    it('leaves the LLM gateway to its own per-task tokens', async () => {
      // An API admin token is not a gateway token: the gateway refuses it in its own (OpenAI) shape.
      const res = await t.inject({ method: 'GET', url: '/llm/v1/models', headers: auth('admin') });
      assert.equal(res.statusCode, 401);
      assert.equal(json<Body>(res).error?.code, 'invalid_api_key');
      const none = await t.inject({ method: 'GET', url: '/llm/v1/models' });
      assert.equal(json<Body>(none).error?.code, 'invalid_api_key');
    });

    it('has an entry in the route table for every registered route', () => {
      const unlisted = sink.lines.filter((l) => l.includes('route missing from the auth table'));
      assert.deepEqual(unlisted, [], 'add these routes to ROUTE_ACCESS in src/api/auth.ts');
    });
  });

  describe(`API without tokens (${mode})`, () => {
    it('is open, as before, when no token is configured', async (t) => {
      const app = await createTestApp(mode);
      t.after(() => app.close());
      const submitted = await app.inject({
        method: 'POST',
        url: '/api/v1/tasks',
        payload: { problem_id: 'p' },
      });
      assert.equal(submitted.statusCode, 201);
      const reg = await app.inject({
        method: 'POST',
        url: '/api/v1/workers/register',
        payload: { worker_id: W },
      });
      assert.equal(reg.statusCode, 201);
      // A token sent anyway is ignored, not refused.
      const list = await app.inject({ method: 'GET', url: '/api/v1/tasks', headers: auth('admin') });
      assert.equal(list.statusCode, 200);
      const internal = await app.inject({ method: 'GET', url: '/api/v1/workers/internal/status' });
      assert.ok(![401, 403].includes(internal.statusCode));
    });
  });

  describe(`tokens and logs (${mode})`, () => {
    it('never writes a token to the log, even with a serializer that logs headers', async (t) => {
      const sink = logSink();
      const app = await createTestApp(mode, {
        env: { API_TOKENS },
        logger: {
          level: 'trace',
          stream: sink.stream,
          serializers: {
            req: (req: { headers: unknown; url: string }) => ({ url: req.url, headers: req.headers }),
          },
        },
      });
      t.after(() => app.close());
      const unknown = 'not-a-real-token-zzzzzzzzzzzzz';
      await app.inject({ method: 'GET', url: '/api/v1/tasks', headers: auth('client') });
      await app.inject({ method: 'GET', url: '/api/v1/workers/internal/status', headers: auth('worker') });
      await app.inject({
        method: 'GET',
        url: '/api/v1/tasks',
        headers: { authorization: `Bearer ${unknown}` },
      });
      await app.inject({ method: 'GET', url: '/llm/v1/models', headers: auth('admin') });
      const text = sink.lines.join('\n');
      assert.ok(text.includes('request refused'), 'refusals are logged');
      assert.ok(text.includes('[Redacted]'), 'the serializer saw the header and it was redacted');
      for (const token of [...Object.values(TOKENS), unknown]) assert.ok(!text.includes(token), token);
    });
  });

  describe(`gateway tokens stay in the claim (${mode})`, () => {
    it('only the claim response carries llm_api_key; no read returns it', async (t) => {
      const app = await createTestApp(mode, { env: { API_TOKENS } });
      t.after(() => app.close());
      const as = (who: Who, method: 'GET' | 'POST', url: string, payload?: Record<string, unknown>) =>
        app.inject({ method, url, payload, headers: auth(who) });
      const created = json<Body>(await as('client', 'POST', '/api/v1/tasks', { problem_id: 'p-1' }));
      await as('worker', 'POST', '/api/v1/workers/register', { worker_id: W });
      const claim = await as('worker', 'POST', `/api/v1/workers/${W}/claim`, {});
      const claimed = json<Body>(claim);
      assert.equal(claimed.id, created.id);
      const key = claimed.llm_api_key as string;
      assert.ok(key && key.length > 16, 'the claim hands the attempt its gateway token');
      await as('worker', 'POST', `/api/v1/workers/${W}/tasks/${created.id}/logs`, {
        attempt: claimed.attempt,
        logs: [{ level: 'info', message: 'step 1' }],
      });

      const reads: [Who, 'GET' | 'POST', string, Record<string, unknown>?][] = [
        ['admin', 'GET', `/api/v1/tasks/${created.id}`],
        ['admin', 'GET', `/api/v1/tasks/${created.id}?include_logs=true`],
        ['admin', 'GET', '/api/v1/tasks'],
        ['admin', 'GET', `/api/v1/tasks?worker_id=${W}&status=running`],
        ['admin', 'GET', `/api/v1/tasks/${created.id}/logs`],
        ['admin', 'GET', '/api/v1/tasks/stats'],
        ['admin', 'GET', '/api/v1/workers'],
        ['admin', 'GET', `/api/v1/workers/${W}`],
        ['admin', 'GET', `/api/v1/workers/${W}/stats`],
        ['admin', 'GET', `/api/v1/llm-conversations?task_id=${created.id}`],
        ['admin', 'GET', `/api/v1/llm-conversations/task/${created.id}/conversations`],
        ['admin', 'GET', '/queue/stats'],
        ['admin', 'GET', '/metrics'],
        ['worker', 'POST', `/api/v1/workers/${W}/heartbeat`, {}],
      ];
      for (const [who, method, url, payload] of reads) {
        const res = await as(who, method, url, payload);
        assert.ok(res.statusCode < 300, `${url}: ${res.statusCode} ${res.body}`);
        assert.ok(!res.body.includes(key), `${url} exposes the gateway token`);
        assert.ok(!res.body.includes('llm_api_key'), `${url} has an llm_api_key field`);
      }
      // A second claim by the same worker hands out nothing (and so no token).
      assert.equal((await as('worker', 'POST', `/api/v1/workers/${W}/claim`, {})).body, 'null');
    });
  });
}
