/**
 * One request/response exchange with an upstream, relayed to the client as it happens.
 *
 * Streams: every upstream chunk is written to the client the moment it arrives, untouched,
 * while a copy goes through an SSE parser into the StreamAssembler. Only when the gateway
 * injected something into the request are events re-serialised, one by one as each
 * completes, with the injected fields taken out. How the stream ended (done, client
 * cancelled, upstream error, timeout) is part of the outcome, with whatever arrived.
 *
 * The outcome is returned before the client's response is ended, so the caller can record
 * the call first: once an agent sees the end of its reply, the call is in the database.
 *
 * What is kept for the record is capped at maxResponseBytes (LLM_MAX_RESPONSE_BYTES): past
 * it, the client still gets every byte relayed, but the record keeps only what came before
 * the cap, flagged `truncated`, and ends upstream_error, so one runaway answer cannot take the
 * server's memory.
 */

import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { StreamAssembler } from './assemble.ts';
import { type Injected, stripChunk, stripResponse } from './capture.ts';
import type { EndReason } from './recorder.ts';
import type { ChatRequest, Upstream, UpstreamReply } from './upstream-types.ts';
import { errorJson, gatewayErrors, type OpenAiError, type Scrubber, upstreamErrorMessage } from './wire.ts';

type Obj = Record<string, unknown>;

export interface ExchangeOptions {
  upstream: Upstream;
  body: ChatRequest;
  injected: readonly Injected[];
  res: ServerResponse;
  requestId: string;
  timeoutMs: number;
  idleTimeoutMs: number;
  scrub: Scrubber;
  /** Aborted when the task's attempt is closing: the call is cut and recorded as attempt_ended. */
  signal: AbortSignal;
  /** Most upstream bytes kept for the record (default DEFAULT_MAX_RESPONSE_BYTES). */
  maxResponseBytes?: number;
  /**
   * Settles when the call may be answered (its in-flight row is written). The upstream request
   * goes out at once, beside it; nothing of the answer is relayed before it resolves, and if it
   * rejects the request is aborted, nothing is written to the client, and exchange rethrows.
   */
  admitted?: Promise<void>;
}

/** The default of LLM_MAX_RESPONSE_BYTES. */
export const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

/** The flag a cut record carries in its response document. */
export interface TruncationFlag {
  truncated: true;
  truncated_at_bytes: number;
}

const cutMessage = (limit: number) =>
  `upstream answer over LLM_MAX_RESPONSE_BYTES (${limit} bytes): relayed in full, recorded cut`;

export interface ExchangeOutcome {
  status: number | null;
  response: Obj | null;
  endReason: EndReason;
  error: string | null;
  ttftMs: number | null;
  /** Ends the client's response (call after recording). */
  finish(): void;
}

/** Why the upstream request was aborted, when the gateway aborted it. */
type AbortCause = 'client' | 'timeout' | 'ended' | null;

class Watch {
  readonly controller = new AbortController();
  cause: AbortCause = null;
  private timer: NodeJS.Timeout | undefined;
  readonly started = performance.now();

  constructor(res: ServerResponse, ended: AbortSignal) {
    // 'close' before the response finished: the client went away.
    res.once('close', () => {
      if (!res.writableFinished) this.abort('client');
    });
    if (ended.aborted) this.abort('ended');
    else ended.addEventListener('abort', () => this.abort('ended'), { once: true });
  }

  arm(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.abort('timeout'), ms);
  }

  disarm(): void {
    clearTimeout(this.timer);
  }

  abort(cause: Exclude<AbortCause, null>): void {
    if (this.cause) return;
    this.cause = cause;
    this.controller.abort(new Error(cause));
  }

  elapsed(): number {
    return performance.now() - this.started;
  }
}

