/**
 * The LLM gateway's exchange, for the OpenAPI document only. The gateway relays OpenAI
 * chat-completions bodies to the upstream as they are (any field an SDK or a provider adds
 * must pass), so no route validates against these: routes/llm.ts hands them to the docs as
 * `config.documented`. They are open (`additionalProperties`) for the same reason.
 */
import { Type } from 'typebox';

const Open = { additionalProperties: true } as const;

const ChatMessage = Type.Object(
  {
    role: Type.String({ description: 'system, user, assistant or tool.' }),
    content: Type.Optional(Type.Union([Type.String(), Type.Array(Type.Object({}, Open)), Type.Null()])),
    tool_calls: Type.Optional(Type.Array(Type.Object({}, Open))),
    tool_call_id: Type.Optional(Type.String()),
    name: Type.Optional(Type.String()),
  },
  Open,
);

export const ChatCompletionRequest = Type.Object(
  {
    model: Type.String({
      description:
        'Picks the upstream: `scripted:*` are built in (no key, no network); others follow LLM_MODEL_ROUTES / LLM_UPSTREAMS.',
    }),
    messages: Type.Array(ChatMessage, { minItems: 1 }),
    stream: Type.Optional(Type.Boolean({ description: 'true: the reply is a text/event-stream of chunks.' })),
    temperature: Type.Optional(Type.Number()),
    max_tokens: Type.Optional(Type.Integer()),
    tools: Type.Optional(Type.Array(Type.Object({}, Open))),
    metadata: Type.Optional(
      Type.Object(
        { conversation_id: Type.Optional(Type.String({ description: 'Same as X-Conversation-Id.' })) },
        Open,
      ),
    ),
  },
  {
    ...Open,
    description: 'Any OpenAI chat-completions request; it is forwarded as sent (other fields included).',
    examples: [
      {
        model: 'scripted:echo',
        messages: [
          { role: 'system', content: 'You are an SRE agent.' },
          { role: 'user', content: 'Which pod is failing?' },
        ],
        temperature: 0,
      },
    ],
  },
);

export const ChatCompletionReply = Type.Object(
  {
    id: Type.String(),
    object: Type.String({ description: 'chat.completion' }),
    created: Type.Integer(),
    model: Type.String(),
    choices: Type.Array(Type.Object({}, Open)),
    usage: Type.Optional(Type.Object({}, Open)),
  },
  {
    ...Open,
    description:
      'The upstream’s answer as it sent it (recorded on the task’s conversation); with `stream: true`, a text/event-stream of chunks ending in `data: [DONE]`.',
  },
);

export const ModelList = Type.Object(
  {
    object: Type.String({ description: 'list' }),
    data: Type.Array(Type.Object({ id: Type.String(), object: Type.String() }, Open)),
  },
  { description: 'The model names the gateway routes (OpenAI list format).' },
);

/** Errors on /llm/v1 are OpenAI-shaped, so SDKs read them. */
export const OpenAiErrorBody = Type.Object(
  {
    error: Type.Object({
      message: Type.String(),
      type: Type.String({ description: 'invalid_request_error, upstream_error, timeout or server_error.' }),
      param: Type.Union([Type.String(), Type.Null()]),
      code: Type.Union([Type.String(), Type.Null()]),
    }),
  },
  { description: 'An OpenAI-shaped error.' },
);

export const ConversationHeader = Type.Object({
  'x-conversation-id': Type.Optional(
    Type.String({
      description:
        'Records the call on this named conversation of the attempt (several agents in one task); default: one per attempt.',
    }),
  ),
});
