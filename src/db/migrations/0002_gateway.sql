-- The LLM gateway's recording schema (gateway/recorder.ts writes it, gateway/conversations.ts reads it).
--
-- Conversations are keyed by (task, attempt, key): each attempt of a task gets its own
-- conversations, and an agent may run several at once (X-Conversation-Id).
--
-- Messages are stored once. Each row knows its parent (the message before it in the prompt
-- it arrived in) and the hash of the whole context up to and including itself (prefix_hash),
-- so the messages form a tree that is a plain list while the agent only appends. A call whose
-- prompt extends the conversation's head stores only the new messages; a call that rewrote
-- history hangs its new messages under the deepest stored message its prompt still matches.
-- Any call's prompt is rebuilt by walking parent_seq from prompt_last_seq.

ALTER TABLE llm_conversations
  ADD COLUMN attempt integer,
  ADD COLUMN conversation_key text,
  ADD COLUMN call_count integer NOT NULL DEFAULT 0,
  ADD COLUMN cached_tokens bigint NOT NULL DEFAULT 0,
  ADD COLUMN reasoning_tokens bigint NOT NULL DEFAULT 0,
  -- Calls that used tokens but have no known price: their cost is missing from `cost`.
  ADD COLUMN unpriced_calls integer NOT NULL DEFAULT 0,
  -- The end of the newest call's context: its reply, or its last prompt message when it had none.
  ADD COLUMN head_seq integer,
  ADD COLUMN head_depth integer NOT NULL DEFAULT 0,
  ADD COLUMN head_hash text;
CREATE UNIQUE INDEX llm_conversations_key_idx ON llm_conversations (task_id, attempt, conversation_key);

ALTER TABLE llm_messages
  ADD COLUMN parent_seq integer,
  -- Position in its context, 1-based (the first message of a prompt has depth 1).
  ADD COLUMN depth integer NOT NULL DEFAULT 0,
  ADD COLUMN prefix_hash text;
CREATE INDEX llm_messages_prefix_idx ON llm_messages (conversation_id, prefix_hash);

-- Never written before this migration (the gateway did not exist), so it is rebuilt, not altered.
DROP TABLE llm_calls;
CREATE TABLE llm_calls (
  id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  conversation_id       uuid NOT NULL REFERENCES llm_conversations (id) ON DELETE CASCADE,
  task_id               uuid,
  attempt               integer,
  seq                   integer NOT NULL,
  upstream              text NOT NULL,
  model_requested       text NOT NULL,
  model                 text,
  stream                boolean NOT NULL,
  -- The request minus its messages (those are in llm_messages), exactly as the client sent it.
  request               jsonb NOT NULL,
  -- Fields the gateway added to the upstream request and removed from the client's response.
  injected              jsonb NOT NULL DEFAULT '[]'::jsonb,
  prompt_message_count  integer NOT NULL,
  prompt_last_seq       integer,
  first_new_seq         integer,
  reply_seq             integer,
  prefix_consistent     boolean NOT NULL,
  -- When not prefix-consistent: how many leading prompt messages matched stored context.
  diverged_at           integer,
  -- The upstream's response document, or the stream reassembled (partial when it broke off).
  response              jsonb,
  finish_reasons        jsonb,
  status                integer,
  end_reason            text NOT NULL,
  error                 text,
  usage                 jsonb,
  prompt_tokens         integer,
  completion_tokens     integer,
  total_tokens          integer,
  cached_tokens         integer,
  reasoning_tokens      integer,
  has_token_ids         boolean NOT NULL DEFAULT false,
  has_logprobs          boolean NOT NULL DEFAULT false,
  cost                  double precision,
  latency_ms            double precision,
  ttft_ms               double precision,
  started_at            timestamptz NOT NULL,
  completed_at          timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT llm_calls_conversation_seq_key UNIQUE (conversation_id, seq)
);
CREATE INDEX llm_calls_task_idx ON llm_calls (task_id);

-- Secrets the server generates once and every replica shares (the task-token signing key).
CREATE TABLE server_secrets (
  name       text PRIMARY KEY,
  value      text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
