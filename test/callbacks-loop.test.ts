/**
 * No callback loop: a callback_url pointing at this API's own submit route would make every
 * ending task submit a copy of itself carrying the same callback. Deliveries carry
 * X-Task-Executor-Delivery, and the API refuses to create tasks from such a request.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CallbackDispatcher } from '../src/callbacks/dispatcher.ts';
import { loadConfig } from '../src/config/index.ts';
import { createTestApp, json } from './helpers/app.ts';
import { dbModes } from './helpers/db.ts';
import { addWorker, claimOne, submitOne } from './helpers/queue-fixtures.ts';

const DELIVERY = { 'x-task-executor-delivery': '6f1c9a52-3d5e-4b7a-9c1d-2e8f0a4b6c3d' };

for (const mode of dbModes()) {
  describe(`callback loop (${mode})`, () => {
    it('POST /tasks and /tasks/batch answer 409 CALLBACK_LOOP to a delivery, whatever its body', async (t) => {
      const app = await createTestApp(mode);
      t.after(() => app.close());
      const requests = [
        { url: '/api/v1/tasks', payload: { problem_id: 'sandbox-detection-1' } },
        { url: '/api/v1/tasks/batch', payload: { tasks: [{ problem_id: 'sandbox-detection-1' }] } },
        // A delivery's body is a task, not a submission: still a 409, not a 422.
        { url: '/api/v1/tasks', payload: { id: 'x', status: 'completed', result: {} } },
      ];
      for (const r of requests) {
        const res = await app.inject({ method: 'POST', headers: DELIVERY, ...r });
        assert.equal(res.statusCode, 409, r.url);
        const body = json<{ code: string; error: string }>(res);
        assert.equal(body.code, 'CALLBACK_LOOP');
        assert.match(body.error, /X-Task-Executor-Delivery/);
      }
      assert.equal((await app.queue.listTasks({ limit: 10, offset: 0 })).total, 0);
      const plain = await app.inject({ method: 'POST', ...requests[0]! });
      assert.equal(plain.statusCode, 201, 'without the header the same submit works');
    });

    it('a callback_url aimed at the API itself ends after one refused delivery, creating no task', async (t) => {
      const app = await createTestApp(mode, { listen: true });
      t.after(() => app.close());
      await addWorker(app.queue, 'w1');
      await submitOne(app.queue, { parameters: { callback_url: `${app.url}/api/v1/tasks` } });
      const task = await claimOne(app.queue, 'w1');
      await app.queue.complete('w1', task.id, task.attempt, null);

      const settings = loadConfig({
        CALLBACK_ALLOWED_HOSTS: '127.0.0.1',
        CALLBACK_MAX_ATTEMPTS: '1',
        CALLBACK_SIGNING_SECRET: 'test-callback-signing-secret-0123456789',
      });
      await new CallbackDispatcher(app.queue, settings).drain();

      const after = await app.queue.mustGetTask(task.id);
      assert.equal(after.callback_state, 'failed');
      assert.equal((await app.queue.listTasks({ limit: 10, offset: 0 })).total, 1, 'no copy was submitted');
      const logs = await app.queue.readLogs(task.id, { limit: 10, order: 'oldest' });
      assert.match(logs.find((l) => l.source === 'callback')!.message, /\(HTTP 409\); giving up/);
    });
  });
}
