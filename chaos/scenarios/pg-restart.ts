/**
 * 3. PostgreSQL crashes and restarts under load (`pg_ctl stop -m immediate`, a few seconds
 * down, start again) on the suite's private cluster. The API must answer 503 while the
 * database is gone (never 500, never hang), recover by itself without a restart, and lose
 * or strand nothing: every task ends, none twice at once.
 */
import { runLoad, window } from '../lib/harness.ts';
import { histogram } from '../lib/load.ts';
import type { Scenario } from '../lib/scenario.ts';
import { seconds, sleep, until } from '../lib/util.ts';

const DOWN_SECONDS = 5;

export const pgRestart: Scenario = {
  name: 'pg-restart',
  checks:
    'PostgreSQL crash + restart under load: 503 while down, recovers without restart, nothing lost/stuck',
  timeoutMs: 120_000,
  async run(ctx) {
    let stoppedAt = 0;
    let startedAt = 0;
    let recoveredAt = 0;
    let serverPid = 0;
    const out = await runLoad(ctx, {
      name: 'pg-restart',
      database: 'chaos_pg_restart',
      tasks: 150,
      perSecond: 12,
      warmupSeconds: 4,
      pollTimeoutMs: 15_000,
      async fault(h) {
        serverPid = h.server.pid;
        stoppedAt = Date.now();
        await ctx.cluster.stop('immediate');
        const stopReturnedAt = Date.now();
        ctx.log('PostgreSQL stopped (immediate)');
        await sleep(DOWN_SECONDS * 1000, ctx.signal);
        const startInvokedAt = Date.now();
        await ctx.cluster.start();
        startedAt = Date.now();
        ctx.log(`PostgreSQL started again after ${seconds(startedAt - stoppedAt)} s`);
        try {
          await until(
            () =>
              h.poller.samples.some((x) => x.at >= startedAt && x.path === '/health' && x.outcome === 200),
            'the API to answer /health 200 again',
            30_000,
            ctx.signal,
            50,
          );
        } catch (err) {
          const since = window(h.poller.samples, startedAt, Date.now());
          ctx.log(
            `not recovered; reads since PostgreSQL came back: ${histogram(since.map((x) => `${x.path}:${x.outcome}`))}`,
          );
          const child = h.server.proc.child;
          ctx.log(
            `server exit code ${child.exitCode} signal ${child.signalCode}; output (tail):\n${h.server.proc.output().slice(-4000)}`,
          );
          throw err;
        }
        recoveredAt = h.poller.samples.find(
          (x) => x.at >= startedAt && x.path === '/health' && x.outcome === 200,
        )!.at;
        // Reads sent while it was certainly down (pg_ctl start may accept connections before it returns).
        const down = window(h.poller.samples, stopReturnedAt, startInvokedAt - 500);
        const n503 = down.filter((x) => x.outcome === 503).length;
        h.checks.check(
          n503 > 0,
          'the API answered 503 while PostgreSQL was down',
          histogram(down.map((x) => x.outcome)),
        );
        const other = down.filter((x) => x.outcome !== 503);
        h.checks.check(
          other.length === 0,
          'only 503 while PostgreSQL was down',
          histogram(other.map((x) => `${x.path}:${x.outcome}`)),
        );
        h.checks.check(
          h.server.proc.child.exitCode === null && h.server.pid === serverPid,
          'the same API process recovered (no restart)',
        );
        h.checks.check(
          recoveredAt - startedAt <= 15_000,
          'recovered within 15 s of PostgreSQL being back',
          `${seconds(recoveredAt - startedAt)} s`,
        );
        return [
          ['PG down s', seconds(startedAt - stoppedAt)],
          ['503s while down', n503],
          ['API recovered s after PG up', seconds(recoveredAt - startedAt)],
        ];
      },
    });
    const bad = out.samples.filter(
      // A 503 is right for a read answered after the crash (sent just before it, too) and before recovery.
      (x) =>
        (typeof x.outcome === 'number' &&
          x.outcome >= 500 &&
          !(x.outcome === 503 && x.at + x.ms >= stoppedAt && x.at < recoveredAt)) ||
        typeof x.outcome === 'string',
    );
    out.checks.check(
      bad.length === 0,
      'no 5xx outside the outage, no hung or failed read',
      bad
        .slice(0, 10)
        .map(
          (x) =>
            `${x.path}:${x.outcome} sent ${seconds(x.at - stoppedAt)} s after the stop (${seconds(x.at - recoveredAt)} s after recovery), took ${seconds(x.ms)} s`,
        )
        .join('; '),
    );
    const slowest = Math.max(0, ...out.samples.map((x) => x.ms));
    out.figures.push(['slowest read s', seconds(slowest)]);
    return { checks: out.checks, figures: out.figures };
  },
};
