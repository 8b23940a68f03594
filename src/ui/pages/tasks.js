/** Tasks: the API's list with its filters and paging; the filters live in the URL (shareable). */
import { html } from 'htm/preact';
import { ErrorBox, LiveDot, Loading, Pager, Status } from '../components.js';
import { ago, num, seconds, shortId, TASK_STATUSES } from '../format.js';
import { setQuery, useApi, useFollow, useThrottled } from '../hooks.js';

const FILTERS = ['status', 'problem_id', 'worker_id', 'backend_type', 'experiment_id', 'label', 'sort'];
const PAGE_SIZE = 25;

export function Tasks({ query }) {
  const values = Object.fromEntries(FILTERS.map((k) => [k, query.get(k) ?? '']));
  const page = Number(query.get('page') ?? 1) || 1;
  const q = new URLSearchParams({ page: String(page), page_size: String(PAGE_SIZE) });
  for (const [k, v] of Object.entries(values)) if (v) q.set(k, v);
  const list = useApi(`/api/v1/tasks?${q}`);
  // The list re-reads (at most every 2 s) while tasks change, so a watched page stays current.
  const refresh = useThrottled(list.reload, 2000);
  const live = useFollow('/api/v1/events', refresh);
  const apply = (/** @type {Event} */ e) => {
    e.preventDefault();
    const form = new FormData(/** @type {HTMLFormElement} */ (e.currentTarget));
    setQuery('/tasks', Object.fromEntries(FILTERS.map((k) => [k, String(form.get(k) ?? '')])));
  };
  return html`
    <header class="page-head"><h1>Tasks</h1><${LiveDot} state=${live} /></header>
    <form class="filters" onSubmit=${apply} aria-label="Filter tasks">
      <label>Status
        <select name="status" value=${values.status}>
          <option value="">any</option>
          ${TASK_STATUSES.map((s) => html`<option value=${s}>${s}</option>`)}
        </select>
      </label>
      <label>Problem <input name="problem_id" value=${values.problem_id} placeholder="exact id" /></label>
      <label>Worker <input name="worker_id" value=${values.worker_id} /></label>
      <label>Backend <input name="backend_type" value=${values.backend_type} /></label>
      <label>Experiment <input name="experiment_id" value=${values.experiment_id} /></label>
      <label>Label <input name="label" value=${values.label} placeholder="key=value" /></label>
      <label>Sort
        <select name="sort" value=${values.sort}>
          <option value="">newest first</option>
          <option value="-completed_at">last finished</option>
          <option value="-priority">priority</option>
          <option value="created_at">oldest first</option>
        </select>
      </label>
      <div class="filter-actions">
        <button type="submit">Apply</button>
        <a class="button-link" href="#/tasks">Clear</a>
      </div>
    </form>
    <${ErrorBox} error=${list.error} />
    ${list.data ? html`<${TaskTable} tasks=${list.data.tasks} />` : list.error ? null : html`<${Loading} />`}
    ${
      list.data &&
      html`<${Pager} page=${page} pageSize=${PAGE_SIZE} total=${list.data.total} go=${(p) => setQuery('/tasks', { ...values, page: p })} />`
    }`;
}

export function TaskTable({ tasks }) {
  if (!tasks.length) return html`<p class="muted">No task matches.</p>`;
  return html`<div class="table-wrap"><table data-testid="task-table">
    <thead><tr><th scope="col">Task</th><th scope="col">Problem</th><th scope="col">Status</th><th scope="col">Model</th>
      <th scope="col">Worker</th><th scope="col" class="num">Attempt</th><th scope="col" class="num">Reward</th>
      <th scope="col" class="num">Run time</th><th scope="col">Submitted</th></tr></thead>
    <tbody>${tasks.map(
      (t) => html`<tr>
        <td><a href=${`#/tasks/${t.id}`} class="mono">${shortId(t.id)}</a></td>
        <td class="clip">${t.problem_id}</td>
        <td><${Status} status=${t.status} /></td>
        <td>${t.parameters?.agent_config?.model ?? '—'}</td>
        <td class="clip">${t.worker_id ?? '—'}</td>
        <td class="num">${t.attempt}/${t.max_attempts}</td>
        <td class="num">${t.reward == null ? '—' : num(t.reward)}</td>
        <td class="num">${runTime(t)}</td>
        <td>${ago(t.created_at)}</td>
      </tr>`,
    )}</tbody></table></div>`;
}

function runTime(t) {
  if (!t.started_at) return '—';
  const end = t.completed_at ? Date.parse(t.completed_at) : Date.now();
  return seconds((end - Date.parse(t.started_at)) / 1000);
}