export async function exchange(o: ExchangeOptions): Promise<ExchangeOutcome> {
  const watch = new Watch(o.res, o.signal);
  watch.arm(o.timeoutMs);
  const sent = o.upstream.send(o.body, watch.controller.signal);
  // Handled here at once: it may fail (upstream unreachable) while the admission is awaited.
  sent.catch(() => {});
  if (o.admitted) {
    try {
      await o.admitted;
    } catch (err) {
      // The request is cut (an answer already on its way ends with it): never relayed.
      watch.controller.abort(new Error('not admitted'));
      watch.disarm();
      throw err;
    }
  }
  let reply: UpstreamReply;
  try {
    reply = await sent;
  } catch (err) {
    watch.disarm();
    return failedBeforeReply(o, watch, err);
  }
  const streaming = o.body.stream === true && reply.status >= 200 && reply.status < 300;
  try {
    return streaming ? await relayStream(o, watch, reply) : await relayDocument(o, watch, reply);
  } finally {
    watch.disarm();
  }
}

function failedBeforeReply(o: ExchangeOptions, watch: Watch, err: unknown): ExchangeOutcome {
  if (watch.cause === 'client')
    return outcome(null, null, 'client_cancelled', 'client went away', null, () => {});
  let e: OpenAiError;
  let reason: EndReason;
  if (watch.cause === 'timeout') {
    e = gatewayErrors.timeout(Math.round(o.timeoutMs / 1000));
    reason = 'timeout';
  } else if (watch.cause === 'ended') {
    e = gatewayErrors.attemptEnded();
    reason = 'attempt_ended';
  } else {
    e = gatewayErrors.unreachable(
      o.scrub(`upstream ${o.upstream.name} unreachable: ${(err as Error).message}`),
    );
    reason = 'upstream_error';
  }
  return outcome(e.status, null, reason, e.message, null, () => sendError(o, e));
}

/** A whole JSON document: a non-streamed answer, or any error answer. */
async function relayDocument(
  o: ExchangeOptions,
  watch: Watch,
  reply: UpstreamReply,
): Promise<ExchangeOutcome> {
  const limit = o.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  const body = reply.body[Symbol.asyncIterator]();
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for (let next = await body.next(); !next.done; next = await body.next()) {
      const chunk = Buffer.from(next.value);
      if (size + chunk.length > limit)
        return await relayOversized(o, watch, reply, body, chunks, chunk, limit);
      chunks.push(chunk);
      size += chunk.length;
    }
  } catch (err) {
    return failedBeforeReply(o, watch, err);
  }
  if (watch.cause) return failedBeforeReply(o, watch, new Error(watch.cause));
  const raw = Buffer.concat(chunks);
  const ok = reply.status >= 200 && reply.status < 300;
  // Upstream error text is passed on and stored, but never with a key in it.
  const text = ok ? raw.toString('utf8') : o.scrub(raw.toString('utf8'));
  const doc = parseObject(text);
  let out: Buffer | string = raw;
  let error: string | null = null;
  if (!ok) {
    out = text;
    error = upstreamErrorMessage(reply.status, text);
  } else if (o.injected.length > 0 && doc) {
    out = JSON.stringify(strippedCopy(doc, o.injected));
  }
  const headers = {
    'content-type': reply.headers['content-type'] ?? 'application/json',
    'x-request-id': o.requestId,
  };
  const finish = () => {
    if (o.res.destroyed) return;
    o.res.writeHead(reply.status, headers);
    o.res.end(out);
  };
  return outcome(reply.status, doc, ok ? 'done' : 'upstream_error', error, null, finish);
}

/**
 * A document past the cap: a success is relayed as it comes (head first, then each chunk),
 * untouched (injected fields cannot be stripped from a document never held whole); an error
 * answer is not relayed (its text could not be scrubbed of keys whole), the client gets a
 * gateway error instead. Either way the record keeps the head, flagged, as upstream_error.
 */
