/**
 * The claim's cost must stay flat however long the backlog grows: its row-picking query reads
 * the partial index tasks_claim_idx in (priority DESC, seq) order and stops at its LIMIT.
 *
 * These tests EXPLAIN what queue.claim really runs, over a 50k-row backlog after ANALYZE. The
 * statement is captured by wrapping the Db. When it calls a SQL function (claim_tasks), the
 * function's statement that picks rows (the one with SKIP LOCKED) is read from pg_catalog, its
 * named arguments become $n parameters, and it is explained under the function's own SET
 * options and as a generic plan, the plan PL/pgSQL may cache for a statement of a function. Every EXPLAIN runs in a transaction that is rolled back.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Db, Queryable } from '../src/db/types.ts';
import { createQueue, type Queue } from '../src/queue/index.ts';
import { dbModes } from './helpers/db.ts';
import { addWorker, openQueue } from './helpers/queue-fixtures.ts';

const BACKLOG = 50_000;

interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  'Relation Name'?: string;
  'Actual Rows'?: number;
  'Actual Loops'?: number;
  'Rows Removed by Filter'?: number;
  Plans?: PlanNode[];
}

const walk = (n: PlanNode): PlanNode[] => [n, ...(n.Plans ?? []).flatMap(walk)];

interface Captured {
  sql: string;
  params: readonly unknown[];
}

/** A Db that records every statement, including those run inside transactions. */
function recording(db: Db, seen: Captured[]): Db {
  const wrap = (q: Queryable): Queryable => ({
    query: (sql, params) => {
      seen.push({ sql, params: params ?? [] });
      return q.query(sql, params);
    },
    exec: (sql) => q.exec(sql),
  });
  return {
    ...wrap(db),
    kind: db.kind,
    transaction: (fn) => db.transaction((tx) => fn(wrap(tx))),
    listen: (channel, onPayload) => db.listen(channel, onPayload),
    close: () => db.close(),
  };
}

