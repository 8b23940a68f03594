/**
 * A Server-Sent Events response on a hijacked Fastify reply. The frame format is a few lines
 * of the spec (id, event, data, comments), so it is written here rather than pulled in.
 *
 * Backpressure is the point: a client that stops reading must neither grow this process's
 * memory nor hold up anyone else. After each event, if more than `maxBufferBytes` wait in
 * the socket's buffer, sending waits for it to drain; if it does not drain within
 * `slowClientMs` the stream ends with a `disconnect` event carrying the cursor to resume from
 * (the client's own Last-Event-ID works as well), and the socket is destroyed shortly after.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';

export interface SseOptions {
  heartbeatMs: number;
  slowClientMs: number;
  maxBufferBytes: number;
  /** Ends the stream (with reason "shutdown") when the server starts closing. */
  closing: AbortSignal;
  /** Told of each event sent and, once, of why the stream ended ('client' when the client went). */
  observe?: { sent(): void; closed(reason: DisconnectReason | 'client'): void };
}

export type DisconnectReason = 'slow_consumer' | 'shutdown' | 'error' | 'end';

/** How long an ended stream's unread bytes may linger before the socket is destroyed. */
const LINGER_MS = 5_000;

export class SseStream {
  private readonly raw: FastifyReply['raw'];
  private readonly abort = new AbortController();
  private heartbeat: NodeJS.Timeout | undefined;
  private lastId: string | null = null;
  private endReason: DisconnectReason | 'client' = 'client';

  constructor(
    req: FastifyRequest,
    reply: FastifyReply,
    private readonly opts: SseOptions,
  ) {
    this.raw = reply.raw;
    reply.hijack();
    this.raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      // nginx and similar proxies buffer responses unless told not to.
      'x-accel-buffering': 'no',
      'x-request-id': req.id,
    });
    // A client that reconnects waits this long first (the EventSource default is similar).
    this.raw.write('retry: 2000\n\n');
    const onClose = () => this.abort.abort();
    this.raw.on('close', onClose);
    req.raw.on('close', () => {
      if (!this.raw.writableFinished) onClose();
    });
    this.heartbeat = setInterval(() => this.comment('keepalive'), opts.heartbeatMs);
    this.heartbeat.unref();
    opts.closing.addEventListener('abort', () => void this.end('shutdown'), {
      once: true,
      signal: this.abort.signal,
    });
    this.abort.signal.addEventListener(
      'abort',
      () => {
        clearInterval(this.heartbeat);
        opts.observe?.closed(this.endReason);
      },
      { once: true },
    );
  }

  /** Aborted when the client goes away or the stream ends. */
  get signal(): AbortSignal {
    return this.abort.signal;
  }

  get closed(): boolean {
    return this.abort.signal.aborted;
  }

  /** Sends one event; false when the stream is closed (or just closed for a slow client). */
  async send(event: string, data: unknown, id?: string): Promise<boolean> {
    if (this.closed) return false;
    this.raw.write(frame(event, data, id));
    if (id !== undefined) this.lastId = id;
    this.opts.observe?.sent();
    // 'drain' only follows a write the socket refused (writableNeedDrain).
    if (this.raw.writableLength <= this.opts.maxBufferBytes || !this.raw.writableNeedDrain) return true;
    if (await this.drained()) return !this.closed;
    await this.end('slow_consumer');
    return false;
  }

  comment(text: string): void {
    if (this.closed) return;
    // A comment only when the socket is keeping up: a stuck client needs no keepalive.
    if (this.raw.writableLength <= this.opts.maxBufferBytes) this.raw.write(`: ${text}\n\n`);
  }

  /** Ends the stream with a `disconnect` event saying why and where to resume. */
  async end(reason: DisconnectReason, extra: Record<string, unknown> = {}): Promise<void> {
    if (this.closed) return;
    // A stream that simply ran its course (a finished task's logs) says so with its own event.
    if (reason !== 'end') this.raw.write(frame('disconnect', { reason, cursor: this.lastId, ...extra }));
    this.endReason = reason;
    this.abort.abort();
    this.raw.end();
    // Whatever the client never reads must not keep the socket (and its buffer) alive.
    setTimeout(() => this.raw.destroy(), reason === 'slow_consumer' ? LINGER_MS : LINGER_MS * 2).unref();
  }

  private drained(): Promise<boolean> {
    return new Promise((resolve) => {
      const finish = (ok: boolean) => {
        clearTimeout(timer);
        this.raw.off('drain', onDrain);
        this.abort.signal.removeEventListener('abort', onAbort);
        resolve(ok);
      };
      const onDrain = () => finish(true);
      const onAbort = () => finish(false);
      const timer = setTimeout(() => finish(false), this.opts.slowClientMs);
      this.raw.on('drain', onDrain);
      this.abort.signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}

function frame(event: string, data: unknown, id?: string): string {
  const head = id === undefined ? '' : `id: ${id}\n`;
  // JSON.stringify escapes newlines, so the data is always a single line.
  return `${head}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}
