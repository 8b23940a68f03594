/** What every route module receives: the typed Fastify instance and the app's dependencies. */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type {
  FastifyBaseLogger,
  FastifyInstance,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
} from 'fastify';
import type { Attempts } from '../attempts/index.ts';
import type { Config } from '../config/index.ts';
import type { FeedHub } from '../datasets/feed-hub.ts';
import type { ConversationStore } from '../gateway/conversations.ts';
import type { Gateway } from '../gateway/gateway.ts';
import type { Queue } from '../queue/queue.ts';
import type { WorkerPoolControl } from '../worker/pool.ts';
import type { FeedPayloads } from './feed-payloads.ts';
import type { ApiMetrics } from './metrics.ts';

export type Api = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

export interface RouteDeps {
  config: Config;
  queue: Queue;
  pool: WorkerPoolControl | undefined;
  conversations: ConversationStore;
  gateway: Gateway;
  /** One attempt's life: claims with their gateway tokens, fenced reports that settle its LLM calls. */
  attempts: Attempts;
  metrics: ApiMetrics;
  /** The process's reader of the live feed (event streams subscribe to it). */
  feed: FeedHub;
  /** What each feed event carries, built once per event for all subscribers. */
  payloads: FeedPayloads;
  /** Aborted when the app starts closing, so long-polls end at once instead of holding shutdown. */
  closing: AbortSignal;
  version: string;
}

export interface RouteOptions {
  deps: RouteDeps;
}
