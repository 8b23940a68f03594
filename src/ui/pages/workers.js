/** Workers: who is there, what each is doing, how recently it was heard from. */
import { html } from 'htm/preact';
import { useEffect } from 'preact/hooks';
import { ErrorBox, LiveDot, Loading, Status } from '../components.js';
import { ago, num, shortId } from '../format.js';
import { useApi, useFollow, useNow, useThrottled } from '../hooks.js';

export function Workers() {
  const list = useApi('/api/v1/workers');
  const refresh = useThrottled(list.reload, 1000);
  const live = useFollow('/api/v1/events', refresh);
  useEffect(() => {
    const t = setInterval(refresh, 5000);
    return () => clearInterval(t);
  }, [refresh]);
  useNow(5000);
  if (!list.data) return list.error ? html`<${ErrorBox} error=${list.error} />` : html`<${Loading} />`;
  const workers = list.data.workers;
  return html`
    <header class="page-head"><h1>Workers</h1><${LiveDot} state=${live} /></header>
    ${
      workers.length === 0
        ? html`<p class="muted">No worker has registered.</p>`
        : html`<div class="table-wrap"><table data-testid="workers">
          <thead><tr><th scope="col">Worker</th><th scope="col">Backend</th><th scope="col">Host</th><th scope="col">Cluster</th>
            <th scope="col">Status</th><th scope="col">Current task</th><th scope="col">Heartbeat</th>
            <th scope="col" class="num">Completed</th><th scope="col" class="num">Failed</th></tr></thead>
          <tbody>${workers.map(
            (w) => html`<tr>
              <td class="mono">${w.id}</td>
              <td>${w.backend_type ?? 'any'}</td>
              <td>${w.metadata?.host ?? '—'}</td>
              <td>${w.metadata?.kind_cluster ?? '—'}</td>
              <td><${Status} status=${w.status} />${w.metadata?.status_reason ? html`<div class="muted">${w.metadata.status_reason}</div>` : null}</td>
              <td>${w.current_task_id ? html`<a class="mono" href=${`#/tasks/${w.current_task_id}`}>${shortId(w.current_task_id)}</a>` : '—'}
                ${w.running_tasks > 1 ? html` <span class="muted">(+${w.running_tasks - 1})</span>` : null}</td>
              <td>${ago(w.last_heartbeat)}</td>
              <td class="num">${num(w.tasks_completed)}</td>
              <td class="num">${num(w.tasks_failed)}</td>
            </tr>`,
          )}</tbody></table></div>`
    }`;
}
