/**
 * Which task a claim hands to which worker: backend affinity, supported problems (exact ids
 * and globs), priority then FIFO order, draining and unknown workers.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Queue } from '../src/queue/index.ts';
import { dbModes } from './helpers/db.ts';
import { addWorker, newTask, openQueue, rejectsWith, shuffle, submitOne } from './helpers/queue-fixtures.ts';

/** Everything the worker can claim, one claim at a time, in the order handed out. */
async function drain(queue: Queue, workerId: string): Promise<string[]> {
  const got: string[] = [];
  for (;;) {
    const [task] = await queue.claim(workerId, 1);
    if (!task) return got;
    got.push(task.problem_id);
    await queue.complete(workerId, task.id, task.attempt, null);
  }
}

/** Submits the problem ids, lets a worker with these supported_problems claim all it can. */
async function matched(queue: Queue, supported: string[], problems: string[]): Promise<string[]> {
  await queue.submit(problems.map((problem_id) => newTask({ problem_id })));
  await addWorker(queue, 'matcher', { supported_problems: supported });
  return (await drain(queue, 'matcher')).sort();
}

for (const mode of dbModes()) {
  describe(`claim matching and order (${mode})`, () => {
    it('a task with a backend_type goes only to workers of that backend; one without goes to any', async (t) => {
      const { queue } = await openQueue(t, mode);
      await addWorker(queue, 'sandbox-1', { backend_type: 'sandbox' });
      await addWorker(queue, 'aiops-1', { backend_type: 'aiopslab' });
      await queue.submit([
        newTask({ problem_id: 'for-aiops', backend_type: 'aiopslab' }),
        newTask({ problem_id: 'for-sandbox', backend_type: 'sandbox' }),
        newTask({ problem_id: 'for-anyone-1', backend_type: null }),
        newTask({ problem_id: 'for-anyone-2', backend_type: null }),
        newTask({ problem_id: 'for-nobody', backend_type: 'command' }),
      ]);
      const sandbox = await drain(queue, 'sandbox-1');
      assert.ok(sandbox.includes('for-sandbox'));
      assert.ok(!sandbox.includes('for-aiops'));
      const aiops = await drain(queue, 'aiops-1');
      assert.ok(aiops.includes('for-aiops'));
      assert.ok(!aiops.includes('for-sandbox'));
      assert.deepEqual([...sandbox, ...aiops].filter((p) => p.startsWith('for-anyone')).sort(), [
        'for-anyone-1',
        'for-anyone-2',
      ]);
      const left = await queue.listTasks({ status: 'pending', limit: 10, offset: 0 });
      assert.deepEqual(
        left.tasks.map((x) => x.problem_id),
        ['for-nobody'],
      );
    });

    it('an empty supported_problems list accepts every problem', async (t) => {
      const { queue } = await openQueue(t, mode);
      const problems = ['a', 'k8s_x-detection-1', '100%', 'under_score', 'back\\slash'];
      assert.deepEqual(await matched(queue, [], problems), [...problems].sort());
    });

    it('exact problem ids match only themselves', async (t) => {
      const { queue } = await openQueue(t, mode);
      assert.deepEqual(
        await matched(
          queue,
          ['misconfig_app_hotel_res-detection-1', 'noop'],
          [
            'misconfig_app_hotel_res-detection-1',
            'misconfig_app_hotel_res-detection-10',
            'misconfig_app_hotel_res-detection-2',
            'noop',
            'noop2',
            'xnoop',
          ],
        ),
        ['misconfig_app_hotel_res-detection-1', 'noop'],
      );
    });

    it("an entry without * or ? matches ids containing it as whole words (the predecessor's sock-shop)", async (t) => {
      const { queue } = await openQueue(t, mode);
      const problems = [
        'sock-shop-chaos',
        'sock-shop',
        'my-sock-shop',
        'a_sock-shop_b',
        'sock-shopper',
        'xsock-shop',
        'misconfig_app_hotel_res-detection-1',
        'hotel_reservation-1',
      ];
      assert.deepEqual(await matched(queue, ['sock-shop', 'hotel_res'], problems), [
        'a_sock-shop_b',
        'misconfig_app_hotel_res-detection-1',
        'my-sock-shop',
        'sock-shop',
        'sock-shop-chaos',
      ]);
      // The reason a pending task waits reads the same patterns as the claim.
      const waiting = await submitOne(queue, { problem_id: 'sock-shop-chaos-2' });
      const other = await submitOne(queue, { problem_id: 'sock-shopper-2' });
      assert.equal(await queue.waitingReason(waiting), null);
      assert.match((await queue.waitingReason(other))!, /No live worker offers problem "sock-shopper-2"/);
    });

    it('a * glob matches any run of characters, anchored at both ends', async (t) => {
      const { queue } = await openQueue(t, mode);
      assert.deepEqual(
        await matched(
          queue,
          ['k8s_*-detection-*'],
          [
            'k8s_target_port-misconfig-detection-1',
            'k8s_astronomy-detection-12',
            'k8s_-detection-',
            'k8s_astronomy-localization-1',
            'xk8s_astronomy-detection-1',
            'k8sXastronomy-detection-1',
            'k8s_astronomy-mitigation-1',
          ],
        ),
        ['k8s_-detection-', 'k8s_astronomy-detection-12', 'k8s_target_port-misconfig-detection-1'],
      );
    });

    it('a ? glob matches exactly one character', async (t) => {
      const { queue } = await openQueue(t, mode);
      assert.deepEqual(await matched(queue, ['noop-?'], ['noop-1', 'noop-x', 'noop-', 'noop-12', 'noop_1']), [
        'noop-1',
        'noop-x',
      ]);
    });

    it('LIKE wildcards % and _ (and backslash) in problem ids and globs are literal', async (t) => {
      const { queue } = await openQueue(t, mode);
      assert.deepEqual(
        await matched(
          queue,
          ['100%_done', 'a_b*', 'dir\\x'],
          [
            '100%_done',
            '100abcXdone',
            '100%Xdone',
            '100_%done',
            'a_b',
            'a_bcd',
            'aXb',
            'aXbcd',
            'dir\\x',
            'dirx',
          ],
        ),
        ['100%_done', 'a_b', 'a_bcd', 'dir\\x'],
      );
    });

    it('higher priority first, then submit order', async (t) => {
      const { queue } = await openQueue(t, mode);
      await addWorker(queue, 'w1');
      await submitOne(queue, { problem_id: 'p5-a', priority: 5 });
      await submitOne(queue, { problem_id: 'p0-a', priority: 0 });
      await submitOne(queue, { problem_id: 'p10-a', priority: 10 });
      await submitOne(queue, { problem_id: 'p5-b', priority: 5 });
      await submitOne(queue, { problem_id: 'p10-b', priority: 10 });
      await submitOne(queue, { problem_id: 'p0-b', priority: 0 });
      assert.deepEqual(await drain(queue, 'w1'), ['p10-a', 'p10-b', 'p5-a', 'p5-b', 'p0-a', 'p0-b']);
    });

    it('inside one batch, tasks of one priority are claimed in the order they were given', async (t) => {
      const { queue } = await openQueue(t, mode);
      await addWorker(queue, 'w1', { max_parallel: 500 });
      const items = Array.from({ length: 300 }, (_, i) => ({
        id: `t-${String(i).padStart(3, '0')}`,
        priority: i % 3,
      }));
      // Shuffled ids, so order by id would not pass by accident.
      const given = shuffle(items);
      await queue.submit(given.map((x) => newTask({ problem_id: x.id, priority: x.priority })));
      const expected = [2, 1, 0].flatMap((p) => given.filter((x) => x.priority === p).map((x) => x.id));
      assert.deepEqual(await drain(queue, 'w1'), expected);
    });

    it('one claim of many hands the tasks out in priority-then-FIFO order', async (t) => {
      const { queue } = await openQueue(t, mode);
      await addWorker(queue, 'w1', { max_parallel: 10 });
      await queue.submit([
        newTask({ problem_id: 'a', priority: 1 }),
        newTask({ problem_id: 'b', priority: 9 }),
        newTask({ problem_id: 'c', priority: 1 }),
        newTask({ problem_id: 'd', priority: 9 }),
        newTask({ problem_id: 'e', priority: 4 }),
      ]);
      const claimed = await queue.claim('w1', 4);
      assert.deepEqual(
        claimed.map((x) => x.problem_id),
        ['b', 'd', 'e', 'a'],
      );
    });

    it('a claim never takes more than the free slots of max_parallel_tasks', async (t) => {
      const { queue } = await openQueue(t, mode);
      await addWorker(queue, 'w1', { max_parallel: 3 });
      await queue.submit(Array.from({ length: 10 }, () => newTask()));
      assert.equal((await queue.claim('w1', 2)).length, 2);
      const more = await queue.claim('w1', 5);
      assert.equal(more.length, 1);
      assert.deepEqual(await queue.claim('w1', 5), []);
      await queue.complete('w1', more[0]!.id, more[0]!.attempt, null);
      assert.equal((await queue.claim('w1', 5)).length, 1);
      assert.equal((await queue.mustGetWorker('w1')).running_tasks, 3);
    });

    it('a draining worker claims nothing, and claims again once it is idle', async (t) => {
      const { queue } = await openQueue(t, mode);
      await addWorker(queue, 'w1', { max_parallel: 2 });
      await queue.submit([newTask(), newTask()]);
      await queue.heartbeat('w1', 'draining', null);
      assert.deepEqual(await queue.claim('w1', 2), []);
      assert.equal((await queue.mustGetWorker('w1')).status, 'draining');
      await queue.heartbeat('w1', 'idle', null);
      assert.equal((await queue.claim('w1', 2)).length, 2);
    });

    it('a claim by an unregistered worker is refused with WORKER_NOT_FOUND', async (t) => {
      const { queue } = await openQueue(t, mode);
      await submitOne(queue);
      await rejectsWith(queue.claim('ghost', 1), 'WORKER_NOT_FOUND');
      assert.equal((await queue.listTasks({ status: 'pending', limit: 10, offset: 0 })).total, 1);
    });

    it('a claim emits one claimed event with the number of tasks', async (t) => {
      const { queue } = await openQueue(t, mode);
      await addWorker(queue, 'w1', { max_parallel: 5 });
      await queue.submit([newTask(), newTask(), newTask()]);
      const claimed: number[] = [];
      queue.events.on('claimed', (n) => claimed.push(n));
      await queue.claim('w1', 5);
      await queue.claim('w1', 5);
      assert.deepEqual(claimed, [3]);
    });
  });
}
