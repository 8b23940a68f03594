/** Internal worker pool control and the LLM conversation reads. */
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import type { PoolStatus, WorkerPoolControl } from '../src/worker/pool.ts';
import { type Body, createTestApp, json, submitTask, type TestApp } from './helpers/app.ts';
import { dbModes } from './helpers/db.ts';

/** Stands in for the in-process pool, whose workers would need real backends. */
class FakePool implements WorkerPoolControl {
  calls: string[] = [];
  private state: PoolStatus = {
    running: true,
    num_workers: 2,
    backend_type: 'command',
    auto_start: true,
    workers: [],
  };
  status(): PoolStatus {
    return {
      ...this.state,
      workers: Array.from({ length: this.state.num_workers }, (_, i) => ({
        worker_id: `worker-00${i + 1}-internal`,
        backend_type: 'command',
        state: this.state.running ? 'running' : 'stopped',
        running_tasks: [],
      })),
    };
  }
  async scale(n: number) {
    this.calls.push(`scale:${n}`);
    this.state.num_workers = n;
    return this.status();
  }
  async start() {
    this.calls.push('start');
    this.state.running = true;
    return this.status();
  }
  async stop() {
    this.calls.push('stop');
    this.state.running = false;
    return this.status();
  }
}

describe('internal workers', () => {
  let t: TestApp;
  let pool: FakePool;
  before(async () => {
    pool = new FakePool();
    t = await createTestApp('pglite', { pool });
  });
  after(() => t.close());
  const post = (url: string) => t.inject({ method: 'POST', url: `/api/v1/workers/internal/${url}` });

  it('reports the pool status', async () => {
    const s = json<Body>(await t.inject({ method: 'GET', url: '/api/v1/workers/internal/status' }));
    assert.equal(s.enabled, true);
    assert.equal(s.num_workers, 2);
    assert.equal(s.worker_list[1].worker_id, 'worker-002-internal');
    // The predecessor's shape: a map by id, each with status and has_executor.
    assert.deepEqual(Object.keys(s.workers), ['worker-001-internal', 'worker-002-internal']);
    assert.equal(s.workers['worker-002-internal'].status, 'idle');
    assert.equal(s.workers['worker-002-internal'].has_executor, true);
  });

  it('scales within 0–50 and refuses anything else with 422 before touching the pool', async () => {
    const res = await post('scale?num_workers=5');
    assert.equal(res.statusCode, 200);
    const scaled = json<Body>(res);
    assert.equal(scaled.num_workers, 5);
    assert.deepEqual([scaled.status, scaled.previous_workers, scaled.current_workers], ['scaled', 2, 5]);
    assert.equal((await post('scale?num_workers=0')).statusCode, 200);
    for (const bad of ['51', '-1', 'many', ''])
      assert.equal((await post(`scale?num_workers=${bad}`)).statusCode, 422);
    assert.equal((await post('scale')).statusCode, 422);
    assert.deepEqual(pool.calls, ['scale:5', 'scale:0']);
  });

  it('stops and starts the pool', async () => {
    const stopped = json<Body>(await post('stop'));
    assert.deepEqual([stopped.running, stopped.status, stopped.stopped_count], [false, 'stopped', 0]);
    const started = json<Body>(await post('start'));
    assert.deepEqual([started.running, started.status], [true, 'started']);
    assert.equal(started.workers, 0, 'the predecessor’s start answered a count');
    assert.deepEqual(pool.calls.slice(-2), ['stop', 'start']);
  });

  it('says 409 INTERNAL_WORKERS_DISABLED when the server runs no pool', async () => {
    const bare = await createTestApp('pglite');
    try {
      for (const url of ['scale?num_workers=1', 'start', 'stop']) {
        const res = await bare.inject({ method: 'POST', url: `/api/v1/workers/internal/${url}` });
        assert.equal(res.statusCode, 409);
        assert.equal(json(res).code, 'INTERNAL_WORKERS_DISABLED');
      }
    } finally {
      await bare.close();
    }
  });
});

for (const mode of dbModes()) {
  describe(`LLM conversations (${mode})`, () => {
    let t: TestApp;
    let taskId: string;
    let convA: string;
    beforeEach(async () => {
      t = await createTestApp(mode);
      taskId = (await submitTask(t)).id;
      // The gateway that writes these rows comes later; the test writes them directly.
      const ins = await t.db.query<{ id: string }>(
        `INSERT INTO llm_conversations (task_id, model_name, prompt_tokens, completion_tokens, total_tokens, cost, success, message_count)
         VALUES ($1, 'gpt-4o', 100, 20, 120, 0.5, true, 3), ($1, 'gpt-4o', 50, 10, 60, 0.25, false, 0),
                (NULL, 'llama', 10, 5, 15, NULL, NULL, 0)
         RETURNING id`,
        [taskId],
      );
      convA = ins.rows[0]!.id;
      await t.db.query(
        `INSERT INTO llm_messages (conversation_id, seq, role, content)
         VALUES ($1, 2, 'assistant', '"kubectl get pods"'), ($1, 0, 'system', '"you are"'), ($1, 1, 'user', '"go"')`,
        [convA],
      );
    });
    afterEach(() => t.close());
    const get = (url: string) => t.inject({ method: 'GET', url: `/api/v1/llm-conversations${url}` });

    it('lists with task and model filters and pagination', async () => {
      assert.equal(json<Body>(await get('')).total, 3);
      assert.equal(json<Body>(await get(`?task_id=${taskId}`)).total, 2);
      const llama = json<Body>(await get('?model_name=llama'));
      assert.deepEqual(
        llama.conversations.map((c: Body) => c.model_name),
        ['llama'],
      );
      const page = json<Body>(await get('?page=2&page_size=2'));
      assert.equal(page.conversations.length, 1);
      assert.equal((await get('?task_id=nope')).statusCode, 422);
    });

    it('returns one conversation with its messages in seq order, and messages by role', async () => {
      const c = json<Body>(await get(`/${convA}`));
      assert.equal(c.total_tokens, 120);
      assert.deepEqual(
        c.messages.map((m: Body) => m.role),
        ['system', 'user', 'assistant'],
      );
      const msgs = json<Body>(await get(`/${convA}/messages?role=assistant`));
      assert.deepEqual(
        msgs.messages.map((m: Body) => m.content),
        ['kubectl get pods'],
      );
      assert.equal((await get('/00000000-0000-4000-8000-000000000000')).statusCode, 404);
      assert.equal(
        json(await get('/00000000-0000-4000-8000-000000000000/messages')).code,
        'CONVERSATION_NOT_FOUND',
      );
    });

    it('lists the conversations of a task and summarises totals without mistaking stats for an id', async () => {
      const byTask = json<Body[]>(await get(`/task/${taskId}/conversations`));
      assert.equal(byTask.length, 2);
      const s = json<Body>(await get('/stats/summary'));
      assert.equal(s.total_conversations, 3);
      assert.equal(s.total_tokens, 195);
      assert.equal(s.total_cost, 0.75);
      assert.equal(s.success_ratio, 0.5);
      assert.deepEqual(
        s.by_model.map((m: Body) => [m.model_name, m.conversations]),
        [
          ['gpt-4o', 2],
          ['llama', 1],
        ],
      );
    });
  });
}
