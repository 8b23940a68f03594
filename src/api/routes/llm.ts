/**
 * /llm/v1: the OpenAI-compatible gateway. The routes hand the raw exchange to the gateway,
 * which writes the response itself (a stream must reach the client chunk by chunk), so they
 * hijack the reply. Errors here speak OpenAI's `{ error: { message, type, code } }`, not the
 * API's own error shape, because OpenAI SDKs are the clients.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { errorJson } from '../../gateway/wire.ts';
import {
  ChatCompletionReply,
  ChatCompletionRequest,
  ConversationHeader,
  ModelList,
  OpenAiErrorBody,
} from '../schemas/gateway.ts';
import type { RouteOptions } from '../types.ts';

const tags = ['llm gateway'];

const refused = (description: string) => ({ ...OpenAiErrorBody, description });
const TOKEN_REFUSED = refused('No valid task token, or its attempt has ended.');

/** Fastify's own refusals, named the way the gateway's errors are. */
const CLIENT_ERROR_CODES: Record<number, string> = {
  400: 'invalid_request',
  413: 'request_too_large',
  415: 'unsupported_media_type',
};

export const llmRoutes: FastifyPluginAsyncTypebox<RouteOptions> = async (app, { deps }) => {
  const { gateway, config } = deps;

  // Scoped to /llm/v1: what Fastify itself refuses here (bad JSON, wrong content type, a body
  // over the limit, an unknown path) is answered in OpenAI's shape too, so SDKs read it.
  app.setErrorHandler((error, req, reply) => {
    const err = error as { statusCode?: number; code?: string; message: string };
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) req.log.error({ err }, 'gateway request failed');
    const message = status === 500 ? 'Internal gateway error' : err.message;
    return reply
      .code(status)
      .type('application/json')
      .send(
        errorJson({
          message,
          type: status === 500 ? 'server_error' : 'invalid_request_error',
          code: CLIENT_ERROR_CODES[status] ?? (status === 500 ? null : 'invalid_request'),
        }),
      );
  });
  app.setNotFoundHandler((req, reply) =>
    reply
      .code(404)
      .type('application/json')
      .send(
        errorJson({
          message: `The gateway has no ${req.method} ${req.url.split('?')[0]?.slice(0, 200)}; it serves POST /llm/v1/chat/completions and GET /llm/v1/models.`,
          type: 'invalid_request_error',
          code: 'unknown_url',
        }),
      ),
  );

  app.post(
    '/chat/completions',
    {
      bodyLimit: config.LLM_MAX_REQUEST_BYTES,
      // Shown in the docs, never validated: the body goes upstream as sent.
      config: {
        documented: {
          body: ChatCompletionRequest,
          headers: ConversationHeader,
          response: {
            200: {
              description: 'The completion, as the upstream answered (recorded on the task’s conversation).',
              content: {
                'application/json': { schema: ChatCompletionReply },
                'text/event-stream': { schema: { type: 'string', description: 'With `stream: true`.' } },
              },
            },
            400: refused('Malformed request, or a model no upstream serves (`code` says which).'),
            401: TOKEN_REFUSED,
            409: refused('The attempt ended while the call was in flight.'),
            413: refused('The body is larger than LLM_MAX_REQUEST_BYTES.'),
            502: refused('The upstream could not be reached or failed.'),
            504: refused('The upstream did not answer in time.'),
          },
        },
      },
      // Before the body is read: without a validly signed token, nothing is buffered or parsed.
      onRequest: async (req, reply) => {
        const refused = await gateway.screen(req.headers.authorization);
        if (refused)
          return reply
            .code(refused.status)
            .header('connection', 'close')
            .type('application/json')
            .send(errorJson(refused));
      },
      schema: {
        tags,
        summary: 'OpenAI-compatible chat completions, recorded (streaming and not)',
        description:
          'Authorization: `Bearer <llm_api_key from the claim>`. The body is any OpenAI chat-completions request; it is forwarded to the upstream chosen by `model` and the exchange is recorded on the task’s conversation (`X-Conversation-Id` header or `metadata.conversation_id` picks one; default one per attempt).',
      },
    },
    async (req, reply) => {
      reply.hijack();
      const header = req.headers['x-conversation-id'];
      try {
        await gateway.chat({
          body: req.body,
          authorization: req.headers.authorization,
          conversationHeader: typeof header === 'string' ? header : undefined,
          requestId: req.id,
          res: reply.raw,
        });
      } catch (err) {
        req.log.error({ err }, 'gateway call failed');
        if (!reply.raw.headersSent) {
          reply.raw.writeHead(500, { 'content-type': 'application/json', 'x-request-id': req.id });
          reply.raw.end(
            JSON.stringify({
              error: { message: 'Internal gateway error', type: 'server_error', param: null, code: null },
            }),
          );
        } else reply.raw.end();
      }
    },
  );

  app.get(
    '/models',
    {
      schema: { tags, summary: 'Models the gateway routes by name (OpenAI list format)' },
      config: { documented: { response: { 200: ModelList, 401: TOKEN_REFUSED } } },
    },
    async (req, reply) => {
      const { status, body } = await gateway.models(req.headers.authorization);
      return reply.code(status).type('application/json').send(body);
    },
  );
};
