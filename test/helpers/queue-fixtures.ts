/**
 * Shared fixtures for the queue tests: a fresh migrated database and a queue per test
 * (closed by the test's own `after` hook, so a failing test cannot leak a pool), plus small
 * builders for tasks and workers and SQL pokes that put leases and deadlines in the past.
 */
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import type { Db, Queryable } from '../../src/db/types.ts';
import {
  createQueue,
  type NewTask,
  type Queue,
  QueueError,
  type QueueErrorCode,
  type Task,
  type TaskParameters,
} from '../../src/queue/index.ts';
import { createTestDb, type DbMode } from './db.ts';

export interface QueueFixture {
  db: Db;
  queue: Queue;
}

export interface FixtureOptions {
  leaseSeconds?: number;
  poolSize?: number;
}

/** Opens a fresh database and a queue on it; both are closed when the test ends, pass or fail. */
export async function openQueue(t: TestContext, mode: DbMode, o: FixtureOptions = {}): Promise<QueueFixture> {
  const testDb = await createTestDb(mode, o.poolSize ?? 10);
  const queue = createQueue(testDb.db, { leaseSeconds: o.leaseSeconds ?? 60, notifyDebounceMs: 20 });
  t.after(async () => {
    await queue.stop();
    await testDb.drop();
  });
  return { db: testDb.db, queue };
}

export type TaskInput = Partial<Omit<NewTask, 'parameters'>> & { parameters?: Partial<TaskParameters> };

export function newTask(o: TaskInput = {}): NewTask {
  return {
    problem_id: o.problem_id ?? 'sandbox-detection-1',
    priority: o.priority ?? 5,
    backend_type: o.backend_type ?? null,
    parameters: { max_steps: 10, timeout_minutes: 30, agent_config: {}, ...o.parameters } as TaskParameters,
    max_attempts: o.max_attempts ?? 1,
    idempotency_key: o.idempotency_key ?? null,
  };
}

export async function submitOne(queue: Queue, o: TaskInput = {}): Promise<Task> {
  const [created] = await queue.submit([newTask(o)]);
  assert.ok(created?.created);
  return created.task;
}

export interface WorkerInput {
  backend_type?: string;
  max_parallel?: number;
  supported_problems?: string[];
}

export async function addWorker(queue: Queue, id: string, o: WorkerInput = {}) {
  return queue.registerWorker({
    id,
    backend_type: o.backend_type ?? 'sandbox',
    capabilities: { max_parallel_tasks: o.max_parallel ?? 1, supported_problems: o.supported_problems ?? [] },
    metadata: { host: 'test' },
  });
}

/** Claims exactly one task for the worker, failing the test when none (or several) came back. */
export async function claimOne(queue: Queue, workerId: string): Promise<Task> {
  const got = await queue.claim(workerId, 1);
  assert.equal(got.length, 1, `worker ${workerId} expected to claim one task, got ${got.length}`);
  return got[0]!;
}

/** Puts the task's lease in the past, as if its holder had stopped heartbeating long ago. */
export async function expireLease(db: Queryable, taskId: string): Promise<void> {
  await db.query(`UPDATE tasks SET lease_expires_at = now() - interval '1 minute' WHERE id = $1`, [taskId]);
}

export async function passDeadline(db: Queryable, taskId: string): Promise<void> {
  await db.query(`UPDATE tasks SET deadline_at = now() - interval '1 minute' WHERE id = $1`, [taskId]);
}

/** The whole stored row as JSON, to check a refused call changed nothing at all. */
export async function rawRow(db: Queryable, taskId: string): Promise<Record<string, unknown>> {
  const { rows } = await db.query<{ row: Record<string, unknown> | string }>(
    'SELECT to_jsonb(t) AS row FROM tasks t WHERE id = $1',
    [taskId],
  );
  const row = rows[0]?.row;
  assert.ok(row, `task ${taskId} not found`);
  return typeof row === 'string' ? JSON.parse(row) : row;
}

export async function statusOf(db: Queryable, taskId: string): Promise<string> {
  const { rows } = await db.query<{ status: string }>('SELECT status FROM tasks WHERE id = $1', [taskId]);
  return rows[0]!.status;
}

/** Asserts the promise rejects with a QueueError of this code. */
export async function rejectsWith(p: Promise<unknown>, code: QueueErrorCode): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof QueueError, `expected a QueueError, got ${String(err)}`);
    assert.equal(err.code, code);
    return true;
  });
}

/** Records every fencing_rejected event the queue emits. */
export function recordFencing(queue: Queue): string[] {
  const codes: string[] = [];
  queue.events.on('fencing_rejected', (code) => codes.push(code));
  return codes;
}

export const randomUuid = () => crypto.randomUUID();

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A random permutation (Fisher–Yates), to interleave concurrent calls differently each round. */
export function shuffle<T>(items: T[]): T[] {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}
