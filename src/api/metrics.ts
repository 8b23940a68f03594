/**
 * Prometheus metrics on a registry of the app's own (never prom-client's global one, so two
 * apps in one process, as in tests, do not collide). Queue and worker gauges are read from
 * the database at scrape time; counters follow the queue's events; the reaper's rescues are
 * recorded by whoever runs it (`recordReap`). Gauge names follow the seed (task_queue_size,
 * worker_count).
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { CallObservation } from '../gateway/gateway.ts';
import type { Queue } from '../queue/queue.ts';
import type { UpkeepResult } from '../queue/retention.ts';
import type { ReapResult, TaskStatus, WorkerStatus } from '../queue/types.ts';

export interface ApiMetrics {
  registry: Registry;
  /** Counts what one reaper pass did (requeued, failed, cancelled, timed out, workers marked offline). */
  recordReap(result: ReapResult): void;
  /** Counts what one upkeep pass deleted (retention). */
  recordUpkeep(result: UpkeepResult): void;
  observeRequest(method: string, route: string, statusCode: number, seconds: number): void;
  /** Event streams: a client connected, events sent to it, and why it went. */
  feedOpened(stream: FeedStreamName): void;
  feedSent(stream: FeedStreamName, events: number): void;
  feedClosed(stream: FeedStreamName, reason: string): void;
  /** One finished LLM gateway call. */
  observeLlmCall(o: CallObservation): void;
  /** Reads the gauges from the database and renders the exposition text. */
  render(): Promise<string>;
  /** Detaches from the queue's events. */
  close(): void;
}

export type FeedStreamName = 'trajectories' | 'events' | 'logs';

const REAP_KINDS = [
  'requeued',
  'failed',
  'cancelled',
  'timed_out',
  'workers_offline',
  'leases_honoured',
] as const;

