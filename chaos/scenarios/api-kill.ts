/**
 * 2. kill -9 of the API server under load — tasks being submitted, three remote workers
 * running many short tasks — then a restart on the same port. Every acknowledged task must
 * end (completed), none twice at once, none lost or duplicated; the workers ride it out.
 */
import { runLoad } from '../lib/harness.ts';
import { histogram } from '../lib/load.ts';
import { kill9 } from '../lib/procs.ts';
import type { Scenario } from '../lib/scenario.ts';
import { seconds, sleep, until } from '../lib/util.ts';

const DOWN_SECONDS = 3;

export const apiKill: Scenario = {
  name: 'api-kill',
  checks: 'kill -9 of the API under load, then restart: every task ends, none twice at once, none lost',
  timeoutMs: 120_000,
  async run(ctx) {
    const out = await runLoad(ctx, {
      name: 'api-kill',
      database: 'chaos_api_kill',
      tasks: 150,
      perSecond: 12,
      warmupSeconds: 4,
      pollTimeoutMs: 15_000,
      async fault(h) {
        const killedAt = Date.now();
        await kill9(h.server.proc);
        ctx.log('API killed');
        await sleep(DOWN_SECONDS * 1000, ctx.signal);
        const restartAt = Date.now();
        const s = await h.restartServer();
        const listening = Date.now();
        ctx.log(`API restarted (pid ${s.pid}) in ${seconds(listening - restartAt)} s`);
        // Recovery: the first submit acknowledged after the restart.
        const before = h.submitter.acknowledged.size;
        await until(
          () => h.submitter.acknowledged.size > before || h.submitter.done,
          'a submit to succeed',
          30_000,
          ctx.signal,
          50,
        );
        const recovered = Date.now();
        const down = h.poller.samples.filter((x) => x.at >= killedAt && x.at < listening);
        return [
          ['API down s', seconds(listening - killedAt)],
          ['first submit after restart s', seconds(recovered - listening)],
          ['reads while down', histogram(down.map((x) => x.outcome)) || 'none'],
        ];
      },
    });
    const fiveHundreds = out.samples.filter((x) => typeof x.outcome === 'number' && x.outcome >= 500);
    out.checks.check(
      fiveHundreds.length === 0,
      'no 5xx from the API (before the kill or after the restart)',
      histogram(fiveHundreds.map((x) => `${x.path}:${x.outcome}`)),
    );
    const hangs = out.samples.filter((x) => x.outcome === 'TIMEOUT');
    out.checks.check(hangs.length === 0, 'no read hung', `${hangs.length} reads timed out`);
    return { checks: out.checks, figures: out.figures };
  },
};
