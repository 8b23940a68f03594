/** How numbers, times and statuses read on the page. */

const nf = new Intl.NumberFormat('en', { maximumFractionDigits: 1 });

export function num(/** @type {number | null | undefined} */ n) {
  return n == null ? '—' : nf.format(n);
}

export function pct(/** @type {number | null | undefined} */ r) {
  return r == null ? '—' : `${Math.round(r * 1000) / 10}%`;
}

/** 0.42 s, 12 s, 3 min 4 s, 2 h 5 min. */
export function seconds(/** @type {number | null | undefined} */ s) {
  if (s == null) return '—';
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 60) return `${nf.format(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}

export function ms(/** @type {number | null | undefined} */ v) {
  return v == null ? '—' : v < 1000 ? `${Math.round(v)} ms` : `${nf.format(v / 1000)} s`;
}

export function usd(/** @type {number | null | undefined} */ v) {
  if (v == null) return '—';
  return v === 0 ? '$0' : `$${v < 0.01 ? v.toPrecision(2) : v.toFixed(2)}`;
}

/** Age of an ISO time relative to now: "4 s ago". */
export function ago(/** @type {string | null | undefined} */ iso) {
  if (!iso) return '—';
  return `${seconds(Math.max(0, (Date.now() - Date.parse(iso)) / 1000))} ago`;
}

export function time(/** @type {string | null | undefined} */ iso) {
  return iso ? new Date(iso).toLocaleString() : '—';
}

export function shortId(/** @type {string | null | undefined} */ id) {
  return id ? id.slice(0, 8) : '—';
}

export const TASK_STATUSES = ['pending', 'running', 'completed', 'failed', 'timeout', 'cancelled'];
export const TERMINAL = new Set(['completed', 'failed', 'timeout', 'cancelled']);
