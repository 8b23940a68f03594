/**
 * Reading and parsing JSON request bodies, for every route (the gateway's included).
 *
 * Three refusals happen here, before any schema, route or queue code sees the body:
 * - over the route's body limit: 413, but only after reading (and dropping) what the client
 *   is still sending, up to a bound. Answering at once and closing, as Fastify does, makes the
 *   kernel reset a connection with unread data, and the client gets EPIPE or ECONNRESET
 *   instead of its 413.
 * - nested deeper than MAX_JSON_DEPTH: 422. Deep nesting is never legitimate here, and code
 *   further on recurses (JSON.stringify, the prototype-poisoning scan), so ~5,000 levels would
 *   be a RangeError and a 500.
 * - not JSON: 400 (Fastify's own parser, prototype-poisoning checks included).
 * - a JSON `null`: 422. Fastify hands a missing body to the validator as null too, so the
 *   schemas could not tell it from no body at all and read it as {} (validation.ts): a `null`
 *   complete then completed the task, fenced by worker id only. No route takes a bare null.
 * An empty body is "no body", not a 400: clients often send `Content-Type: application/json`
 * on a bodiless POST (claim, heartbeat, cancel). Arrays, strings and numbers where an object
 * is due are the schemas' 422.
 *
 * Other content types: an EMPTY body is "no body" too, because the predecessor's clients send
 * their bodiless POSTs that way (aiohttp: application/octet-stream; `curl -d ''`:
 * application/x-www-form-urlencoded) and the predecessor never read those bodies. A body the
 * route requires (its schema names required fields), and any non-empty body, must be JSON:
 * 415 naming the type that came.
 */
import type { IncomingMessage } from 'node:http';
import { errorCodes, type FastifyRequest } from 'fastify';
import { ApiError } from './errors.ts';
import type { Api } from './types.ts';

/**
 * Deepest array/object nesting accepted, the outer object counting as 1. The deepest
 * legitimate bodies are gateway chat requests: a content part inside a message inside
 * `messages` is 4 levels, tool call arguments are strings, and a tool's JSON Schema
 * (`tools[].function.parameters`) spends 2 levels per nested property, so 64 leaves room
 * for ~30 levels of schema nesting.
 */
export const MAX_JSON_DEPTH = 64;
/** How long an oversized body is read (and dropped) before the 413 goes out regardless. */
export const DRAIN_TIMEOUT_MS = 10_000;
/** An oversized body is read up to this many times the route's limit, then the 413 goes out. */
export const DRAIN_FACTOR = 2;

/** A refusal the gateway's error handler (routes/llm.ts) also understands: it reads statusCode. */
class BodyRefused extends ApiError {
  get statusCode(): number {
    return this.status;
  }
}

function refusal(reason: string): ApiError {
  return new BodyRefused('VALIDATION_ERROR', `Request body ${reason}`, {
    location: 'body',
    errors: [{ field: '(root)', reason }],
  });
}

/** True when the route's body schema names required fields: no body will do. */
function bodyRequired(req: FastifyRequest): boolean {
  const body = (req.routeOptions.schema as { body?: { required?: unknown } } | undefined)?.body;
  return Array.isArray(body?.required) && body.required.length > 0;
}

function unsupported(req: FastifyRequest): ApiError {
  const type = String(req.headers['content-type'] ?? '(none)').slice(0, 100);
  return new BodyRefused(
    'UNSUPPORTED_MEDIA_TYPE',
    `Unsupported content type ${type}; this request needs a JSON body (Content-Type: application/json)`,
    { content_type: type },
  );
}

export function installBodyParser(app: Api): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  // JSON only: a text/plain body would otherwise reach the schemas as a string.
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser('application/json', (req, payload, done) => {
    readBody(req, payload).then((raw) => {
      if (raw instanceof Error) return done(raw, undefined);
      const text = raw.toString('utf8');
      if (text.trim() === '') return done(null, undefined);
      if (exceedsDepth(text, MAX_JSON_DEPTH))
        return done(refusal(`nests deeper than ${MAX_JSON_DEPTH} levels`), undefined);
      parse(req, text, (err: Error | null, value?: unknown) => {
        if (err) return done(err, undefined);
        if (value === null) return done(refusal('must be a JSON object, not null'), undefined);
        done(null, value);
      });
    }, done);
  });
  // Every other content type (and a body with none): read to the end, so the connection
  // stays usable, then taken as no body when empty and refused otherwise.
  app.addContentTypeParser('*', (req, payload, done) => {
    readBody(req, payload).then((raw) => {
      if (raw instanceof Error) return done(raw, undefined);
      if (raw.length > 0 || bodyRequired(req)) return done(unsupported(req), undefined);
      done(null, undefined);
    }, done);
  });
}

/** The whole body, or the error to answer with (413 after draining, 400 when the client broke off). */
function readBody(req: FastifyRequest, payload: IncomingMessage): Promise<Buffer | Error> {
  const limit = req.routeOptions.bodyLimit ?? Number.POSITIVE_INFINITY;
  const declared = Number(req.headers['content-length']);
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let received = 0;
    let over = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (out: Buffer | Error) => {
      clearTimeout(timer);
      payload.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose);
      resolve(out);
    };
    const tooLarge = () => finish(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE());
    const startDraining = () => {
      over = true;
      chunks.length = 0;
      timer = setTimeout(tooLarge, DRAIN_TIMEOUT_MS);
    };
    function onData(chunk: Buffer) {
      received += chunk.length;
      if (over) {
        if (received > limit * DRAIN_FACTOR) tooLarge();
      } else if (received > limit) startDraining();
      else chunks.push(chunk);
    }
    function onEnd() {
      finish(over ? new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE() : Buffer.concat(chunks, received));
    }
    function onError(err: Error & { statusCode?: number }) {
      err.statusCode ??= 400;
      finish(err);
    }
    // Closed before the end: the client went away mid-body (nobody reads this answer).
    function onClose() {
      if (!payload.readableEnded) onError(new Error('The request body was cut off'));
    }
    // A declared length past the drain bound is refused unread: draining it could not succeed.
    if (declared > limit * DRAIN_FACTOR) return tooLarge();
    if (declared > limit) startDraining();
    payload.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose);
  });
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

/**
 * Whether JSON text nests arrays/objects deeper than `max`. One pass, no recursion, no
 * allocation; string contents are skipped with indexOf, so brackets inside strings do not
 * count and long strings cost little. Invalid JSON is left for the parser to report.
 */
export function exceedsDepth(text: string, max: number): boolean {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) i = stringEnd(text, i);
    else if (c === OPEN_BRACKET || c === OPEN_BRACE) {
      if (++depth > max) return true;
    } else if (c === CLOSE_BRACKET || c === CLOSE_BRACE) depth--;
  }
  return false;
}

/** Index of the quote closing the string opened at `start` (text.length when unterminated). */
function stringEnd(text: string, start: number): number {
  let end = start;
  for (;;) {
    end = text.indexOf('"', end + 1);
    if (end === -1) return text.length;
    let backslashes = 0;
    while (text.charCodeAt(end - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return end;
  }
}
