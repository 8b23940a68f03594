/**
 * 6. 10,000 fuzzed requests across every route of GET /openapi.json, generated from its own
 * schemas plus malformed variants (wrong types, huge strings, deep nesting, NUL bytes, lone
 * surrogates, bad JSON, wrong content types, unknown fields, oversized bodies, bad path and
 * query values, wrong methods), to 127.0.0.1 only, 16 at a time:
 *   A. 8,000 mixed requests, no tokens (loopback default): no 5xx, no hang, no dropped connection;
 *   B. 1,000 malformed state-changing requests in batches of 50 against real workers and tasks
 *      (a running one among them), the database snapshotted around each batch: a batch that
 *      was refused entirely must change nothing;
 *   C. 1,000 requests to the same server restarted with API_TOKENS, without a token or with a
 *      wrong one: 401 on every protected route (public ones answer), and nothing changes.
 */
import { randomUUID } from 'node:crypto';
import { accessFor } from '../../src/api/auth.ts';
import { type FuzzRequest, Generator, operations, type Pools, Rng } from '../lib/fuzz-gen.ts';
import { type Answer, call, json } from '../lib/http.ts';
import { histogram } from '../lib/load.ts';
import { withClient } from '../lib/pg.ts';
import { startServer } from '../lib/procs.ts';
import type { Scenario } from '../lib/scenario.ts';
import { Checks, freePort, sleep, until } from '../lib/util.ts';

const CONCURRENCY = 16;
const PHASE_A = 8000;
const PHASE_B_BATCHES = 20;
const BATCH = 50;
const PHASE_C = 1000;

interface Outcome {
  req: FuzzRequest;
  status: number | null;
  error: string | null;
  ms: number;
}

