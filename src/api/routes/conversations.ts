/**
 * /api/v1/llm-conversations: read the recorded LLM sessions. `stats/summary` and
 * `task/:task_id/...` are static prefixes, which the router matches before `:id`.
 * The answers keep the Python task executor's shapes (a bare list for a task's conversations,
 * page_size 20 by default) with our fields added (issue 10).
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { ApiError } from '../errors.ts';
import { resolvePage } from '../pagination.ts';
import { described, errors, IdParams, Uuid } from '../schemas/common.ts';
import {
  CallsQuery,
  CallsResponse,
  ConversationListQuery,
  ConversationListResponse,
  ConversationQuery,
  ConversationStatsResponse,
  ConversationWithMessages,
  MAX_MESSAGES_PAGE,
  MessagesQuery,
  MessagesResponse,
  TaskConversationsResponse,
} from '../schemas/conversations.ts';
import type { RouteOptions } from '../types.ts';

const tags = ['llm conversations'];

/** The Python task executor's default page size for the conversation list. */
const DEFAULT_PAGE_SIZE = 20;

/** The paging query as the store takes it; a page is bounded, so no answer grows with the conversation. */
const pageOf = (q: { after_seq?: number; limit?: number }) => ({
  afterSeq: q.after_seq,
  limit: q.limit ?? MAX_MESSAGES_PAGE,
});

export const conversationRoutes: FastifyPluginAsyncTypebox<RouteOptions> = async (app, { deps }) => {
  const store = deps.conversations;
  const mustGet = async (id: string) => {
    const c = await store.get(id);
    if (!c) throw new ApiError('CONVERSATION_NOT_FOUND', `Conversation ${id} not found`);
    return c;
  };

  app.get(
    '/llm-conversations',
    {
      schema: {
        tags,
        summary: 'List conversations, newest first',
        querystring: ConversationListQuery,
        response: {
          200: described(
            'A page of conversations, newest first, with the paging fields.',
            ConversationListResponse,
          ),
          ...errors(422, 503),
        },
      },
    },
    async (req) => {
      const page = resolvePage(req.query, DEFAULT_PAGE_SIZE);
      const { conversations, total } = await store.list({
        task_id: req.query.task_id,
        model_name: req.query.model_name,
        policy_version_min: req.query.policy_version_min,
        policy_version_max: req.query.policy_version_max,
        limit: page.limit,
        offset: page.offset,
      });
      return { conversations, total, ...page };
    },
  );

  app.get(
    '/llm-conversations/stats/summary',
    {
      schema: {
        tags,
        summary: 'Totals: conversations, tokens, cost, success ratio, by model',
        response: {
          200: described('Totals over every recorded conversation.', ConversationStatsResponse),
          ...errors(503),
        },
      },
    },
    () => store.stats(),
  );

  app.get(
    '/llm-conversations/task/:task_id/conversations',
    {
      schema: {
        tags,
        summary: 'All conversations of one task, newest first (a list; X-Total-Count holds its length)',
        params: Type.Object({ task_id: Uuid }),
        response: { 200: TaskConversationsResponse, ...errors(404, 422, 503) },
      },
    },
    async (req, reply) => {
      const conversations = await store.listByTask(req.params.task_id);
      if (!conversations) throw new ApiError('TASK_NOT_FOUND', `Task ${req.params.task_id} not found`);
      // The list is the body (what the Python executor's clients iterate); the count rides in a header.
      reply.header('x-total-count', String(conversations.length));
      return conversations;
    },
  );

  app.get(
    '/llm-conversations/:id',
    {
      schema: {
        tags,
        summary: 'One conversation with its messages (in seq order, one page)',
        params: IdParams,
        querystring: ConversationQuery,
        response: {
          200: described(
            'The conversation and one page of its messages (`next_after_seq` reads on).',
            ConversationWithMessages,
          ),
          ...errors(404, 422, 503),
        },
      },
    },
    async (req) => {
      const conversation = await mustGet(req.params.id);
      return { ...conversation, ...(await store.messagePage(conversation.id, pageOf(req.query))) };
    },
  );

  app.get(
    '/llm-conversations/:id/messages',
    {
      schema: {
        tags,
        summary: 'Messages of one conversation (one page), optionally of one role',
        params: IdParams,
        querystring: MessagesQuery,
        response: {
          200: described('One page of the conversation’s messages, in seq order.', MessagesResponse),
          ...errors(404, 422, 503),
        },
      },
    },
    async (req) => {
      await mustGet(req.params.id);
      const page = await store.messagePage(req.params.id, { ...pageOf(req.query), role: req.query.role });
      return { conversation_id: req.params.id, total_messages: page.messages.length, ...page };
    },
  );

  app.get(
    '/llm-conversations/:id/calls',
    {
      schema: {
        tags,
        summary: 'The calls of one conversation: request, response, usage, timing, token data',
        params: IdParams,
        querystring: CallsQuery,
        response: {
          200: described('The conversation’s calls in seq order (one page).', CallsResponse),
          ...errors(404, 422, 503),
        },
      },
    },
    async (req) => {
      await mustGet(req.params.id);
      const calls = await store.calls(req.params.id, {
        afterSeq: req.query.after_seq ?? 0,
        limit: req.query.limit ?? 100,
        includeResponse: req.query.include_response ?? true,
      });
      return { conversation_id: req.params.id, calls };
    },
  );
};
