/**
 * The recording LLM gateway: `POST /llm/v1/chat/completions` and `GET /llm/v1/models`, for
 * any OpenAI SDK pointed at BASE/llm/v1 with a task token as its key.
 *
 * One call: check the token (signature, then the task's running attempt), pick the
 * conversation, route the model to an upstream, relay the exchange (exchange.ts), then
 * record it (recorder.ts). A call the gateway refuses before forwarding (bad token, bad
 * body, unknown model) reaches no upstream and is not recorded.
 *
 * Recording happens after the client has its answer, so the database is never on the
 * agent's critical path; record-queue.ts keeps the records in call order per conversation
 * and lets the worker paths wait (`settled`) until a task's calls are all recorded before
 * its completion or failure is written.
 */
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { Config } from '../config/index.ts';
import { isDatabaseUnavailable } from '../db/errors.ts';
import type { Db } from '../db/types.ts';
import { AttemptCache, attemptKey, type EndedKey } from './attempt-cache.ts';
import { BoundedMap } from './bounded-map.ts';
import { upstreamRequest } from './capture.ts';
import { conversationKey, type ParsedChat, parseChatBody } from './chat-request.ts';
import { exchange } from './exchange.ts';
import { FlightKeeper, keeperTiming, settleElsewhere } from './flight-keeper.ts';
import { createInFlightStore, type InFlightCall, promptBase } from './in-flight.ts';
import { createPriceBook } from './prices.ts';
import { type Flight, RecordQueue } from './record-queue.ts';
import { type CallRecord, createRecorder, type Recorded } from './recorder.ts';
import { createRouter, ModelNotRouted, type Route } from './routing.ts';
import { createScriptedUpstream, SCRIPTED_MODELS } from './scripted.ts';
import { summarize } from './summary.ts';
import { createTokenIssuer, loadTokenSecret, type TokenClaims, type TokenIssuer } from './tokens.ts';
import { createScrubber, errorJson, gatewayErrors, type OpenAiError } from './wire.ts';

type Obj = Record<string, unknown>;

export interface GatewayLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** What one finished call looked like, for metrics. */
export interface CallObservation {
  upstream: string;
  model: string;
  endReason: string;
  status: number | null;
  latencySeconds: number;
  ttftSeconds: number | null;
  promptTokens: number | null;
  completionTokens: number | null;
  recorded: boolean;
  /** From the answer's end to its record's commit (null when the record was given up). */
  recordLagSeconds: number | null;
}

/** How the gateway hears of attempts ending elsewhere, and tells other processes of its own. */
export interface AttemptEndSignals {
  /** These attempts (`task/attempt`) are ending here. */
  publish(keys: readonly EndedKey[]): void;
  /** Attempts (`task/attempt`) or whole tasks (a bare id) that ended elsewhere or here. */
  subscribe(fn: (keys: readonly EndedKey[]) => void): () => void;
}

export interface GatewayDeps {
  db: Db;
  config: Config;
  logger: GatewayLogger;
  observe?: (o: CallObservation) => void;
  env?: Record<string, string | undefined>;
  /** Without them, only this process's reports and the cache's maximum age end a cached attempt. */
  attemptEnds?: AttemptEndSignals;
}

export interface ChatCall {
  body: unknown;
  authorization: string | undefined;
  conversationHeader: string | undefined;
  requestId: string;
  res: ServerResponse;
}

/** After the in-flight grace, how long a report still waits for the cut calls' records. */
const SETTLE_RECORD_LIMIT_MS = 10_000;
/** Response header carrying the id of the conversation the call was recorded on. */
export const CONVERSATION_ID_HEADER = 'x-llm-conversation-id';

export interface Gateway {
  /** The task-token issuer (its key is read from the database on first use). */
  tokens(): Promise<TokenIssuer>;
  /**
   * The token's signature alone (no database read once the key is loaded): run before a request
   * body is read, so a caller without a valid token cannot make the server buffer and parse one.
   * Null when it passes; otherwise the error to answer.
   */
  screen(authorization: string | undefined): Promise<OpenAiError | null>;
  chat(call: ChatCall): Promise<void>;
  /** The `/llm/v1/models` answer for a token: status and JSON body. */
  models(authorization: string | undefined): Promise<{ status: number; body: string }>;
  /**
   * Resolves when every call of this attempt made so far has been recorded: calls still in
   * flight after LLM_INFLIGHT_GRACE_SECONDS are cut, and it never waits longer than that grace
   * plus SETTLE_RECORD_LIMIT_MS for their records (resolving `false` when it gave up).
   */
  settled(taskId: string, attempt: number): Promise<boolean>;
  /** Waits for pending records, then closes upstream connections. */
  close(): Promise<void>;
}

