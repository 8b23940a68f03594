/** One task: what happened to it (timeline, live log), what it produced (result, evaluation, reward), cancel. */
import { html } from 'htm/preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from '../api.js';
import { ErrorBox, Json, LiveDot, Loading, Status } from '../components.js';
import { ago, num, seconds, shortId, TERMINAL, time, usd } from '../format.js';
import { useApi, useFollow, useThrottled } from '../hooks.js';

const TAIL = 500;

export function TaskPage({ id }) {
  const task = useApi(`/api/v1/tasks/${id}`);
  const rewards = useApi(`/api/v1/tasks/${id}/rewards`);
  const conversations = useApi(`/api/v1/llm-conversations/task/${id}/conversations`);
  const [logs, setLogs] = useState(/** @type {any[]} */ ([]));
  const [events, setEvents] = useState(/** @type {any[]} */ ([]));
  const reload = useThrottled(() => {
    task.reload();
    rewards.reload();
    conversations.reload();
  }, 1000);
  const live = useFollow(`/api/v1/tasks/${id}/logs/stream`, (type, entry) => {
    if (type === 'end') return reload();
    if (type !== 'log') return;
    setLogs((l) => (l.length >= TAIL ? [...l.slice(1 - TAIL), entry] : [...l, entry]));
    if (entry.source === 'server' && entry.context?.event) {
      setEvents((e) => [...e, entry]);
      reload();
    }
  });
  const tail = useFollowBottom(logs);
  if (!task.data) return task.error ? html`<${ErrorBox} error=${task.error} />` : html`<${Loading} />`;
  const t = task.data;
  return html`
    <header class="page-head">
      <h1>Task <span class="mono">${shortId(t.id)}</span></h1>
      <${Status} status=${t.status} />
      ${t.cancel_requested && !TERMINAL.has(t.status) ? html`<span class="badge s-cancelled">cancel requested</span>` : null}
      <${CancelButton} task=${t} onDone=${reload} />
    </header>
    <dl class="facts">
      <dt>Id</dt><dd class="mono">${t.id}</dd>
      <dt>Problem</dt><dd>${t.problem_id}</dd>
      <dt>Model</dt><dd>${t.parameters?.agent_config?.model ?? '—'}</dd>
      <dt>Backend</dt><dd>${t.backend_type ?? 'any'}</dd>
      <dt>Worker</dt><dd>${t.worker_id ?? '—'}</dd>
      <dt>Attempt</dt><dd>${t.attempt} of ${t.max_attempts}</dd>
      <dt>Priority</dt><dd>${t.priority}</dd>
      ${t.experiment_id ? html`<dt>Experiment</dt><dd><a href=${`#/experiments/${t.experiment_id}`}>${shortId(t.experiment_id)}</a> repetition ${t.repetition}</dd>` : null}
      ${t.waiting_reason ? html`<dt>Waiting</dt><dd>${t.waiting_reason}</dd>` : null}
      ${t.error_details ? html`<dt>Error</dt><dd class="error-text">${t.error_details}</dd>` : null}
    </dl>
    <section aria-labelledby="tl-h">
      <h2 id="tl-h">Timeline</h2>
      <ol class="timeline" data-testid="timeline">
        <li><time>${time(t.created_at)}</time> submitted</li>
        ${events
          .filter((e) => e.context.event !== 'created')
          .map((e) => html`<li><time>${time(e.timestamp)}</time> ${e.message}</li>`)}
        ${t.completed_at ? html`<li><time>${time(t.completed_at)}</time> finished: <${Status} status=${t.status} /> after ${seconds((Date.parse(t.completed_at) - Date.parse(t.created_at)) / 1000)}</li>` : null}
      </ol>
    </section>
    <${Outcome} task=${t} rewards=${rewards.data} />
    <section aria-labelledby="c-h">
      <h2 id="c-h">Episodes</h2>
      ${
        conversations.data?.length
          ? html`<ul class="plain">${conversations.data.map(
              (
                c,
              ) => html`<li><a href=${`#/tasks/${t.id}/episode?c=${c.id}`}>Attempt ${c.attempt}: ${c.model_name}</a>
              — ${num(c.call_count)} calls, ${num(c.total_tokens)} tokens, ${usd(c.cost)}</li>`,
            )}</ul>`
          : html`<p class="muted">No LLM conversation recorded.</p>`
      }
    </section>
    <section aria-labelledby="log-h">
      <h2 id="log-h">Log <${LiveDot} state=${live} /></h2>
      <div class="log" role="log" aria-live="polite" tabindex="0" data-testid="log" ref=${tail}>
        ${logs.map(
          (
            l,
          ) => html`<div class=${`log-line lvl-${l.level}`}><time>${new Date(l.timestamp).toLocaleTimeString()}</time>
            <span class="lvl">${l.level}</span> <span class="src">${l.source}</span> ${l.message}</div>`,
        )}
      </div>
    </section>`;
}

/** Keeps a scrolled box at its end as lines arrive, unless the reader scrolled up to read. */
function useFollowBottom(lines) {
  const box = useRef(/** @type {HTMLDivElement | null} */ (null));
  const pinned = useRef(true);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const onScroll = () => {
      pinned.current = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
    };
    el.addEventListener('scroll', onScroll);
    return () => el.removeEventListener('scroll', onScroll);
  }, [box.current]);
  useEffect(() => {
    const el = box.current;
    if (el && pinned.current) el.scrollTop = el.scrollHeight;
  }, [lines]);
  return box;
}

function CancelButton({ task, onDone }) {
  const [asking, setAsking] = useState(false);
  const [msg, setMsg] = useState(/** @type {string | null} */ (null));
  if (TERMINAL.has(task.status)) return msg ? html`<span role="status">${msg}</span>` : null;
  const cancel = async () => {
    try {
      const r = await api(`/api/v1/tasks/${task.id}/cancel`, { method: 'POST' });
      setMsg(r.message ?? 'Cancelled');
    } catch (e) {
      setMsg(e.message);
    }
    setAsking(false);
    onDone();
  };
  if (asking)
    return html`<span class="confirm">Cancel this task?
      <button type="button" class="danger" onClick=${cancel}>Yes, cancel it</button>
      <button type="button" onClick=${() => setAsking(false)}>No</button></span>`;
  return html`<button type="button" class="danger" onClick=${() => setAsking(true)}>Cancel task</button>
    ${msg ? html`<span role="status">${msg}</span>` : null}`;
}

function Outcome({ task, rewards }) {
  const r = task.result;
  const results = r && typeof r === 'object' ? r.results : null;
  const { trace: _trace, ...shown } = r && typeof r === 'object' ? r : { value: r };
  return html`<section aria-labelledby="o-h">
    <h2 id="o-h">Result and evaluation</h2>
    ${
      r == null
        ? html`<p class="muted">${TERMINAL.has(task.status) ? 'No result.' : 'Not finished yet.'}</p>`
        : html`<dl class="facts">
          ${r.end_reason ? html`<dt>Ended</dt><dd>${r.end_reason} after ${r.steps} steps</dd>` : null}
          ${r.usage ? html`<dt>Tokens</dt><dd>${num(r.usage.total_tokens)} (${num(r.usage.calls)} calls)</dd>` : null}
          ${r.duration_seconds != null ? html`<dt>Episode time</dt><dd>${seconds(r.duration_seconds)}</dd>` : null}
          ${results ? Object.entries(results).map(([k, v]) => html`<dt>${k}</dt><dd>${typeof v === 'object' ? JSON.stringify(v) : String(v)}</dd>`) : null}
        </dl>
        <details><summary>Full result (without the trace)</summary><${Json} value=${shown} /></details>`
    }
    <h3>Reward</h3>
    <p data-testid="reward"><strong>${task.reward == null ? 'none' : num(task.reward)}</strong> <span class="muted">${task.reward_reason}</span></p>
    ${
      rewards?.rewards?.length
        ? html`<table><caption>Written rewards, oldest first</caption>
          <thead><tr><th scope="col">Name</th><th scope="col" class="num">Value</th><th scope="col">By</th><th scope="col">When</th></tr></thead>
          <tbody>${rewards.rewards.map(
            (w) =>
              html`<tr><td>${w.name}</td><td class="num">${num(w.value)}</td><td>${w.written_by}</td><td>${ago(w.created_at)}</td></tr>`,
          )}</tbody></table>`
        : html`<p class="muted">No reward written besides the default.</p>`
    }
  </section>`;
}
