/**
 * The episode viewer: a conversation turn by turn. Each turn is one LLM call: the agent's reply,
 * the action the environment parsed from it (the episode log), the observation that came back
 * (the next messages), and the call's model, latency, TTFT, tokens, cost and end reason, with
 * token logprobs as a heat map when the call recorded them. Prompts are rebuilt in full from the
 * message tree (storage keeps only each call's new messages).
 */
import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.js';
import { ErrorBox, Loading } from '../components.js';
import { ms, num, shortId, usd } from '../format.js';
import { setQuery, useApi } from '../hooks.js';

const PAGE = 1000;

/** Every page of a seq-cursored list. */
async function readAll(path, key, cursorOf, signal) {
  const out = [];
  let after = 0;
  for (;;) {
    const sep = path.includes('?') ? '&' : '?';
    const page = await api(`${path}${sep}limit=${PAGE}&after_seq=${after}`, { signal });
    out.push(...page[key]);
    const next = cursorOf(page, page[key]);
    if (next == null || page[key].length === 0) return out;
    after = next;
  }
}

function useEpisode(taskId, conversationId) {
  const [state, setState] = useState({ data: null, error: null });
  useEffect(() => {
    if (!conversationId) return;
    const ctl = new AbortController();
    const base = `/api/v1/llm-conversations/${conversationId}`;
    Promise.all([
      readAll(`${base}/messages`, 'messages', (p) => p.next_after_seq, ctl.signal),
      readAll(
        `${base}/calls?include_response=true`,
        'calls',
        (_p, list) => (list.length < PAGE ? null : list.at(-1).seq),
        ctl.signal,
      ),
      api(`/api/v1/tasks/${taskId}/logs?source=episode&limit=1000`, { signal: ctl.signal }),
    ]).then(
      ([messages, calls, logs]) => setState({ data: { messages, calls, logs: logs.logs }, error: null }),
      (error) => !ctl.signal.aborted && setState({ data: null, error }),
    );
    return () => ctl.abort();
  }, [taskId, conversationId]);
  return state;
}