export async function createGateway(deps: GatewayDeps): Promise<Gateway> {
  const { db, config, logger } = deps;
  const scripted = Object.assign(createScriptedUpstream(), { models: SCRIPTED_MODELS });
  const router = createRouter(config, scripted, deps.env);
  const scrub = createScrubber(router.secrets());
  // The signing key may live in the database: read on first use (and again after a failure),
  // so the app can be built while the database is still unreachable.
  let issuer: Promise<TokenIssuer> | undefined;
  const tokens = (): Promise<TokenIssuer> => {
    if (!issuer) {
      issuer = loadTokenSecret(db, config.GATEWAY_TOKEN_SECRET).then(createTokenIssuer);
      issuer.catch(() => {
        issuer = undefined;
      });
    }
    return issuer;
  };
  const recorder = createRecorder(db);
  const price = createPriceBook(config.LLM_PRICES);
  const records = new RecordQueue(recorder, logger);
  // This process's calls between forwarding and record, as other replicas and later
  // processes see them (in-flight.ts, flight-keeper.ts).
  const inFlight = createInFlightStore(db, randomUUID());
  const keeper = new FlightKeeper(inFlight, records, logger, keeperTiming(config.LLM_INFLIGHT_STALE_SECONDS));
  keeper.start();
  // The conversation id per (task, attempt, key) this process has seen: spares the join on
  // later calls (the token is still checked against the task every time).
  const conversationIds = new BoundedMap<string, string>(20_000);
  // Running attempts as last read (attempt-cache.ts): the token check's read, once per attempt.
  const attemptsLive = new AttemptCache(config.GATEWAY_ATTEMPT_CACHE_MS);
  const unsubscribe = deps.attemptEnds?.subscribe((keys) => attemptsLive.ended(keys));

  const claimsOf = async (authorization: string | undefined): Promise<TokenClaims | null> => {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    return m ? (await tokens()).verify(m[1]!) : null;
  };

  async function chat(call: ChatCall): Promise<void> {
    const startedAt = new Date();
    const started = performance.now();
    const refuse = (e: OpenAiError) => send(call.res, call.requestId, e.status, errorJson(e));
    let claims: TokenClaims | null;
    try {
      claims = await claimsOf(call.authorization);
    } catch (err) {
      if (isDatabaseUnavailable(err)) return refuse(gatewayErrors.unavailable());
      throw err;
    }
    if (!claims) return refuse(gatewayErrors.badToken());
    // A dead attempt's token is refused before anything else is looked at, so it learns
    // nothing about bodies or routing.
    const key = conversationKey(call.body, call.conversationHeader);
    const live = await checkAttempt(claims, 'error' in key ? null : key.key);
    if ('error' in live) return refuse(live.error);
    if ('error' in key) return refuse(key.error);
    const parsed = parseChatBody(call.body);
    if ('error' in parsed) return refuse(parsed.error);
    let route: Route;
    try {
      route = router.resolve(parsed.model);
    } catch (err) {
      if (err instanceof ModelNotRouted) return refuse(gatewayErrors.notRouted(err.message));
      throw err;
    }
    const { messages: _, ...request } = parsed.body;
    const flight = records.begin(claims.taskId, claims.attempt, randomUUID());
    const t = { startedAt, started, refuse, rowAdded: false };
    // The flight settles on every path: handed to the record queue (which finishes it once
    // written, and whose record deletes its in-flight row), or finished here when anything
    // before that throws. A flight left open would hold the attempt's report until the
    // settle limit; a row left behind would be recorded later as interrupted.
    let handedOver = false;
    try {
      handedOver = await relayAndRecord(call, claims, key.key, live, parsed, route, request, flight, t);
    } finally {
      if (!handedOver) {
        flight.finish();
        if (t.rowAdded)
          inFlight.remove(flight.id).catch((err) => logger.warn({ err }, 'in-flight call row not removed'));
      }
    }
  }

  /** Opens the conversation if needed, relays the call and queues its record; true once queued. */
  async function relayAndRecord(
    call: ChatCall,
    claims: TokenClaims,
    key: string,
    live: { conversationId: string | null; metadata: Record<string, unknown> },
    parsed: Extract<ParsedChat, { model: string }>,
    route: Route,
    request: Obj,
    flight: Flight,
    t: { startedAt: Date; started: number; refuse: (e: OpenAiError) => void; rowAdded: boolean },
  ): Promise<boolean> {
    const { body, injected } = upstreamRequest(parsed.body, route.model, route.capture);
    let pending: InFlightCall;
    let result: Awaited<ReturnType<typeof exchange>>;
    try {
      const conversationId =
        live.conversationId ?? (await openConversation(claims, key, parsed.model, request, live));
      pending = {
        id: flight.id,
        conversationId,
        taskId: claims.taskId,
        attempt: claims.attempt,
        upstream: route.upstream.name,
        modelRequested: parsed.model,
        stream: parsed.body.stream === true,
        request,
        injected,
        prompt: parsed.prompt,
        startedAt: t.startedAt,
      };
      // The in-flight row is written while the request is on its way, and nothing of the answer
      // is relayed before it is committed: no answer can reach the agent without a row or a
      // record, so none is lost with this process. (A process dying in between leaves an
      // upstream call whose answer nobody saw, and nothing to record.) The row's round trip then
      // overlaps the upstream's time to its first byte instead of adding to it.
      const admitted = inFlight.add(pending, promptBase(records.headOf(conversationId), parsed.prompt));
      void admitted.then(
        () => {
          t.rowAdded = true;
        },
        () => {},
      );
      // The recorded conversation's id, so an agent can name it in its result without a lookup.
      call.res.setHeader(CONVERSATION_ID_HEADER, conversationId);
      result = await exchange({
        upstream: route.upstream,
        body,
        injected,
        res: call.res,
        requestId: call.requestId,
        timeoutMs: route.timeoutMs ?? config.LLM_TIMEOUT_SECONDS * 1000,
        idleTimeoutMs: config.LLM_STREAM_IDLE_TIMEOUT_SECONDS * 1000,
        scrub,
        signal: flight.signal,
        maxResponseBytes: config.LLM_MAX_RESPONSE_BYTES,
        admitted,
      });
    } catch (err) {
      // The conversation could not be opened or the in-flight row written: nothing was relayed.
      if (isDatabaseUnavailable(err)) {
        call.res.removeHeader(CONVERSATION_ID_HEADER);
        t.refuse(gatewayErrors.unavailable());
        return false;
      }
      throw err;
    }
    try {
      const summary = summarize(result.response);
      const { id, ...asked } = pending;
      const record: CallRecord = {
        ...asked,
        response: result.response,
        summary,
        status: result.status,
        endReason: result.endReason,
        error: result.error,
        cost: price([parsed.model, summary.model], summary.tokens, (summary.usage as Obj | null)?.cost),
        latencyMs: performance.now() - t.started,
        ttftMs: result.ttftMs,
        completedAt: new Date(),
        inFlightId: id,
      };
      records.add(record, flight, (recorded) => report(record, route.upstream.name, recorded));
      return true;
    } finally {
      result.finish();
    }
  }

  function observe(o: CallObservation): void {
    try {
      deps.observe?.(o);
    } catch (err) {
      logger.warn({ err }, 'llm call metrics failed');
    }
  }

  /** Metrics and one log line per call, once its record is written (or given up). */
  function report(record: CallRecord, upstream: string, recorded: Recorded | null): void {
    const { summary } = record;
    observe({
      upstream,
      model: record.modelRequested,
      endReason: record.endReason,
      status: record.status,
      latencySeconds: record.latencyMs / 1000,
      ttftSeconds: record.ttftMs === null ? null : record.ttftMs / 1000,
      promptTokens: summary.tokens.prompt,
      completionTokens: summary.tokens.completion,
      recorded: recorded !== null,
      recordLagSeconds: recorded ? (Date.now() - record.completedAt.getTime()) / 1000 : null,
    });
    logger.info(
      {
        llm_call: {
          task_id: record.taskId,
          attempt: record.attempt,
          conversation_id: record.conversationId,
          seq: recorded?.seq ?? null,
          model: record.modelRequested,
          upstream,
          status: record.status,
          end_reason: record.endReason,
          latency_ms: Math.round(record.latencyMs * 10) / 10,
          prompt_tokens: summary.tokens.prompt,
          completion_tokens: summary.tokens.completion,
          prefix_consistent: recorded?.prefixConsistent ?? null,
        },
      },
      'llm call',
    );
  }

  type Live = { conversationId: string | null; metadata: Record<string, unknown> } | { error: OpenAiError };

  /**
   * The token's attempt must be the task's running one. A conversation this process has
   * seen needs only the task row; otherwise one read also finds the conversation.
   */
  async function checkAttempt(claims: TokenClaims, key: string | null): Promise<Live> {
    try {
      const known =
        key === null ? undefined : conversationIds.get(`${claims.taskId}/${claims.attempt}/${key}`);
      if (key === null || known) {
        const problem = await attemptProblem(claims);
        if (problem) return { error: gatewayErrors.expiredToken(problem) };
        return { conversationId: known ?? null, metadata: {} };
      }
      const found = await recorder.lookup(claims.taskId, claims.attempt, key);
      if (!found.ok) return { error: gatewayErrors.expiredToken(found.why) };
      attemptsLive.remember(claims.taskId, claims.attempt);
      if (found.conversationId)
        conversationIds.set(`${claims.taskId}/${claims.attempt}/${key}`, found.conversationId);
      return { conversationId: found.conversationId, metadata: found.metadata };
    } catch (err) {
      if (isDatabaseUnavailable(err)) return { error: gatewayErrors.unavailable() };
      throw err;
    }
  }

  /** Null while the token's attempt runs (from the cache when it knows), else why not. */
  async function attemptProblem(claims: TokenClaims): Promise<string | null> {
    if (attemptsLive.isLive(claims.taskId, claims.attempt)) return null;
    const problem = await recorder.attemptProblem(claims.taskId, claims.attempt);
    if (!problem) attemptsLive.remember(claims.taskId, claims.attempt);
    return problem;
  }

  async function openConversation(
    claims: TokenClaims,
    key: string,
    model: string,
    request: Obj,
    live: { metadata: Record<string, unknown> },
  ): Promise<string> {
    const { tools: _, ...config } = request;
    const id = await recorder.openConversation(claims.taskId, claims.attempt, key, {
      model,
      config,
      metadata: live.metadata,
    });
    conversationIds.set(`${claims.taskId}/${claims.attempt}/${key}`, id);
    return id;
  }

  async function screen(authorization: string | undefined): Promise<OpenAiError | null> {
    try {
      return (await claimsOf(authorization)) ? null : gatewayErrors.badToken();
    } catch (err) {
      if (isDatabaseUnavailable(err)) return gatewayErrors.unavailable();
      throw err;
    }
  }

  return {
    tokens,
    screen,
    chat,
    async models(authorization) {
      const claims = await claimsOf(authorization);
      if (!claims) return errorReply(gatewayErrors.badToken());
      const problem = await attemptProblem(claims);
      if (problem) return errorReply(gatewayErrors.expiredToken(problem));
      const data = router
        .listed()
        .map((m) => ({ id: m.id, object: 'model', created: 0, owned_by: m.owned_by }));
      return { status: 200, body: JSON.stringify({ object: 'list', data }) };
    },
    async settled(taskId, attempt) {
      // Every report settles before its transition: from here on, the attempt's token is
      // checked against the database again, here at once and on the other replicas when their
      // NOTIFY arrives.
      const ending = attemptKey(taskId, attempt);
      attemptsLive.ended([ending]);
      deps.attemptEnds?.publish([ending]);
      const graceMs = config.LLM_INFLIGHT_GRACE_SECONDS * 1000;
      // This process's calls of the attempt, and those other replicas relay, side by side.
      const [here, elsewhere] = await Promise.all([
        records.settled(taskId, attempt, graceMs, SETTLE_RECORD_LIMIT_MS),
        settleElsewhere(inFlight, taskId, attempt, graceMs, SETTLE_RECORD_LIMIT_MS),
      ]);
      return here && elsewhere;
    },
    async close() {
      unsubscribe?.();
      await keeper.stop();
      await records.drain();
      router.close();
    },
  };
}

function errorReply(e: OpenAiError) {
  return { status: e.status, body: errorJson(e) };
}

function send(res: ServerResponse, requestId: string, status: number, body: string): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { 'content-type': 'application/json', 'x-request-id': requestId });
  res.end(body);
}
