-- LLM calls between "forwarded upstream" and "recorded" (gateway/in-flight.ts).
--
-- A row is written before a call is forwarded and deleted by the very statement that records
-- the call, so a call is always in exactly one of the two places. What it makes possible:
--   - a report on one API replica waits for (and, after the grace, cuts) the attempt's calls
--     relayed by ANOTHER replica: `cut_requested` asks the owner to abort them;
--   - a call in flight when its API process died is found afterwards (its owner stopped
--     touching `seen_at`) and recorded from this row as `interrupted`, prompt included.
CREATE TABLE llm_calls_in_flight (
  id               uuid PRIMARY KEY,
  conversation_id  uuid NOT NULL REFERENCES llm_conversations (id) ON DELETE CASCADE,
  task_id          uuid NOT NULL,
  attempt          integer NOT NULL,
  -- The API process relaying the call (a random id per process start).
  instance         text NOT NULL,
  upstream         text NOT NULL,
  model_requested  text NOT NULL,
  stream           boolean NOT NULL,
  -- The request minus its messages, the fields the gateway added, and the prompt, as the
  -- recorder would store them (text codec applied).
  request          jsonb NOT NULL,
  injected         jsonb NOT NULL,
  -- When the prompt extends a stored context: that context's last message (its first
  -- base_depth messages are the chain ending there), and `prompt` holds only the rest. So
  -- the row costs the same for message 10 or 10,000 of a conversation.
  base_seq         integer,
  base_depth       integer NOT NULL DEFAULT 0,
  prompt           jsonb NOT NULL,
  started_at       timestamptz NOT NULL,
  -- Renewed by the owner while the call runs; a row not renewed for long has lost its owner.
  seen_at          timestamptz NOT NULL DEFAULT now(),
  cut_requested    boolean NOT NULL DEFAULT false
);
CREATE INDEX llm_calls_in_flight_attempt_idx ON llm_calls_in_flight (task_id, attempt);
CREATE INDEX llm_calls_in_flight_instance_idx ON llm_calls_in_flight (instance);
CREATE INDEX llm_calls_in_flight_seen_idx ON llm_calls_in_flight (seen_at);
