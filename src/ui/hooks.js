/** Small hooks every page uses: data from the API, live streams, the current hash route. */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { api, follow } from './api.js';

/**
 * GET `path` (re-read when it changes or `reload()` is called).
 * @param {string | null} path null: nothing to read yet
 */
export function useApi(path) {
  const [state, setState] = useState({ data: null, error: null, loading: !!path });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    if (!path) return;
    const ctl = new AbortController();
    setState((s) => ({ ...s, loading: true }));
    api(path, { signal: ctl.signal }).then(
      (data) => setState({ data, error: null, loading: false }),
      (error) => !ctl.signal.aborted && setState((s) => ({ ...s, error, loading: false })),
    );
    return () => ctl.abort();
  }, [path, tick]);
  const reload = useCallback(() => setTick((n) => n + 1), []);
  return { ...state, reload };
}

/**
 * Follows the SSE stream at `path` while the component is shown; returns the connection state.
 * @param {string | null} path
 * @param {(type: string, data: any) => void} onEvent
 */
export function useFollow(path, onEvent) {
  const handler = useRef(onEvent);
  handler.current = onEvent;
  const [state, setState] = useState({ state: 'connecting', why: undefined });
  useEffect(() => {
    if (!path) return;
    const ctl = new AbortController();
    follow(path, {
      signal: ctl.signal,
      onEvent: (type, data) => handler.current(type, data),
      onState: (s, why) => setState({ state: s, why }),
    });
    return () => ctl.abort();
  }, [path]);
  return state;
}

/** Calls `fn` at most once per `waitMs`, the last call always landing. */
export function useThrottled(/** @type {() => void} */ fn, waitMs) {
  const last = useRef(0);
  const timer = useRef(/** @type {any} */ (null));
  const current = useRef(fn);
  current.current = fn;
  useEffect(() => () => clearTimeout(timer.current), []);
  return useCallback(() => {
    if (timer.current) return;
    const wait = Math.max(0, last.current + waitMs - Date.now());
    timer.current = setTimeout(() => {
      timer.current = null;
      last.current = Date.now();
      current.current();
    }, wait);
  }, [waitMs]);
}

/** Re-renders every `ms` (ages such as "heartbeat 4 s ago"). */
export function useNow(ms) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}

/** The hash route: `#/tasks/ID?x=1` → { path: '/tasks/ID', query: URLSearchParams }. */
export function parseHash(/** @type {string} */ hash) {
  const raw = hash.replace(/^#/, '') || '/';
  const q = raw.indexOf('?');
  return {
    path: q < 0 ? raw : raw.slice(0, q),
    query: new URLSearchParams(q < 0 ? '' : raw.slice(q + 1)),
  };
}

export function useRoute() {
  const [route, setRoute] = useState(() => parseHash(location.hash));
  useEffect(() => {
    const on = () => setRoute(parseHash(location.hash));
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}

/** Changes the query of the current route (filters, page) without a new history entry per keystroke. */
export function setQuery(
  /** @type {string} */ path,
  /** @type {Record<string, string | number | null | undefined>} */ values,
) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(values))
    if (v !== null && v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  location.hash = `#${path}${s ? `?${s}` : ''}`;
}
