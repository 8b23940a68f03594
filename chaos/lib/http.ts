/**
 * An HTTP client for the suite on node:http: every call has a hard timeout (a hang is a
 * finding, not a stuck suite), bodies may be any bytes, and a streamed answer (SSE) resolves
 * at its headers. Only 127.0.0.1 is ever called.
 */
import http from 'node:http';

export interface Answer {
  status: number;
  text: string;
  headers: http.IncomingHttpHeaders;
  ms: number;
}

export interface CallOptions {
  headers?: Record<string, string>;
  body?: string | Buffer;
  timeoutMs?: number;
  /** Resolve at the response headers when the answer is text/event-stream (then drop it). */
  headersOnlyForStreams?: boolean;
  agent?: http.Agent;
  signal?: AbortSignal;
}

export class CallError extends Error {
  override name = 'CallError';
  constructor(
    readonly code: string,
    message: string,
    readonly ms: number,
  ) {
    super(message);
  }
}

const defaultAgent = new http.Agent({ keepAlive: true, maxSockets: 128 });

export function call(base: string, method: string, path: string, o: CallOptions = {}): Promise<Answer> {
  const url = new URL(base);
  if (url.hostname !== '127.0.0.1') return Promise.reject(new Error(`refusing to call ${url.hostname}`));
  const started = performance.now();
  const timeoutMs = o.timeoutMs ?? 15_000;
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { ...o.headers };
    if (o.body !== undefined) headers['content-length'] = Buffer.byteLength(o.body);
    let settled = false;
    const done = (err: Error | null, a?: Answer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      o.signal?.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve(a!);
    };
    const req = http.request(
      {
        host: '127.0.0.1',
        port: Number(url.port),
        method,
        path,
        headers,
        agent: o.agent ?? defaultAgent,
      },
      (res) => {
        const ct = String(res.headers['content-type'] ?? '');
        if (o.headersOnlyForStreams && ct.includes('text/event-stream')) {
          done(null, {
            status: res.statusCode ?? 0,
            text: '',
            headers: res.headers,
            ms: performance.now() - started,
          });
          req.destroy();
          return;
        }
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          done(null, {
            status: res.statusCode ?? 0,
            text: Buffer.concat(chunks).toString('utf8'),
            headers: res.headers,
            ms: performance.now() - started,
          }),
        );
        res.on('error', (e) => done(new CallError('RESPONSE_ERROR', e.message, performance.now() - started)));
        res.on('aborted', () =>
          done(new CallError('RESPONSE_ABORTED', 'response aborted', performance.now() - started)),
        );
      },
    );
    const timer = setTimeout(() => {
      done(
        new CallError('TIMEOUT', `no complete answer within ${timeoutMs} ms`, performance.now() - started),
      );
      req.destroy();
    }, timeoutMs);
    const onAbort = () => {
      done(new CallError('ABORTED', 'aborted', performance.now() - started));
      req.destroy();
    };
    o.signal?.addEventListener('abort', onAbort, { once: true });
    req.on('error', (e: NodeJS.ErrnoException) =>
      done(new CallError(e.code ?? 'ERROR', e.message, performance.now() - started)),
    );
    req.end(o.body);
  });
}

/** JSON in, JSON out; throws on a non-2xx answer with its status and body. */
export async function json<T>(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  o: CallOptions = {},
): Promise<T> {
  const a = await call(base, method, path, {
    ...o,
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...o.headers },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  if (a.status < 200 || a.status > 299)
    throw new Error(`${method} ${path}: HTTP ${a.status} ${a.text.slice(0, 300)}`);
  return (a.text ? JSON.parse(a.text) : null) as T;
}