async function relayOversized(
  o: ExchangeOptions,
  watch: Watch,
  reply: UpstreamReply,
  body: AsyncIterator<Uint8Array>,
  head: Buffer[],
  overflow: Buffer,
  limit: number,
): Promise<ExchangeOutcome> {
  const kept = Buffer.concat([...head, overflow]).subarray(0, limit);
  if (reply.status < 200 || reply.status >= 300) return oversizedError(o, reply.status, body, kept, limit);
  const { res } = o;
  res.writeHead(reply.status, {
    'content-type': reply.headers['content-type'] ?? 'application/json',
    'x-request-id': o.requestId,
  });
  let failure: unknown = null;
  try {
    for (const chunk of head) await write(res, chunk);
    await write(res, overflow);
    for (let next = await body.next(); !next.done; next = await body.next()) await write(res, next.value);
  } catch (err) {
    failure = err;
  }
  const record = cutDocument(kept.toString('utf8'), limit);
  const reason = watch.cause ? CAUSE_REASONS[watch.cause] : 'upstream_error';
  let error = cutMessage(limit);
  if (failure && !watch.cause)
    error = o.scrub(`${error}; then the upstream broke off: ${(failure as Error).message}`);
  return outcome(reply.status, record, reason, error, null, () => {
    if (!res.destroyed) res.end();
  });
}

const CAUSE_REASONS: Record<Exclude<AbortCause, null>, EndReason> = {
  client: 'client_cancelled',
  timeout: 'timeout',
  ended: 'attempt_ended',
};

/** An error answer past the cap: the rest is not read, and the client gets a gateway error. */
async function oversizedError(
  o: ExchangeOptions,
  status: number,
  body: AsyncIterator<Uint8Array>,
  kept: Buffer,
  limit: number,
): Promise<ExchangeOutcome> {
  await body.return?.();
  const e = gatewayErrors.unreachable(
    `upstream ${status} answer over LLM_MAX_RESPONSE_BYTES (${limit} bytes); not relayed`,
  );
  const record = cutDocument(o.scrub(kept.toString('utf8')), limit);
  return outcome(status, record, 'upstream_error', e.message, null, () => sendError(o, e));
}

/** The record of a document cut at the cap: its first bytes as text, and the flag. */
function cutDocument(head: string, limit: number): Obj & TruncationFlag {
  return { truncated: true, truncated_at_bytes: limit, head };
}

async function relayStream(o: ExchangeOptions, watch: Watch, reply: UpstreamReply): Promise<ExchangeOutcome> {
  const { res } = o;
  const rewrite = o.injected.length > 0;
  const assembler = new StreamAssembler();
  const limit = o.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  // Bytes seen for the record; past the limit the stream is still parsed (to find [DONE] and
  // strip injected fields) and relayed, but no longer assembled into the record.
  let recordedBytes = 0;
  let cut = false;
  let ttftMs: number | null = null;
  let sawDone = false;
  let streamError: string | null = null;
  const pending: string[] = [];

  const parser = createParser({
    onEvent(ev: EventSourceMessage) {
      if (ev.data === '[DONE]') {
        sawDone = true;
        if (rewrite) pending.push(serializeEvent(ev, ev.data));
        return;
      }
      const chunk = parseObject(ev.data);
      if (chunk) {
        if (!cut && assembler.push(chunk) && ttftMs === null) ttftMs = watch.elapsed();
        if (chunk.error) streamError = o.scrub(upstreamErrorMessage(reply.status, ev.data));
      }
      if (!rewrite) return;
      if (!chunk) pending.push(serializeEvent(ev, ev.data));
      else if (stripChunk(chunk, o.injected)) pending.push(serializeEvent(ev, JSON.stringify(chunk)));
    },
    onComment(comment) {
      if (rewrite) pending.push(`:${comment}\n\n`);
    },
  });

  res.writeHead(reply.status, {
    'content-type': reply.headers['content-type'] ?? 'text/event-stream',
    'cache-control': 'no-cache',
    'x-request-id': o.requestId,
  });
  res.flushHeaders();
  const decoder = new TextDecoder();
  let failure: unknown = null;
  watch.arm(o.idleTimeoutMs);
  try {
    for await (const chunk of reply.body) {
      watch.arm(o.idleTimeoutMs);
      recordedBytes += chunk.byteLength;
      if (recordedBytes > limit) cut = true;
      parser.feed(decoder.decode(chunk, { stream: true }));
      if (!rewrite) await write(res, chunk);
      else if (pending.length > 0) await write(res, pending.splice(0).join(''));
    }
  } catch (err) {
    failure = err;
  }
  const assembled = assembler.chunks > 0 ? assembler.result() : null;
  const finished = sawDone || (!cut && hasFinishReason(assembled));
  let endReason: EndReason = 'done';
  let error: string | null = streamError;
  if (watch.cause === 'client') {
    endReason = 'client_cancelled';
    error = 'client went away';
  } else if (watch.cause === 'timeout') {
    endReason = 'timeout';
    error = `no data from the upstream for ${Math.round(o.idleTimeoutMs / 1000)} s`;
  } else if (watch.cause === 'ended') {
    endReason = 'attempt_ended';
    error = gatewayErrors.attemptEnded().message;
  } else if (failure) {
    endReason = 'upstream_error';
    error = o.scrub(`upstream stream broke off: ${(failure as Error).message}`);
  } else if (streamError) {
    endReason = 'upstream_error';
  } else if (!finished) {
    endReason = 'upstream_error';
    error = 'upstream stream ended before [DONE]';
  }
  const finish = () => {
    if (res.destroyed) return;
    // The client learns the stream failed the way OpenAI streams report it: an error event.
    const e = streamFailure(endReason, streamError, o.idleTimeoutMs, error);
    if (e) res.write(`data: ${errorJson({ ...e, message: error ?? e.message })}\n\n`);
    res.end();
  };
  if (!cut) return outcome(reply.status, assembled, endReason, error, ttftMs, finish);
  // The client got the whole stream; only the record is cut, and says so.
  const flag: TruncationFlag = { truncated: true, truncated_at_bytes: limit };
  const doc = { ...(assembled ?? {}), ...flag };
  const recordEnd = endReason === 'done' ? 'upstream_error' : endReason;
  return outcome(
    reply.status,
    doc,
    recordEnd,
    endReason === 'done' ? cutMessage(limit) : error,
    ttftMs,
    finish,
  );
}