/** Runs queue.claim once through a recording Db and returns the statement it sent. */
async function captureClaim(db: Db, workerId: string): Promise<Captured> {
  const seen: Captured[] = [];
  const spy: Queue = createQueue(recording(db, seen), { leaseSeconds: 60, notifyDebounceMs: 20 });
  await spy.claim(workerId, 1).catch(() => []);
  const claim = seen.find((s) => /SKIP LOCKED/i.test(s.sql) || /\bFROM claim_tasks\(/i.test(s.sql));
  assert.ok(
    claim,
    `the claim statement was captured among: ${seen.map((s) => s.sql.slice(0, 60)).join(' | ')}`,
  );
  return claim;
}

interface PickingStatement extends Captured {
  settings: [string, string][];
}

/** The statement that picks rows: the captured one, or the one inside the SQL function it calls. */
async function pickingStatement(db: Queryable, c: Captured): Promise<PickingStatement> {
  if (/SKIP LOCKED/i.test(c.sql)) return { ...c, settings: [] };
  const fn = /FROM\s+([a-z_][a-z0-9_]*)\s*\(/i.exec(c.sql)?.[1];
  assert.ok(fn, `no function call in ${c.sql}`);
  const { rows } = await db.query<{
    prosrc: string;
    proargnames: string[];
    proconfig: string[] | null;
    types: string[];
  }>(
    `SELECT p.prosrc, p.proargnames, p.proconfig,
            ARRAY(SELECT format_type(a.t, NULL) FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY AS a(t, i)
                  ORDER BY a.i) AS types
     FROM pg_proc p WHERE p.proname = $1`,
    [fn],
  );
  const proc = rows[0];
  assert.ok(proc, `function ${fn} not found`);
  const statement = proc.prosrc.split(';').find((part) => /SKIP LOCKED/i.test(part));
  assert.ok(statement, `no SKIP LOCKED statement in ${fn}`);
  // In PL/pgSQL the statement is the query of a RETURN QUERY.
  let sql = statement.replace(/^\s*RETURN QUERY\b/i, '');
  proc.proargnames.forEach((name, i) => {
    sql = sql.replace(new RegExp(`\\b${name}\\b`, 'g'), `$${i + 1}::${proc.types[i]}`);
  });
  // The function's record variable `w` holds the worker's row, read before this statement; a
  // draining worker's claim returns before it runs, which the subquery's status test stands for.
  sql = sql.replace(
    /\bw\.([a-z_]+)/g,
    (_, col: string) => `(SELECT ${col} FROM workers WHERE id = $1::text AND status <> 'draining')`,
  );
  const settings = (proc.proconfig ?? []).map((kv) => {
    const at = kv.indexOf('=');
    return [kv.slice(0, at), kv.slice(at + 1)] as [string, string];
  });
  return { sql, params: c.params, settings: [['plan_cache_mode', 'force_generic_plan'], ...settings] };
}

class Rollback extends Error {}

async function explain(db: Db, captured: Captured, analyze: boolean): Promise<PlanNode> {
  const st = await pickingStatement(db, captured);
  let plan: PlanNode | undefined;
  await db
    .transaction(async (tx) => {
      for (const [name, value] of st.settings)
        await tx.query('SELECT set_config($1, $2, true)', [name, value]);
      const { rows } = await tx.query<{ 'QUERY PLAN': unknown }>(
        `EXPLAIN (${analyze ? 'ANALYZE, ' : ''}FORMAT JSON) ${st.sql}`,
        st.params,
      );
      const raw = rows[0]!['QUERY PLAN'];
      plan = ((typeof raw === 'string' ? JSON.parse(raw) : raw) as Array<{ Plan: PlanNode }>)[0]!.Plan;
      throw new Rollback();
    })
    .catch((err: unknown) => {
      if (!(err instanceof Rollback)) throw err;
    });
  assert.ok(plan);
  return plan;
}

async function backlog(db: Queryable): Promise<void> {
  // Mixed priorities and backends, like a real queue; the rows the claim wants are spread over all of it.
  await db.query(
    `INSERT INTO tasks (problem_id, priority, backend_type, parameters)
     SELECT 'k8s_p-detection-' || g, g % 11, CASE WHEN g % 3 = 0 THEN 'sandbox' WHEN g % 3 = 1 THEN 'aiopslab' END,
            '{"max_steps": 10, "timeout_minutes": 30, "agent_config": {}}'::jsonb
     FROM generate_series(1, $1::int) g`,
    [BACKLOG],
  );
  await db.query('ANALYZE tasks');
}

const claimIndexScans = (plan: PlanNode) => walk(plan).filter((n) => n['Index Name'] === 'tasks_claim_idx');

for (const mode of dbModes()) {
  describe(`claim plan over a ${BACKLOG}-task backlog (${mode})`, () => {
    it('the claim reads tasks_claim_idx in order under a Limit, with no sort and no scan of the whole table', async (t) => {
      const { db, queue } = await openQueue(t, mode);
      await addWorker(queue, 'w1', { max_parallel: 4, supported_problems: ['k8s_*'] });
      await backlog(db);
      const claim = await captureClaim(db, 'w1');
      const plan = await explain(db, claim, false);
      const nodes = walk(plan);

      const scans = claimIndexScans(plan);
      assert.equal(scans.length, 1, 'one scan of tasks_claim_idx');
      assert.equal(scans[0]!['Node Type'], 'Index Scan');
      const limit = nodes.find((n) => n['Node Type'] === 'Limit' && walk(n).includes(scans[0]!));
      assert.ok(limit, 'the index scan sits under a Limit, so it stops after the free slots');
      assert.deepEqual(
        nodes.filter((n) => /Sort/.test(n['Node Type'])).map((n) => n['Node Type']),
        [],
        'no sort',
      );
      assert.deepEqual(
        nodes.filter((n) => n['Node Type'] === 'Seq Scan' && n['Relation Name'] === 'tasks'),
        [],
        'no sequential scan of tasks',
      );
    });

    it('a claim reads about as many index entries as it takes, not the backlog', async (t) => {
      const { db, queue } = await openQueue(t, mode);
      await addWorker(queue, 'w1', { max_parallel: 4 });
      await backlog(db);
      const claim = await captureClaim(db, 'w1');
      const plan = await explain(db, claim, true);
      const [scan] = claimIndexScans(plan);
      assert.ok(scan);
      const read = (scan['Actual Rows']! + (scan['Rows Removed by Filter'] ?? 0)) * scan['Actual Loops']!;
      assert.ok(read <= 10, `read ${read} index entries to claim one task`);
    });

    it('a claim by a worker without free slots, a draining worker or an unknown one reads no pending row', async (t) => {
      const { db, queue } = await openQueue(t, mode);
      await addWorker(queue, 'full', { max_parallel: 1 });
      await addWorker(queue, 'draining', { max_parallel: 4 });
      await backlog(db);
      assert.equal((await queue.claim('full', 1)).length, 1);
      await queue.heartbeat('draining', 'draining', null);

      for (const worker of ['full', 'draining', 'nobody']) {
        const claim = await captureClaim(db, worker);
        const plan = await explain(db, claim, true);
        const read = claimIndexScans(plan).reduce(
          (n, s) => n + (s['Actual Rows']! + (s['Rows Removed by Filter'] ?? 0)) * s['Actual Loops']!,
          0,
        );
        assert.equal(read, 0, `a claim by ${worker} read ${read} pending rows to hand out nothing`);
      }
      assert.equal((await queue.listTasks({ status: 'running', limit: 10, offset: 0 })).total, 1);
    });
  });
}