export function Episode({ id, query }) {
  const list = useApi(`/api/v1/llm-conversations/task/${id}/conversations`);
  const chosen = query.get('c') ?? list.data?.[0]?.id ?? null;
  const episode = useEpisode(id, chosen);
  if (list.error) return html`<${ErrorBox} error=${list.error} />`;
  if (!list.data) return html`<${Loading} />`;
  if (!list.data.length) return html`<h1>Episode</h1><p>No LLM conversation was recorded for this task.</p>`;
  const conv = list.data.find((c) => c.id === chosen) ?? list.data[0];
  return html`
    <header class="page-head">
      <h1>Episode of task <a href=${`#/tasks/${id}`} class="mono">${shortId(id)}</a></h1>
      ${
        list.data.length > 1
          ? html`<label>Conversation <select value=${conv.id} onChange=${(e) => setQuery(`/tasks/${id}/episode`, { c: e.currentTarget.value })}>
            ${list.data.map((c) => html`<option value=${c.id}>attempt ${c.attempt} · ${c.model_name} · ${shortId(c.id)}</option>`)}
          </select></label>`
          : null
      }
    </header>
    <p>${conv.model_name} · ${num(conv.call_count)} calls · ${num(conv.message_count)} messages ·
      ${num(conv.prompt_tokens)} prompt + ${num(conv.completion_tokens)} completion tokens · ${usd(conv.cost)}
      ${conv.success == null ? '' : conv.success ? ' · succeeded' : ' · did not succeed'}</p>
    <${ErrorBox} error=${episode.error} />
    ${episode.data ? html`<${Turns} ...${episode.data} />` : episode.error ? null : html`<${Loading} what="Reading the episode" />`}`;
}

function Turns({ messages, calls, logs }) {
  const bySeq = new Map(messages.map((m) => [m.seq, m]));
  const stepOf = stepFinder(logs, bySeq);
  const system = messages.find((m) => m.role === 'system');
  return html`
    ${system ? html`<details class="turn"><summary>System prompt</summary><pre class="msg">${system.content}</pre></details>` : null}
    <ol class="turns" data-testid="turns">
      ${calls.map((c, i) => html`<${Turn} call=${c} index=${i} bySeq=${bySeq} next=${calls[i + 1]} step=${stepOf(c, i)} messages=${messages} />`)}
    </ol>`;
}

/**
 * The episode log's step for a call: the step whose recorded reply is this call's reply (a call
 * retried after an upstream error has no step of its own), else the step of the same number.
 */
function stepFinder(logs, bySeq) {
  const steps = logs.filter((l) => l.context?.step != null).map((l) => l.context);
  const byReply = new Map();
  for (const st of steps)
    if (typeof st.reply === 'string' && !byReply.has(st.reply)) byReply.set(st.reply, st);
  const byNumber = new Map(steps.map((st) => [st.step, st]));
  return (call, index) => {
    const reply = bySeq.get(call.reply_seq)?.content;
    const numbered = byNumber.get(index + 1);
    if (typeof reply !== 'string' || numbered?.reply === reply) return numbered;
    return byReply.get(reply) ?? numbered;
  };
}

/** The messages that came after the reply and before the next call's reply: the observation. */
function observationOf(call, next, messages) {
  if (call.reply_seq == null) return [];
  const end = next?.reply_seq ?? Number.POSITIVE_INFINITY;
  return messages.filter((m) => m.seq > call.reply_seq && m.seq < end && m.role !== 'assistant');
}

/** The whole prompt of a call: its last prompt message and its ancestors (parent_seq), in order. */
function promptOf(call, bySeq) {
  const out = [];
  let m = bySeq.get(call.prompt_last_seq);
  while (m) {
    out.push(m);
    m = m.parent_seq == null ? undefined : bySeq.get(m.parent_seq);
  }
  return out.reverse();
}

function Turn({ call, index, bySeq, next, step, messages }) {
  const choice = call.response?.choices?.[0];
  const reply = bySeq.get(call.reply_seq) ?? choice?.message ?? null;
  const obs = observationOf(call, next, messages);
  const tools = reply?.tool_calls ?? choice?.message?.tool_calls ?? null;
  const logprobs = choice?.logprobs?.content ?? null;
  return html`<li class="turn" data-testid="turn">
    <h2 class="turn-head">Step ${index + 1}</h2>
    <dl class="metrics">
      <dt>model</dt><dd>${call.model ?? call.model_requested}</dd>
      <dt>latency</dt><dd>${ms(call.latency_ms)}</dd>
      <dt>TTFT</dt><dd>${call.stream ? ms(call.ttft_ms) : 'not streamed'}</dd>
      <dt>tokens</dt><dd>${num(call.prompt_tokens)} in · ${num(call.completion_tokens)} out${call.cached_tokens ? ` · ${num(call.cached_tokens)} cached` : ''}</dd>
      <dt>cost</dt><dd>${usd(call.cost)}</dd>
      <dt>end</dt><dd>${call.end_reason}${call.finish_reasons?.length ? ` (${call.finish_reasons.join(', ')})` : ''}</dd>
      ${call.error ? html`<dt>error</dt><dd class="error-text">${typeof call.error === 'string' ? call.error : JSON.stringify(call.error)}</dd>` : null}
    </dl>
    <h3>Reply</h3>
    ${logprobs ? html`<${Heat} tokens=${logprobs} />` : html`<pre class="msg reply">${reply?.content ?? ''}</pre>`}
    ${tools?.length ? html`<h3>Tool calls</h3><ul>${tools.map((t) => html`<li><code>${t.function?.name}(${t.function?.arguments})</code></li>`)}</ul>` : null}
    <h3>Action</h3>
    ${
      step?.call
        ? html`<p><code data-testid="action">${step.call.api}(${(step.call.args ?? []).map((a) => JSON.stringify(a)).join(', ')})</code></p>`
        : step?.parse_error
          ? html`<p class="error-text">${step.parse_error}</p>`
          : html`<p class="muted">No parsed action recorded.</p>`
    }
    <h3>Observation</h3>
    ${obs.length ? obs.map((m) => html`<pre class="msg obs">${m.content}</pre>`) : html`<p class="muted">${next ? 'None.' : 'The episode ended here.'}</p>`}
    <details><summary>Full prompt (${call.prompt_message_count} messages)</summary>
      ${promptOf(call, bySeq).map((m) => html`<div class="prompt-msg"><strong>${m.role}</strong><pre class="msg">${m.content ?? JSON.stringify(m.tool_calls)}</pre></div>`)}
    </details>
  </li>`;
}

/** Each token on a background from red (unlikely) to clear (certain): p = exp(logprob). */
function Heat({ tokens }) {
  return html`<p class="heat" data-testid="heatmap" aria-label="Reply tokens shaded by probability">${tokens.map(
    (t) => {
      const p = Math.exp(t.logprob);
      return html`<span class="tok" style=${`--p:${p.toFixed(3)}`} title=${`${JSON.stringify(t.token)} p=${p.toFixed(3)}`}>${t.token}</span>`;
    },
  )}</p>`;
}
