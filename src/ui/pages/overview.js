/**
 * Overview: where the queue stands, live. Counts come from /queue/stats, re-read (throttled)
 * whenever /api/v1/events says a task changed, so the page follows the fleet without polling
 * hard; the chart is those readings since the page opened.
 */
import { html } from 'htm/preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { Chart, COLORS, ErrorBox, LiveDot, Loading, Stat, Status } from '../components.js';
import { ago, num, pct, seconds, shortId } from '../format.js';
import { useApi, useFollow, useNow, useThrottled } from '../hooks.js';

const CHARTED = ['pending', 'running', 'completed', 'failed'];
const THROUGHPUT = [
  ['claims', COLORS[0]],
  ['completed', COLORS[2]],
  ['failed', COLORS[3]],
  ['cancelled', COLORS[5]],
];

function activityData(a) {
  return [
    a.minutes.map((m) => Date.parse(m.minute) / 1000),
    ...THROUGHPUT.map(([k]) => a.minutes.map((m) => m[k])),
  ];
}
const MAX_POINTS = 720;

export function Overview() {
  const stats = useApi('/queue/stats');
  const activity = useApi('/api/v1/tasks/activity?window=1h');
  const workers = useApi('/api/v1/workers');
  const failed = useApi('/api/v1/tasks?status=failed&page_size=8');
  const timedOut = useApi('/api/v1/tasks?status=timeout&page_size=4');
  const [recent, setRecent] = useState(/** @type {any[]} */ ([]));
  const finishes = useRef(/** @type {number[]} */ ([]));
  const refresh = useThrottled(() => {
    stats.reload();
    workers.reload();
  }, 1000);
  const refreshActivity = useThrottled(activity.reload, 5000);
  const refreshFailures = useThrottled(() => {
    failed.reload();
    timedOut.reload();
  }, 2000);
  const live = useFollow('/api/v1/events', (type, ev) => {
    if (type !== 'task.status') return;
    setRecent((r) => [ev, ...r].slice(0, 12));
    if (ev.terminal) {
      finishes.current.push(Date.now());
      refreshActivity();
    }
    if (ev.status === 'failed' || ev.status === 'timeout') refreshFailures();
    refresh();
  });
  // Slow changes (ages, heartbeats) without any event.
  useEffect(() => {
    const t = setInterval(refresh, 5000);
    return () => clearInterval(t);
  }, [refresh]);
  const now = useNow(5000);
  const series = useSeries(stats.data);
  finishes.current = finishes.current.filter((t) => t > now - 60_000);

  if (!stats.data) return stats.error ? html`<${ErrorBox} error=${stats.error} />` : html`<${Loading} />`;
  const s = stats.data;
  const w = s.window ?? {};
  const byWorker = countWorkers(workers.data?.workers ?? []);
  const notClaiming = (workers.data?.workers ?? []).filter((x) => x.metadata?.status_reason);
  const failures = [...(failed.data?.tasks ?? []), ...(timedOut.data?.tasks ?? [])].sort((a, b) =>
    (b.completed_at ?? '').localeCompare(a.completed_at ?? ''),
  );
  return html`
    <header class="page-head"><h1>Overview</h1><${LiveDot} state=${live} /></header>
    <section aria-labelledby="q-h">
      <h2 id="q-h" class="sr-only">Queue</h2>
      <div class="stats" data-testid="counts">
        ${['pending', 'running', 'completed', 'failed', 'timeout', 'cancelled'].map(
          (k) =>
            html`<a class="stat-link" href=${`#/tasks?status=${k}`}><${Stat} label=${k} value=${num(s[k])} /></a>`,
        )}
      </div>
      <div class="stats">
        <${Stat} label="finished, last minute" value=${num(finishes.current.length)} />
        <${Stat} label=${`finished in ${w.window ?? 'window'}`} value=${num((w.completed ?? 0) + (w.failed ?? 0) + (w.cancelled ?? 0))} />
        <${Stat} label="oldest pending" value=${seconds(s.oldest_pending_age_seconds)} />
        <${Stat} label="success rate" value=${pct(s.success_rate)} />
        <${Stat} label="average wait" value=${seconds(s.average_wait_seconds)} />
        <${Stat} label="average run" value=${seconds(s.average_execution_seconds)} />
      </div>
    </section>
    <div class="two-col">
      <section aria-labelledby="thr-h">
        <h2 id="thr-h">Throughput, last hour (per minute)</h2>
        ${
          activity.data
            ? html`<${Chart} chartKey="activity" label="Claims and finished tasks per minute over the last hour" data=${activityData(activity.data)} height=${200}
          opts=${{ scales: { x: { time: true } }, series: [{}, ...THROUGHPUT.map(([k, c]) => ({ label: k, stroke: c, width: 2 }))] }} />`
            : html`<${ErrorBox} error=${activity.error} />`
        }
      </section>
      <section aria-labelledby="chart-h">
        <h2 id="chart-h">Tasks by status since this page opened</h2>
        ${
          series[0].length < 2
            ? html`<p class="muted">Collecting readings…</p>`
            : html`<${Chart} chartKey="overview" label="Task counts by status over time" data=${series} height=${200}
                opts=${{ scales: { x: { time: true } }, series: [{}, ...CHARTED.map((k, i) => ({ label: k, stroke: COLORS[i], width: 2 }))] }} />`
        }
      </section>
    </div>
    <div class="two-col">
      <section aria-labelledby="w-h">
        <h2 id="w-h"><a href="#/workers">Workers</a></h2>
        <div class="stats">${Object.entries(byWorker).map(([k, v]) => html`<${Stat} label=${k} value=${num(v)} />`)}</div>
        ${
          notClaiming.length
            ? html`<h3>Not claiming</h3><ul>${notClaiming.map(
                (x) =>
                  html`<li><strong>${x.id}</strong> (${x.metadata?.kind_cluster ?? x.backend_type}): ${x.metadata.status_reason}</li>`,
              )}</ul>`
            : html`<p class="muted">No worker is held back (dirty cluster, backend not ready).</p>`
        }
      </section>
      <section aria-labelledby="f-h">
        <h2 id="f-h">Recent failures</h2>
        ${
          failures.length
            ? html`<ul class="plain">${failures.slice(0, 8).map(
                (
                  t,
                ) => html`<li><a href=${`#/tasks/${t.id}`}>${shortId(t.id)}</a> <${Status} status=${t.status} />
                  <code>${t.error_info?.code ?? t.error_info?.type ?? ''}</code> ${t.problem_id}
                  <span class="muted">${ago(t.completed_at)}</span>
                  <div class="muted clip">${t.error_details ?? ''}</div></li>`,
              )}</ul>`
            : html`<p class="muted">No failed or timed-out task.</p>`
        }
      </section>
    </div>
    <section aria-labelledby="a-h">
      <h2 id="a-h">Activity</h2>
      ${
        recent.length
          ? html`<ul class="plain" data-testid="activity">${recent.map(
              (
                e,
              ) => html`<li><a href=${`#/tasks/${e.task_id}`}>${shortId(e.task_id)}</a> ${e.previous_status ?? 'new'} → <${Status} status=${e.status} />
                ${e.problem_id} <span class="muted">${e.worker_id ?? ''} ${ago(e.at)}</span></li>`,
            )}</ul>`
          : html`<p class="muted">Waiting for task changes…</p>`
      }
    </section>`;
}

function countWorkers(/** @type {any[]} */ list) {
  const out = { idle: 0, busy: 0, draining: 0, offline: 0 };
  for (const w of list) out[w.status] = (out[w.status] ?? 0) + 1;
  return out;
}

/** Each /queue/stats reading appended as a point (seconds since epoch, counts). */
function useSeries(stats) {
  const [data, setData] = useState(() => [[], ...CHARTED.map(() => [])]);
  useEffect(() => {
    if (!stats) return;
    setData((d) => {
      const next = d.map((col) => col.slice(-MAX_POINTS + 1));
      next[0].push(Date.now() / 1000);
      for (const [i, k] of CHARTED.entries()) next[i + 1].push(stats[k] ?? 0);
      return next;
    });
  }, [stats]);
  return data;
}