export function createMetrics(queue: Queue, opts: { defaultMetrics?: boolean } = {}): ApiMetrics {
  const registry = new Registry();
  if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  const registers = [registry];

  const queueSize = new Gauge({
    name: 'task_queue_size',
    help: 'Tasks by status',
    labelNames: ['status'],
    registers,
  });
  const oldestPending = new Gauge({
    name: 'task_queue_oldest_pending_seconds',
    help: 'Age of the oldest pending task (0 when none)',
    registers,
  });
  const workers = new Gauge({
    name: 'worker_count',
    help: 'Workers by status',
    labelNames: ['status'],
    registers,
  });
  const dbUp = new Gauge({
    name: 'task_executor_database_up',
    help: '1 when the last scrape reached the database',
    registers,
  });
  const claims = new Counter({ name: 'task_claims_total', help: 'Tasks handed to workers', registers });
  const fencing = new Counter({
    name: 'task_fencing_rejections_total',
    help: 'Worker reports refused because the worker no longer held the task, by reason',
    labelNames: ['code'],
    registers,
  });
  const reaped = new Counter({
    name: 'task_reaper_actions_total',
    help: 'What the reaper did: tasks requeued, failed, cancelled, timed out; workers marked offline',
    labelNames: ['action'],
    registers,
  });
  const retained = new Counter({
    name: 'task_retention_deleted_total',
    help: 'Rows deleted by RETENTION_DAYS: finished tasks, their logs, LLM messages and calls',
    labelNames: ['kind'],
    registers,
  });
  const httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration',
    labelNames: ['method', 'route', 'status_code'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers,
  });

  const feedClients = new Gauge({
    name: 'feed_subscribers',
    help: 'Clients connected to an event stream (trajectories, events, logs)',
    labelNames: ['stream'],
    registers,
  });
  const feedEvents = new Counter({
    name: 'feed_events_sent_total',
    help: 'Events written to stream clients',
    labelNames: ['stream'],
    registers,
  });
  const feedEnds = new Counter({
    name: 'feed_disconnects_total',
    help: 'Stream clients gone, by reason (client, slow_consumer, shutdown, error, end)',
    labelNames: ['stream', 'reason'],
    registers,
  });

  const llm = llmMetrics(registers);
  const onClaimed = (n: number) => claims.inc(n);
  const onFencing = (code: string) => fencing.inc({ code });
  queue.events.on('claimed', onClaimed);
  queue.events.on('fencing_rejected', onFencing);

  async function readGauges(): Promise<void> {
    try {
      const [counts, oldest, byWorker] = await Promise.all([
        queue.statusCounts(),
        queue.oldestPendingAgeSeconds(),
        queue.workerCountsByStatus(),
      ]);
      for (const [status, n] of Object.entries(counts) as [TaskStatus, number][])
        queueSize.set({ status }, n);
      oldestPending.set(oldest ?? 0);
      for (const [status, n] of Object.entries(byWorker) as [WorkerStatus, number][])
        workers.set({ status }, n);
      dbUp.set(1);
    } catch {
      // The counters are still worth serving when the database is down; the gauge says so.
      dbUp.set(0);
    }
  }

  return {
    registry,
    recordReap(result) {
      for (const kind of REAP_KINDS) if (result[kind] > 0) reaped.inc({ action: kind }, result[kind]);
    },
    recordUpkeep(result) {
      for (const kind of ['tasks', 'logs', 'llm_messages', 'llm_calls', 'feed_events'] as const)
        if (result[kind] > 0) retained.inc({ kind }, result[kind]);
    },
    observeRequest(method, route, statusCode, seconds) {
      httpDuration.observe({ method, route, status_code: String(statusCode) }, seconds);
    },
    feedOpened: (stream) => feedClients.inc({ stream }),
    feedSent: (stream, n) => feedEvents.inc({ stream }, n),
    feedClosed(stream, reason) {
      feedClients.dec({ stream });
      feedEnds.inc({ stream, reason });
    },
    observeLlmCall: llm,
    async render() {
      await readGauges();
      return registry.metrics();
    },
    close() {
      queue.events.off('claimed', onClaimed);
      queue.events.off('fencing_rejected', onFencing);
    },
  };
}

/** Gateway calls: count by outcome, latency, time to first token, tokens, and calls not recorded. */
function llmMetrics(registers: Registry[]): (o: CallObservation) => void {
  const calls = new Counter({
    name: 'llm_calls_total',
    help: 'LLM gateway calls by upstream and how they ended',
    labelNames: ['upstream', 'end_reason'],
    registers,
  });
  const unrecorded = new Counter({
    name: 'llm_calls_unrecorded_total',
    help: 'LLM calls whose record could not be written (database trouble); should stay 0',
    registers,
  });
  const latency = new Histogram({
    name: 'llm_call_duration_seconds',
    help: 'LLM call duration through the gateway',
    labelNames: ['upstream'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
    registers,
  });
  const ttft = new Histogram({
    name: 'llm_time_to_first_token_seconds',
    help: 'Time to the first streamed output chunk',
    labelNames: ['upstream'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers,
  });
  const tokens = new Counter({
    name: 'llm_tokens_total',
    help: 'Tokens reported by upstreams',
    labelNames: ['upstream', 'kind'],
    registers,
  });
  return (o) => {
    calls.inc({ upstream: o.upstream, end_reason: o.endReason });
    if (!o.recorded) unrecorded.inc();
    latency.observe({ upstream: o.upstream }, o.latencySeconds);
    if (o.ttftSeconds !== null) ttft.observe({ upstream: o.upstream }, o.ttftSeconds);
    if (o.promptTokens && o.promptTokens > 0)
      tokens.inc({ upstream: o.upstream, kind: 'prompt' }, o.promptTokens);
    if (o.completionTokens && o.completionTokens > 0)
      tokens.inc({ upstream: o.upstream, kind: 'completion' }, o.completionTokens);
  };
}
