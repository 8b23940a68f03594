/** Experiments: the list, and one experiment's progress per group as a problem × model table and chart. */
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { api } from '../api.js';
import { Chart, COLORS, ErrorBox, LiveDot, Loading, Pager, Stat, Status } from '../components.js';
import { ago, num, pct, seconds, usd } from '../format.js';
import { setQuery, useApi, useFollow, useThrottled } from '../hooks.js';

const PAGE_SIZE = 20;

export function Experiments({ query }) {
  const page = Number(query.get('page') ?? 1) || 1;
  const list = useApi(`/api/v1/experiments?page=${page}&page_size=${PAGE_SIZE}`);
  return html`
    <header class="page-head"><h1>Experiments</h1></header>
    <${ErrorBox} error=${list.error} />
    ${
      !list.data
        ? list.error
          ? null
          : html`<${Loading} />`
        : list.data.experiments.length === 0
          ? html`<p class="muted">No experiment yet: <code>POST /api/v1/experiments</code> or <code>npm run cli -- experiment create</code>.</p>`
          : html`<div class="table-wrap"><table>
            <thead><tr><th scope="col">Name</th><th scope="col">Status</th><th scope="col">Progress</th><th scope="col" class="num">Success</th>
              <th scope="col" class="num">Groups done</th><th scope="col" class="num">Tokens</th><th scope="col" class="num">Cost</th><th scope="col">Created</th></tr></thead>
            <tbody>${list.data.experiments.map(
              (e) => html`<tr>
                <td><a href=${`#/experiments/${e.id}`}>${e.name}</a></td>
                <td><${Status} status=${e.status} /></td>
                <td><${Progress} p=${e.progress} /></td>
                <td class="num">${pct(e.progress.success_rate)}</td>
                <td class="num">${e.progress.groups_complete}/${e.progress.groups_total}</td>
                <td class="num">${num(e.progress.total_tokens)}</td>
                <td class="num">${usd(e.progress.cost)}</td>
                <td>${ago(e.created_at)}</td></tr>`,
            )}</tbody></table></div>
          <${Pager} page=${page} pageSize=${PAGE_SIZE} total=${list.data.total} go=${(p) => setQuery('/experiments', { page: p })} />`
    }`;
}

function Progress({ p }) {
  return html`<progress max=${p.total} value=${p.finished} aria-label="finished tasks">${p.finished}/${p.total}</progress>
    <span class="muted"> ${p.finished}/${p.total}</span>`;
}

export function ExperimentPage({ id }) {
  const exp = useApi(`/api/v1/experiments/${id}`);
  const groups = useApi(`/api/v1/experiments/${id}/groups`);
  const reload = useThrottled(() => {
    exp.reload();
    groups.reload();
  }, 1500);
  const live = useFollow(
    `/api/v1/events?experiment_id=${id}&after=now&types=task.status,group.completed,reward.updated`,
    reload,
  );
  if (!exp.data) return exp.error ? html`<${ErrorBox} error=${exp.error} />` : html`<${Loading} />`;
  const e = exp.data;
  const p = e.progress;
  return html`
    <header class="page-head">
      <h1>Experiment ${e.name}</h1><${Status} status=${e.status} /><${LiveDot} state=${live} />
      <${CancelExperiment} exp=${e} onDone=${reload} />
    </header>
    <div class="stats">
      <${Stat} label="finished" value=${`${p.finished}/${p.total}`} />
      <${Stat} label="success rate" value=${pct(p.success_rate)} />
      <${Stat} label="groups complete" value=${`${p.groups_complete}/${p.groups_total}`} />
      <${Stat} label="tokens" value=${num(p.total_tokens)} hint=${`${num(p.prompt_tokens)} in, ${num(p.completion_tokens)} out`} />
      <${Stat} label="cost" value=${usd(p.cost)} />
      <${Stat} label="wall time" value=${seconds(p.wall_seconds)} />
    </div>
    <p><${Progress} p=${p} /> · ${Object.entries(p.by_status)
      .filter(([, n]) => n > 0)
      .map(([k, n]) => html`<${Status} status=${k} /> ${n} `)}
      · <a href=${`#/tasks?experiment_id=${e.id}`}>its tasks</a></p>
    <${ErrorBox} error=${groups.error} />
    ${groups.data ? html`<${Grid} groups=${groups.data.groups} configs=${e.spec?.agent_configs ?? []} />` : null}`;
}

function CancelExperiment({ exp, onDone }) {
  const [msg, setMsg] = useState(/** @type {string | null} */ (null));
  if (exp.status === 'completed' || exp.status === 'cancelled')
    return msg ? html`<span role="status">${msg}</span>` : null;
  const cancel = async () => {
    if (!confirm(`Cancel every unfinished task of ${exp.name}?`)) return;
    try {
      const r = await api(`/api/v1/experiments/${exp.id}/cancel`, { method: 'POST' });
      setMsg(`${r.cancelled} cancelled, ${r.cancel_requested} asked to stop`);
    } catch (err) {
      setMsg(err.message);
    }
    onDone();
  };
  return html`<button type="button" class="danger" onClick=${cancel}>Cancel experiment</button>${msg ? html` <span role="status">${msg}</span>` : null}`;
}

function columnNamer(groups) {
  const configsPerModel = new Map();
  for (const g of groups) {
    const set = configsPerModel.get(g.model) ?? new Set();
    set.add(JSON.stringify(g.agent_config));
    configsPerModel.set(g.model, set);
  }
  return (g) =>
    g.model && configsPerModel.get(g.model).size === 1 ? g.model : JSON.stringify(g.agent_config);
}

function rank(named, column) {
  const i = named.findIndex((m) => m && column.includes(m));
  return i < 0 ? named.length : i;
}

/** Problems down, models across: mean reward (and success, count) per cell; the same as a chart. */
function Grid({ groups, configs }) {
  const problems = [...new Set(groups.map((g) => g.problem_id))];
  // A column per agent config, named by its model unless two configs share one; in the order the
  // experiment listed them.
  const columnOf = columnNamer(groups);
  const named = configs.map((c) => c?.model);
  const seen = [...new Set(groups.map(columnOf))];
  const models = [...seen].sort((a, b) => rank(named, a) - rank(named, b));
  const cell = new Map(groups.map((g) => [`${g.problem_id}\0${columnOf(g)}`, g]));
  const data = [
    problems.map((_, i) => i),
    ...models.map((m) => problems.map((p) => cell.get(`${p}\0${m}`)?.mean_reward ?? null)),
  ];
  return html`
    <section aria-labelledby="grid-h">
      <h2 id="grid-h">Mean reward per problem and model</h2>
      <${Chart}
        chartKey=${`${problems.length}x${models.join('|')}`}
        label="Mean reward per problem (x: problem number in the table) for each model"
        data=${data}
        opts=${{
          scales: { x: { time: false, range: [-0.5, problems.length - 0.5] }, y: { range: [0, 1.05] } },
          axes: [{ values: (_u, ticks) => ticks.map((t) => (Number.isInteger(t) ? `#${t + 1}` : '')) }, {}],
          series: [
            { label: 'problem', value: (_u, v) => (v == null ? '' : (problems[v] ?? '')) },
            ...models.map((m, i) => ({
              label: m,
              stroke: COLORS[i % COLORS.length],
              width: 0,
              points: { show: true, size: 9, fill: COLORS[i % COLORS.length] },
              paths: () => null,
            })),
          ],
        }}
      />
      <div class="table-wrap"><table data-testid="grid">
        <thead><tr><th scope="col">#</th><th scope="col">Problem</th>${models.map((m) => html`<th scope="col">${m}</th>`)}</tr></thead>
        <tbody>${problems.map(
          (p, i) =>
            html`<tr><td>${i + 1}</td><th scope="row" class="clip">${p}</th>${models.map((m) => {
              const g = cell.get(`${p}\0${m}`);
              if (!g) return html`<td>—</td>`;
              return html`<td class="cell" style=${g.mean_reward == null ? '' : `--r:${g.mean_reward}`}>
              <strong>${g.mean_reward == null ? '—' : num(g.mean_reward)}</strong>
              <span class="muted"> · ${g.by_status.completed}/${g.size} completed</span></td>`;
            })}</tr>`,
        )}</tbody></table></div>
    </section>`;
}
