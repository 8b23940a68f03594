/** Pieces shared by the pages: status badges, stat tiles, errors, a pager, a uPlot chart. */
import { html } from 'htm/preact';
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';

export function Status({ status }) {
  return html`<span class="badge s-${status}">${status}</span>`;
}

export function Stat({ label, value, hint }) {
  return html`<div class="stat"><div class="stat-value">${value}</div><div class="stat-label">${label}</div>${
    hint ? html`<div class="stat-hint">${hint}</div>` : null
  }</div>`;
}

export function ErrorBox({ error }) {
  if (!error) return null;
  const text = error.status === 401 ? 'This needs an API token.' : error.message;
  return html`<p class="error" role="alert">${text}</p>`;
}

export function Loading({ what = 'Loading' }) {
  return html`<p class="muted" aria-busy="true">${what}…</p>`;
}

/** Live/retrying indicator for a stream. */
export function LiveDot({ state }) {
  const labels = { open: 'live', ended: 'finished', connecting: 'connecting…', retrying: 'reconnecting…' };
  const label = labels[state.state] ?? `stopped: ${state.why}`;
  return html`<span class="live live-${state.state}" role="status">${label}</span>`;
}

export function Pager({ page, pageSize, total, go }) {
  const pages = Math.max(1, Math.ceil((total ?? 0) / pageSize));
  return html`<nav class="pager" aria-label="Pages">
    <button type="button" disabled=${page <= 1} onClick=${() => go(page - 1)}>Previous</button>
    <span>Page ${page} of ${pages} (${total ?? '?'} in all)</span>
    <button type="button" disabled=${page >= pages} onClick=${() => go(page + 1)}>Next</button>
  </nav>`;
}

/** The palette the charts draw with; the same hues as the status badges. */
export const COLORS = [
  '#3b82f6',
  '#f59e0b',
  '#10b981',
  '#ef4444',
  '#8b5cf6',
  '#6b7280',
  '#ec4899',
  '#14b8a6',
];

function themeColor(/** @type {HTMLElement} */ el, name) {
  return getComputedStyle(el).getPropertyValue(name).trim() || '#888';
}

/**
 * A uPlot chart that fills its container's width. `opts` are uPlot options without width and
 * height; `data` the aligned arrays. Rebuilt when `key` changes (other series), else updated.
 */
export function Chart({ opts, data, height = 220, label, chartKey }) {
  const box = useRef(/** @type {HTMLDivElement | null} */ (null));
  const plot = useRef(/** @type {uPlot | null} */ (null));
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const fg = themeColor(el, '--muted');
    const grid = themeColor(el, '--border');
    const axes = (opts.axes ?? [{}, {}]).map((a) => ({
      stroke: fg,
      grid: { stroke: grid, width: 1 },
      ticks: { stroke: grid },
      ...a,
    }));
    const p = new uPlot({ ...opts, axes, width: el.clientWidth || 300, height }, data, el);
    plot.current = p;
    const ro = new ResizeObserver(() => p.setSize({ width: el.clientWidth || 300, height }));
    ro.observe(el);
    return () => {
      ro.disconnect();
      p.destroy();
      plot.current = null;
    };
  }, [chartKey, height]);
  useEffect(() => {
    plot.current?.setData(data);
  }, [data]);
  return html`<figure class="chart"><div ref=${box} role="img" aria-label=${label}></div></figure>`;
}

/** Pretty JSON in a scrollable block. */
export function Json({ value }) {
  return html`<pre class="json">${JSON.stringify(value, null, 2)}</pre>`;
}
