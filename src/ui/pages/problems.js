/** Problems: each backend's catalogue, and a form to submit a task for one of them. */
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { api } from '../api.js';
import { ErrorBox, Loading } from '../components.js';
import { setQuery, useApi } from '../hooks.js';

const TASK_TYPES = ['detection', 'localization', 'analysis', 'mitigation'];

export function Problems({ query }) {
  const backend = query.get('backend') ?? '';
  const taskType = query.get('task_type') ?? '';
  const q = new URLSearchParams();
  if (backend) q.set('backend', backend);
  if (taskType) q.set('task_type', taskType);
  const list = useApi(`/api/v1/problems?${q}`);
  const [chosen, setChosen] = useState('');
  return html`
    <header class="page-head"><h1>Problems</h1></header>
    <${Submit} problems=${list.data?.problems ?? []} chosen=${chosen} setChosen=${setChosen} />
    <section aria-labelledby="cat-h">
      <h2 id="cat-h">Catalogue</h2>
      <form class="filters" aria-label="Filter problems" onChange=${(e) => {
        const f = new FormData(e.currentTarget);
        setQuery('/problems', {
          backend: String(f.get('backend') ?? ''),
          task_type: String(f.get('task_type') ?? ''),
        });
      }} onSubmit=${(e) => e.preventDefault()}>
        <label>Backend <select name="backend" value=${backend}><option value="">any</option>
          ${(list.data?.backends ?? []).map((b) => html`<option value=${b.backend}>${b.backend}</option>`)}
          ${backend && !(list.data?.backends ?? []).some((b) => b.backend === backend) ? html`<option value=${backend}>${backend}</option>` : null}
        </select></label>
        <label>Task type <select name="task_type" value=${taskType}><option value="">any</option>
          ${TASK_TYPES.map((t) => html`<option value=${t}>${t}</option>`)}</select></label>
      </form>
      <${ErrorBox} error=${list.error} />
      ${
        list.data
          ? html`<ul class="plain">${list.data.backends.map(
              (b) =>
                html`<li><strong>${b.backend}</strong>: ${b.problems} problems, ${b.live_workers} live workers${b.any_problem ? ' (one takes any id)' : ''}</li>`,
            )}</ul>
          <div class="table-wrap"><table data-testid="problems">
            <thead><tr><th scope="col">Problem</th><th scope="col">Backend</th><th scope="col">Type</th><th scope="col">App</th><th scope="col">Description</th><th scope="col"><span class="sr-only">Use</span></th></tr></thead>
            <tbody>${list.data.problems.map(
              (
                p,
              ) => html`<tr><td class="mono">${p.id}</td><td>${p.backend}</td><td>${p.task_type ?? '—'}</td><td>${p.app ?? '—'}</td>
                <td>${p.description ?? ''}</td>
                <td><button type="button" onClick=${() => {
                  setChosen(p.id);
                  document.getElementById('submit-problem')?.focus();
                }}
                  aria-label=${`Submit ${p.id}`}>Submit…</button></td></tr>`,
            )}</tbody></table></div>`
          : list.error
            ? null
            : html`<${Loading} />`
      }
    </section>`;
}

function Submit({ problems, chosen, setChosen }) {
  const [result, setResult] = useState(/** @type {{ id?: string, error?: string } | null} */ (null));
  const submit = async (/** @type {Event} */ e) => {
    e.preventDefault();
    const f = new FormData(/** @type {HTMLFormElement} */ (e.currentTarget));
    const body = {
      problem_id: String(f.get('problem_id')),
      priority: Number(f.get('priority')),
      max_steps: Number(f.get('max_steps')),
      agent_config: { model: String(f.get('model')) },
    };
    const backend = String(f.get('backend_type') ?? '');
    if (backend) body.backend_type = backend;
    try {
      const t = await api('/api/v1/tasks', { method: 'POST', body });
      setResult({ id: t.id });
    } catch (err) {
      setResult({ error: err.message });
    }
  };
  return html`<section aria-labelledby="sub-h">
    <h2 id="sub-h">Submit a task</h2>
    <form class="filters" onSubmit=${submit}>
      <label>Problem <input id="submit-problem" name="problem_id" required list="problem-ids" value=${chosen}
        onInput=${(e) => setChosen(e.currentTarget.value)} /></label>
      <datalist id="problem-ids">${problems.map((p) => html`<option value=${p.id} />`)}</datalist>
      <label>Model <input name="model" required value="scripted:solver" /></label>
      <label>Backend <input name="backend_type" placeholder="any" /></label>
      <label>Priority <input name="priority" type="number" min="0" max="10" value="5" /></label>
      <label>Max steps <input name="max_steps" type="number" min="1" max="1000" value="30" /></label>
      <div class="filter-actions"><button type="submit">Submit</button></div>
    </form>
    ${result?.id ? html`<p role="status">Submitted: <a href=${`#/tasks/${result.id}`} class="mono">${result.id}</a></p>` : null}
    ${result?.error ? html`<p class="error" role="alert">${result.error}</p>` : null}
  </section>`;
}
