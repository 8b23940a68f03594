/**
 * 4. A half-open database connection: the API reaches PostgreSQL through a proxy that, under
 * load, stops forwarding for a while (sockets stay open, bytes are dropped), then forwards
 * again. The API must notice (statement timeout, pool errors) and answer — 503 or a late
 * success — rather than hang, and come back by itself once the path heals: every task ends,
 * none twice at once, none lost.
 */
import { runLoad, window } from '../lib/harness.ts';
import { histogram } from '../lib/load.ts';
import { HalfOpenProxy } from '../lib/proxy.ts';
import type { Scenario } from '../lib/scenario.ts';
import { percentile, seconds, sleep, until } from '../lib/util.ts';

const HOLE_SECONDS = 8;
const STATEMENT_TIMEOUT_MS = 2000;
/** A read still unanswered after this long counts as hung. */
const HANG_MS = 20_000;

export const halfOpen: Scenario = {
  name: 'half-open',
  checks:
    'DB path goes half-open (proxy drops bytes) under load: API answers 503 or recovers, never hangs; heals',
  timeoutMs: 150_000,
  async run(ctx) {
    const proxy = new HalfOpenProxy(ctx.cluster.port);
    await proxy.listen();
    let holedAt = 0;
    let resumedAt = 0;
    let recoveredAt = 0;
    try {
      const out = await runLoad(ctx, {
        name: 'half-open',
        database: 'chaos_half_open',
        tasks: 120,
        perSecond: 10,
        warmupSeconds: 4,
        pollTimeoutMs: HANG_MS,
        serverEnv: {
          DATABASE_STATEMENT_TIMEOUT_MS: String(STATEMENT_TIMEOUT_MS),
          DATABASE_LOCK_TIMEOUT_MS: '1000',
        },
        serverDbUrl: (direct) => {
          const u = new URL(direct);
          u.port = String(proxy.port);
          return u.toString();
        },
        async fault(h) {
          holedAt = Date.now();
          proxy.blackhole();
          ctx.log('proxy: blackhole (sockets open, bytes dropped)');
          await sleep(HOLE_SECONDS * 1000, ctx.signal);
          proxy.resume();
          resumedAt = Date.now();
          ctx.log(`proxy: forwarding again (${proxy.dropped} bytes dropped)`);
          try {
            await until(
              () =>
                h.poller.samples.some((x) => x.at >= resumedAt && x.path === '/health' && x.outcome === 200),
              'the API to answer /health 200 again',
              30_000,
              ctx.signal,
              100,
            );
            recoveredAt = h.poller.samples.find(
              (x) => x.at >= resumedAt && x.path === '/health' && x.outcome === 200,
            )!.at;
          } catch {
            recoveredAt = 0;
          }
          h.checks.check(recoveredAt > 0, 'the API recovered after the path healed (within 30 s)');
          // Wait out reads still in flight from the hole, so their outcome is known.
          await sleep(Math.min(HANG_MS, 5000), ctx.signal);
          const during = window(h.poller.samples, holedAt, resumedAt);
          const hung = during.filter((x) => x.outcome === 'TIMEOUT');
          h.checks.check(
            hung.length === 0,
            `no read hung (unanswered after ${HANG_MS / 1000} s) during the hole`,
            `${hung.length} of ${during.length}`,
          );
          const bad = during.filter(
            (x) => typeof x.outcome === 'number' && x.outcome >= 500 && x.outcome !== 503,
          );
          h.checks.check(
            bad.length === 0,
            'during the hole: 503 or success, never another 5xx',
            histogram(bad.map((x) => `${x.path}:${x.outcome}`)),
          );
          const ms = during.map((x) => x.ms).sort((a, b) => a - b);
          return [
            ['hole s', seconds(resumedAt - holedAt)],
            ['reads during hole', histogram(during.map((x) => x.outcome))],
            ['p50/max answer s', `${seconds(percentile(ms, 50))}/${seconds(ms.at(-1) ?? 0)}`],
            ['recovered s after heal', recoveredAt ? seconds(recoveredAt - resumedAt) : 'never'],
          ];
        },
      });
      const after = out.samples.filter((x) => recoveredAt > 0 && x.at >= recoveredAt + 2000);
      const badAfter = after.filter((x) => x.outcome !== 200);
      out.checks.check(
        badAfter.length === 0,
        'every read answered 200 once recovered',
        histogram(badAfter.map((x) => `${x.path}:${x.outcome}`)),
      );
      return { checks: out.checks, figures: out.figures };
    } finally {
      await proxy.close();
    }
  },
};