/** The error event a client gets when a stream ends badly (none when the upstream sent its own). */
function streamFailure(
  endReason: EndReason,
  streamError: string | null,
  idleTimeoutMs: number,
  error: string | null,
): OpenAiError | null {
  if (endReason === 'timeout') return gatewayErrors.timeout(Math.round(idleTimeoutMs / 1000));
  if (endReason === 'attempt_ended') return gatewayErrors.attemptEnded();
  if (endReason === 'upstream_error' && !streamError)
    return gatewayErrors.unreachable(error ?? 'upstream error');
  return null;
}

function outcome(
  status: number | null,
  response: Obj | null,
  endReason: EndReason,
  error: string | null,
  ttftMs: number | null,
  finish: () => void,
): ExchangeOutcome {
  return { status, response, endReason, error, ttftMs, finish };
}

function sendError(o: ExchangeOptions, e: OpenAiError): void {
  if (o.res.destroyed || o.res.headersSent) return;
  o.res.writeHead(e.status, { 'content-type': 'application/json', 'x-request-id': o.requestId });
  o.res.end(errorJson(e));
}

/** Writes, waiting for the socket to drain when it is full (a slow client slows the relay). */
async function write(res: ServerResponse, data: Uint8Array | string): Promise<void> {
  if (res.destroyed) return;
  if (!res.write(data)) await Promise.race([once(res, 'drain'), once(res, 'close')]);
}

function serializeEvent(ev: EventSourceMessage, data: string): string {
  return `${ev.event ? `event: ${ev.event}\n` : ''}data: ${data}\n\n`;
}

function parseObject(text: string): Obj | null {
  try {
    const v = JSON.parse(text) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : null;
  } catch {
    return null;
  }
}

/** The client's copy: only the parts stripping touches are copied; the record keeps all. */
function strippedCopy(doc: Obj, injected: readonly Injected[]): Obj {
  const copy: Obj = { ...doc };
  if (Array.isArray(doc.choices)) copy.choices = (doc.choices as Obj[]).map((c) => ({ ...c }));
  stripResponse(copy, injected);
  return copy;
}

function hasFinishReason(doc: Obj | null): boolean {
  return Array.isArray(doc?.choices) && (doc.choices as Obj[]).some((c) => c.finish_reason != null);
}
