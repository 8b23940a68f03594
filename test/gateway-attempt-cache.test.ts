/**
 * The gateway's attempt cache (gateway/attempt-cache.ts): a token's attempt is read from the
 * database once and then trusted for GATEWAY_ATTEMPT_CACHE_MS, but a report of the attempt ends
 * that trust at once on this replica and, through NOTIFY, on the others.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createApp } from '../src/api/app.ts';
import { loadConfig } from '../src/config/index.ts';
import { AttemptCache } from '../src/gateway/attempt-cache.ts';
import { createQueue } from '../src/queue/index.ts';
import { createTestApp, type TestApp } from './helpers/app.ts';
import { dbModes } from './helpers/db.ts';
import { assertOpenAiError, type Claimed, claimTask, post, report } from './helpers/gateway.ts';

const echo = (text: string) => ({ model: 'scripted:echo', messages: [{ role: 'user', content: text }] });

function callAt(baseUrl: string, c: Claimed, text: string) {
  return post(`${baseUrl}/chat/completions`, echo(text), { authorization: `Bearer ${c.token}` });
}

/** A second API replica over the same database: its own queue, notifier, gateway and cache. */
async function replica(t: TestApp, env: Record<string, string>) {
  const config = loadConfig({ LOG_LEVEL: 'silent', ...env });
  const queue = createQueue(t.db, { leaseSeconds: config.LEASE_SECONDS, notifyDebounceMs: 2 });
  await queue.start();
  const app = await createApp({ config, queue, logger: false });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    llmUrl: `${url}/llm/v1`,
    async close() {
      await app.close();
      await queue.stop();
    },
  };
}

describe('attempt cache (unit, with a clock of its own)', () => {
  test('trusts a running reading for its maximum age, for that attempt only', () => {
    let now = 0;
    const cache = new AttemptCache(1000, () => now);
    assert.equal(cache.isLive('t1', 1), false);
    cache.remember('t1', 1);
    assert.equal(cache.isLive('t1', 1), true);
    assert.equal(cache.isLive('t1', 2), false);
    now = 999;
    assert.equal(cache.isLive('t1', 1), true);
    now = 1000;
    assert.equal(cache.isLive('t1', 1), false);
  });

  test('an ending forgets the attempt, and a read that raced it cannot bring it back', () => {
    const cache = new AttemptCache(60_000, () => 0);
    cache.remember('t1', 3);
    cache.ended(['t1/2']);
    assert.equal(cache.isLive('t1', 3), true, 'another attempt ended, not this one');
    cache.ended(['t1/3']);
    assert.equal(cache.isLive('t1', 3), false);
    cache.remember('t1', 3);
    assert.equal(cache.isLive('t1', 3), false, 'tombstoned');
    cache.remember('t2', 1);
    cache.ended(['t2']);
    assert.equal(cache.isLive('t2', 1), false, 'a whole task ended');
    cache.remember('t2', 2);
    assert.equal(cache.isLive('t2', 2), false);
  });

  test('a maximum age of 0 caches nothing', () => {
    const cache = new AttemptCache(0, () => 0);
    cache.remember('t1', 1);
    assert.equal(cache.isLive('t1', 1), false);
  });
});

for (const mode of dbModes()) {
  describe(`attempt cache through the gateway (${mode})`, () => {
    test('a report here refuses the token at once; an unannounced change waits for the maximum age', async () => {
      const t = await createTestApp(mode, { listen: true, env: { GATEWAY_ATTEMPT_CACHE_MS: '60000' } });
      try {
        // Complete, fail for a retry, release: each ends the attempt, each must refuse at once.
        for (const [action, body] of [
          ['complete', { result: { ok: true } }],
          ['fail', { error: 'try again', retry: true }],
          ['release', {}],
        ] as const) {
          const c = await claimTask(t);
          for (const i of [1, 2]) assert.equal((await callAt(c.baseUrl, c, `${action} ${i}`)).status, 200);
          await report(t, c, action, { attempt: c.task.attempt, ...body });
          assertOpenAiError(
            await callAt(c.baseUrl, c, `${action} after`),
            401,
            'invalid_api_key',
            /attempt|running/,
          );
        }

        // A change no process announces (here: SQL behind the queue's back) is not seen while the
        // reading is trusted — which is what spares the read — but a replica that trusts nothing
        // (GATEWAY_ATTEMPT_CACHE_MS=0) sees it on the next call.
        const c = await claimTask(t);
        assert.equal((await callAt(c.baseUrl, c, 'cached')).status, 200);
        await t.db.query(`UPDATE tasks SET status = 'failed', completed_at = now() WHERE id = $1`, [
          c.task.id,
        ]);
        assert.equal((await callAt(c.baseUrl, c, 'still trusted')).status, 200);
        const strict = await replica(t, { GATEWAY_ATTEMPT_CACHE_MS: '0' });
        try {
          assertOpenAiError(await callAt(strict.llmUrl, c, 'read again'), 401, 'invalid_api_key');
        } finally {
          await strict.close();
        }
      } finally {
        await t.close();
      }
    });

    test("another replica's report refuses the token here too", { skip: mode !== 'postgres' }, async () => {
      const t = await createTestApp(mode, { listen: true, env: { GATEWAY_ATTEMPT_CACHE_MS: '60000' } });
      const b = await replica(t, { GATEWAY_ATTEMPT_CACHE_MS: '60000' });
      try {
        const c = await claimTask(t);
        // Replica B serves the agent's calls (and trusts the attempt for a minute)...
        for (const i of [1, 2]) assert.equal((await callAt(b.llmUrl, c, `via B ${i}`)).status, 200);
        // ...the worker reports to replica A...
        await report(t, c, 'complete', { attempt: c.task.attempt, result: { ok: true } });
        // ...and B refuses the token once A's NOTIFY arrives, long before the minute is up.
        let status = 200;
        for (let i = 0; i < 100 && status === 200; i++) {
          status = (await callAt(b.llmUrl, c, `via B after ${i}`)).status;
          if (status === 200) await sleep(50);
        }
        assert.equal(status, 401, 'replica B still accepted the token 5 s after the report');
      } finally {
        await b.close();
        await t.close();
      }
    });
  });
}