async function fire(
  base: string,
  reqs: FuzzRequest[],
  extraHeaders: () => Record<string, string> = () => ({}),
): Promise<Outcome[]> {
  const out: Outcome[] = new Array(reqs.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < reqs.length; i = next++) {
      const req = reqs[i]!;
      try {
        const a: Answer = await call(base, req.method, req.path, {
          headers: { ...req.headers, ...extraHeaders() },
          body: req.body,
          timeoutMs: 20_000,
          headersOnlyForStreams: true,
        });
        out[i] = { req, status: a.status, error: null, ms: a.ms };
      } catch (err) {
        const e = err as { code?: string; ms?: number };
        out[i] = { req, status: null, error: e.code ?? 'ERROR', ms: e.ms ?? 0 };
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return out;
}

const routeOf = (path: string) =>
  path
    .split('?')[0]!
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '{uuid}')
    .replace(/worker-\d{3}-kind/g, '{worker}')
    .split('/')
    .map((seg) => (seg.length > 40 ? '{long}' : seg))
    .join('/');

/** Row count and an order-independent checksum of every table but the servers' own bookkeeping. */
async function snapshot(dbUrl: string): Promise<Map<string, string>> {
  return withClient(dbUrl, async (c) => {
    const tables = await c.query<{ t: string }>(
      `SELECT table_name AS t FROM information_schema.tables
        WHERE table_schema = 'public' AND table_type = 'BASE TABLE'
          AND table_name NOT IN ('replica_slots', 'reaper_state', 'schema_migrations') ORDER BY 1`,
    );
    const out = new Map<string, string>();
    for (const { t } of tables.rows) {
      const r = await c.query<{ n: number; h: string }>(
        `SELECT count(*)::int AS n, coalesce(md5(string_agg(md5(x::text), ',' ORDER BY md5(x::text))), '') AS h FROM "${t}" x`,
      );
      out.set(t, `${r.rows[0]!.n}:${r.rows[0]!.h}`);
    }
    return out;
  });
}

function diff(a: Map<string, string>, b: Map<string, string>): string[] {
  const changed: string[] = [];
  for (const [t, v] of a)
    if (b.get(t) !== v) changed.push(`${t} ${v.split(':')[0]}→${b.get(t)?.split(':')[0]}`);
  for (const t of b.keys()) if (!a.has(t)) changed.push(`${t} (new)`);
  return changed;
}

function problems(outcomes: Outcome[]): { fiveXX: Outcome[]; failed: Outcome[] } {
  return {
    fiveXX: outcomes.filter((o) => o.status !== null && o.status >= 500),
    failed: outcomes.filter((o) => o.status === null),
  };
}

const describe = (os: Outcome[]) =>
  histogram(os.map((o) => `${o.req.method} ${routeOf(o.req.path)} [${o.req.kind}] → ${o.status ?? o.error}`));

export const fuzz: Scenario = {
  name: 'fuzz',
  checks:
    '10,000 fuzzed requests over every OpenAPI route: no 5xx/hang, refused requests change nothing, 401 without token',
  timeoutMs: 210_000,
  async run(ctx) {
    const checks = new Checks();
    const dbUrl = await ctx.cluster.createDatabase('chaos_fuzz');
    const port = await freePort();
    const env = {
      PORT: String(port),
      DATABASE_URL: dbUrl,
      DATA_DIR: `${ctx.tmp}/server`,
      NUM_INTERNAL_WORKERS: '0',
      // Nothing may change the database but the requests themselves.
      ENABLE_BACKGROUND_TASKS: 'false',
    };
    let server = await startServer(env);
    const base = server.base;
    const doc = await json<Record<string, unknown>>(base, 'GET', '/openapi.json');
    const ops = operations(doc);
    ctx.log(`${ops.length} operations in /openapi.json`);
    const pools: Pools = {
      taskIds: [],
      workerIds: ['worker-901-kind', 'worker-902-kind'],
      conversationIds: [],
    };
    // A few real objects for the generator to aim at.
    for (const id of pools.workerIds)
      await json(base, 'POST', '/api/v1/workers/register', { worker_id: id, backend_type: 'command' });
    for (let i = 0; i < 5; i++)
      pools.taskIds.push(
        (
          await json<{ id: string }>(base, 'POST', '/api/v1/tasks', {
            problem_id: `fuzz-seed-${i}`,
            backend_type: 'command',
          })
        ).id,
      );
    const gen = new Generator(new Rng(Number(process.env.CHAOS_SEED ?? 20261201)), pools);

    // A. Mixed valid and malformed requests.
    const started = Date.now();
    const reqsA = Array.from({ length: PHASE_A }, () => gen.request(ops, gen.rng.chance(0.6)));
    const outA = await fire(base, reqsA);
    const secondsA = (Date.now() - started) / 1000;
    const pa = problems(outA);
    checks.check(pa.fiveXX.length === 0, 'A: no 5xx', describe(pa.fiveXX));
    checks.check(
      pa.failed.length === 0,
      'A: every request answered (no hang, no dropped connection)',
      describe(pa.failed),
    );
    const acceptedMalformed = outA.filter((o) => o.req.malformed && o.status !== null && o.status < 400);
    if (acceptedMalformed.length)
      checks.note(`A: malformed but accepted (2xx/3xx): ${describe(acceptedMalformed).slice(0, 600)}`);
    const routesHit = new Set(outA.map((o) => `${o.req.method} ${routeOf(o.req.path)}`)).size;
    ctx.log(
      `A: ${PHASE_A} requests in ${secondsA.toFixed(1)} s; statuses ${histogram(outA.map((o) => o.status ?? o.error ?? ''))}`,
    );

    // B. Refused requests change nothing. Real targets: a registered worker holding a running task.
    await call(base, 'POST', '/api/v1/workers/internal/stop', { timeoutMs: 30_000 });
    const holder = 'worker-904-kind';
    await json(base, 'POST', '/api/v1/workers/register', {
      worker_id: holder,
      backend_type: 'fuzzheld',
      capabilities: { supported_problems: ['fuzz-held'] },
    });
    const held = await json<{ id: string }>(base, 'POST', '/api/v1/tasks', {
      problem_id: 'fuzz-held',
      backend_type: 'fuzzheld',
    });
    const claimed = await json<{ id: string; attempt: number } | null>(
      base,
      'POST',
      `/api/v1/workers/${holder}/claim`,
    );
    checks.check(claimed?.id === held.id, 'B: the target task is running on the target worker');
    pools.workerIds.push(holder, holder, holder);
    pools.taskIds.push(held.id, held.id, held.id);
    // Quiet first: two equal snapshots a second apart.
    let before = await snapshot(dbUrl);
    await until(
      async () => {
        await sleep(1000, ctx.signal);
        const again = await snapshot(dbUrl);
        const same = diff(before, again).length === 0;
        before = again;
        return same;
      },
      'the database to be quiet',
      20_000,
      ctx.signal,
      0,
    );
    // State-changing operations that take input (internal start/stop take none to spoil).
    const stateOps = ops.filter(
      (o) =>
        o.method !== 'GET' &&
        (o.body || o.params.some((p) => p.in === 'path' && p.schema?.format === 'uuid')),
    );
    let compared = 0;
    let mixed = 0;
    const changedBy: string[] = [];
    const outB: Outcome[] = [];
    for (let b = 0; b < PHASE_B_BATCHES; b++) {
      const reqs = Array.from({ length: BATCH }, () => gen.request(stateOps, true, true));
      const out = await fire(base, reqs);
      outB.push(...out);
      const after = await snapshot(dbUrl);
      const changes = diff(before, after);
      if (out.every((o) => o.status !== null && o.status >= 400)) {
        compared++;
        if (changes.length)
          changedBy.push(`batch ${b}: ${changes.join(', ')} after ${describe(out).slice(0, 400)}`);
      } else mixed++;
      before = after;
    }
    const pb = problems(outB);
    checks.check(pb.fiveXX.length === 0, 'B: no 5xx', describe(pb.fiveXX));
    checks.check(pb.failed.length === 0, 'B: every request answered', describe(pb.failed));
    checks.check(
      compared >= PHASE_B_BATCHES / 2,
      'B: at least half the batches were refused entirely',
      `${compared} of ${PHASE_B_BATCHES}`,
    );
    checks.check(
      changedBy.length === 0,
      'B: a batch of refused requests changed nothing',
      changedBy.join(' | '),
    );
    const acceptedB = outB.filter((o) => o.status !== null && o.status < 400);
    if (acceptedB.length) checks.note(`B: malformed but accepted: ${describe(acceptedB).slice(0, 600)}`);

    // C. With tokens: unauthenticated requests are 401 and change nothing.
    await server.proc.stop('SIGTERM');
    const admin = randomUUID().replaceAll('-', '');
    server = await startServer({
      ...env,
      API_TOKENS: `admin:${admin},client:${randomUUID().replaceAll('-', '')},worker:${randomUUID().replaceAll('-', '')}`,
    });
    const beforeC = await snapshot(dbUrl);
    const reqsC = Array.from({ length: PHASE_C }, () => gen.request(ops, gen.rng.chance(0.5)));
    const badToken = () =>
      gen.rng.pick<Record<string, string>>([
        {},
        { authorization: `Bearer ${randomUUID()}${randomUUID()}` },
        { authorization: `Bearer ${admin.slice(0, -1)}x` },
        { authorization: `Basic ${Buffer.from(`admin:${admin}`).toString('base64')}` },
        { authorization: 'Bearer' },
        { authorization: `bearer  ${admin}z` },
      ]);
    const outC = await fire(server.base, reqsC, badToken);
    const afterC = await snapshot(dbUrl);
    // Public as the auth table says (GET /, /health, /ready, /redoc, /docs…), read from it.
    const isPublic = (o: Outcome) => accessFor(o.req.method, o.req.path).access === 'public';
    const isGateway = (o: Outcome) => o.req.path.startsWith('/llm/');
    const routable = (o: Outcome) =>
      ops.some(
        (op) =>
          op.method === o.req.method &&
          new RegExp(`^${op.path.replace(/\{\w+\}/g, '[^/]*')}$`).test(o.req.path.split('?')[0]!),
      );
    // The API's tokens guard every route but the public ones; a path the router cannot even
    // decode (400) or that is too long (414) is refused before any route is chosen.
    const apiOut = outC.filter((o) => !isPublic(o) && !isGateway(o) && routable(o));
    const not401 = apiOut.filter(
      (o) => o.status !== 401 && !(o.req.kind === 'bad-path' && [400, 404, 414].includes(o.status ?? 0)),
    );
    checks.check(
      not401.length === 0,
      'C: every protected route answered 401 without a valid token',
      describe(not401),
    );
    const gatewayOut = outC.filter(isGateway);
    const gatewayAccepted = gatewayOut.filter((o) => o.status === null || o.status < 400);
    checks.check(
      gatewayAccepted.length === 0,
      'C: the gateway refused every call without a task token',
      describe(gatewayAccepted),
    );
    const gatewayNot401 = gatewayOut.filter((o) => o.status !== 401);
    if (gatewayNot401.length)
      checks.note(`C: the gateway answered these before checking the token: ${describe(gatewayNot401)}`);
    const known = apiOut;
    const pc = problems(outC);
    checks.check(
      pc.fiveXX.length === 0 && pc.failed.length === 0,
      'C: no 5xx, every request answered',
      describe([...pc.fiveXX, ...pc.failed]),
    );
    const changesC = diff(beforeC, afterC);
    checks.check(changesC.length === 0, 'C: unauthenticated requests changed nothing', changesC.join(', '));
    const total = outA.length + outB.length + outC.length;
    await server.proc.stop('SIGTERM');
    return {
      checks,
      figures: [
        ['requests', total],
        ['routes', `${routesHit} method+route shapes over ${ops.length} operations`],
        ['req/s (A)', Math.round(PHASE_A / secondsA)],
        ['5xx', pa.fiveXX.length + pb.fiveXX.length + pc.fiveXX.length],
        ['refused batches compared', `${compared} (mixed ${mixed})`],
        ['401 (C)', known.filter((o) => o.status === 401).length],
      ],
    };
  },
};
