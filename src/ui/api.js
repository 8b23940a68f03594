/**
 * Talking to the API: JSON over fetch with the session's token, and Server-Sent Events read
 * with fetch (not EventSource) so the token travels in the Authorization header, never in a URL
 * where proxies and logs would keep it.
 */

const TOKEN_KEY = 'task-executor.token';

/** An HTTP answer that was not 2xx, with the API's error code when it sent one. */
export class ApiError extends Error {
  /** @param {number} status @param {string} message @param {string | undefined} code */
  constructor(status, message, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** @type {Set<() => void>} */
const authListeners = new Set();

/** Called whenever the API answers 401: the app asks for a token. */
export function onUnauthorized(/** @type {() => void} */ fn) {
  authListeners.add(fn);
  return () => authListeners.delete(fn);
}

export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

/** Kept for this browser tab's session only; cleared with an empty value. */
export function setToken(/** @type {string} */ token) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

function headers(/** @type {Record<string, string>} */ extra = {}) {
  const h = { accept: 'application/json', ...extra };
  const token = getToken();
  if (token) h.authorization = `Bearer ${token}`;
  return h;
}

async function failure(/** @type {Response} */ res) {
  if (res.status === 401) for (const fn of authListeners) fn();
  let message = `${res.status} ${res.statusText}`;
  let code;
  try {
    const body = await res.json();
    message = body.error?.message ?? body.error ?? message;
    code = body.code;
  } catch {
    // Not JSON: the status line says enough.
  }
  return new ApiError(res.status, message, code);
}

/** GET (or another method with a JSON body) → parsed JSON; throws ApiError when not 2xx. */
export async function api(
  /** @type {string} */ path,
  /** @type {{method?: string, body?: unknown, signal?: AbortSignal}} */ opts = {},
) {
  const init = { method: opts.method ?? 'GET', headers: headers(), signal: opts.signal };
  if (opts.body !== undefined) {
    init.headers = headers({ 'content-type': 'application/json' });
    init.body = JSON.stringify(opts.body);
  }
  const res = await fetch(path, init);
  if (!res.ok) throw await failure(res);
  return res.status === 204 ? null : res.json();
}

/**
 * Follows an SSE stream until `signal` aborts, reconnecting after a drop from the last event id
 * (the API resumes exactly after it). `onEvent(type, data)` gets each event's parsed JSON;
 * `onState('open' | 'retrying' | 'error', why)` tells the page how the connection is.
 * @param {string} path
 * @param {{ onEvent: (type: string, data: any) => void, onState?: (state: string, why?: string) => void, signal: AbortSignal }} opts
 */
export async function follow(path, { onEvent, onState = () => {}, signal }) {
  let lastId = null;
  let delay = 1000;
  while (!signal.aborted) {
    try {
      const extra = { accept: 'text/event-stream' };
      if (lastId) extra['last-event-id'] = lastId;
      const res = await fetch(path, { headers: headers(extra), signal });
      if (!res.ok) throw await failure(res);
      onState('open');
      delay = 1000;
      for await (const ev of readEvents(res.body, signal)) {
        if (ev.id) lastId = ev.id;
        if (ev.data === undefined) continue;
        let data;
        try {
          data = JSON.parse(ev.data);
        } catch {
          data = ev.data;
        }
        onEvent(ev.event ?? 'message', data);
        // A log tail says `end` once the task has finished: nothing more will come.
        if (ev.event === 'end') {
          onState('ended');
          return;
        }
      }
    } catch (err) {
      if (signal.aborted) return;
      // 401/403/404 do not heal by retrying; say so and stop.
      if (err instanceof ApiError && err.status < 500) {
        onState('error', err.message);
        return;
      }
      onState('retrying', err instanceof Error ? err.message : String(err));
    }
    if (signal.aborted) return;
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 15_000);
  }
}

/**
 * The events of an SSE body (the WHATWG format: `field: value` lines, a blank line ends an
 * event, `:` lines are comments).
 * @param {ReadableStream<Uint8Array>} body
 * @param {AbortSignal} signal
 * @returns {AsyncGenerator<{ id?: string, event?: string, data?: string }>}
 */
export async function* readEvents(body, signal) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  const stop = () => reader.cancel().catch(() => {});
  signal.addEventListener('abort', stop, { once: true });
  let buffer = '';
  /** @type {{ id?: string, event?: string, data?: string }} */
  let ev = {};
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      const lines = buffer.split(/\r\n|\r|\n/);
      buffer = lines.pop() ?? '';
      for (const line of lines) {
        if (line === '') {
          if (ev.data !== undefined || ev.event) yield ev;
          ev = {};
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? '' : line.slice(colon + 1);
        if (value.startsWith(' ')) value = value.slice(1);
        if (field === 'data') ev.data = ev.data === undefined ? value : `${ev.data}\n${value}`;
        else if (field === 'event') ev.event = value;
        else if (field === 'id') ev.id = value;
      }
    }
  } finally {
    signal.removeEventListener('abort', stop);
  }
}
