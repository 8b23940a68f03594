-- Task Executor schema, version 1. Migrations are immutable: change the schema with a new file.

CREATE TABLE tasks (
  id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  -- Strictly increasing submit order: breaks priority ties FIFO, also inside one batch
  -- (every row of a batch shares created_at, which is the transaction's now()).
  seq                 bigint GENERATED ALWAYS AS IDENTITY,
  problem_id          text NOT NULL,
  status              text NOT NULL DEFAULT 'pending'
                      CONSTRAINT tasks_status_check
                      CHECK (status IN ('pending', 'running', 'completed', 'failed', 'timeout', 'cancelled')),
  priority            smallint NOT NULL DEFAULT 5 CONSTRAINT tasks_priority_check CHECK (priority BETWEEN 0 AND 10),
  backend_type        text,
  -- max_steps, timeout_minutes, agent_config, callback_url, metadata, labels
  parameters          jsonb NOT NULL DEFAULT '{}'::jsonb,
  worker_id           text,
  -- The fencing token: incremented by every claim; only the holder of the current attempt may report.
  attempt             integer NOT NULL DEFAULT 0,
  max_attempts        integer NOT NULL DEFAULT 1 CONSTRAINT tasks_max_attempts_check CHECK (max_attempts >= 1),
  -- Claims given back by a draining worker; they do not count against max_attempts.
  releases            integer NOT NULL DEFAULT 0,
  lease_expires_at    timestamptz,
  deadline_at         timestamptz,
  cancel_requested_at timestamptz,
  result              jsonb,
  error_details       jsonb,
  idempotency_key     text CONSTRAINT tasks_idempotency_key_key UNIQUE,
  callback_state      text CONSTRAINT tasks_callback_state_check CHECK (callback_state IN ('pending', 'delivered', 'failed')),
  callback_attempts   integer NOT NULL DEFAULT 0,
  callback_next_at    timestamptz,
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now(),
  started_at          timestamptz,
  completed_at        timestamptz
);

-- The claim reads this index in order and stops at its limit: cost stays flat as the backlog grows.
CREATE INDEX tasks_claim_idx ON tasks (priority DESC, seq) WHERE status = 'pending';
-- Running rows are few (bounded by worker slots): the reaper's scans and the per-worker running
-- count read them through this index. lease_expires_at is deliberately NOT indexed, so a
-- heartbeat's lease extension changes no indexed column and can be a HOT update.
CREATE INDEX tasks_running_idx ON tasks (worker_id) WHERE status = 'running';
CREATE INDEX tasks_worker_status_idx ON tasks (worker_id, status);
CREATE INDEX tasks_created_idx ON tasks (created_at DESC, seq DESC);
CREATE INDEX tasks_problem_idx ON tasks (problem_id);
CREATE INDEX tasks_labels_idx ON tasks USING gin ((parameters -> 'labels') jsonb_path_ops);
CREATE INDEX tasks_callback_due_idx ON tasks (callback_next_at) WHERE callback_state = 'pending';

CREATE TABLE task_logs (
  -- Monotonic cursor for feeds (`after=`).
  id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  task_id   uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
  timestamp timestamptz NOT NULL DEFAULT now(),
  level     text NOT NULL CONSTRAINT task_logs_level_check
            CHECK (level IN ('debug', 'info', 'warning', 'error', 'critical')),
  message   text NOT NULL,
  context   jsonb,
  source    text NOT NULL DEFAULT 'worker',
  attempt   integer
);
CREATE INDEX task_logs_task_idx ON task_logs (task_id, id);

CREATE TABLE workers (
  id                  text PRIMARY KEY,
  backend_type        text NOT NULL,
  -- idle | offline | draining are stored; "busy" is derived from running tasks when read.
  status              text NOT NULL DEFAULT 'idle'
                      CONSTRAINT workers_status_check CHECK (status IN ('idle', 'busy', 'offline', 'draining')),
  capabilities        jsonb NOT NULL DEFAULT '{}'::jsonb,
  max_parallel_tasks  integer NOT NULL DEFAULT 1,
  -- supported_problems compiled to LIKE patterns at registration; empty = every problem.
  problem_patterns    text[] NOT NULL DEFAULT '{}',
  metadata            jsonb NOT NULL DEFAULT '{}'::jsonb,
  last_heartbeat      timestamptz NOT NULL DEFAULT now(),
  registered_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE llm_conversations (
  id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  seq               bigint GENERATED ALWAYS AS IDENTITY,
  task_id           uuid REFERENCES tasks (id) ON DELETE CASCADE,
  session_id        text,
  model_name        text,
  model_config      jsonb NOT NULL DEFAULT '{}'::jsonb,
  started_at        timestamptz NOT NULL DEFAULT now(),
  ended_at          timestamptz,
  message_count     integer NOT NULL DEFAULT 0,
  prompt_tokens     bigint NOT NULL DEFAULT 0,
  completion_tokens bigint NOT NULL DEFAULT 0,
  total_tokens      bigint NOT NULL DEFAULT 0,
  cost              double precision,
  success           boolean,
  metadata          jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX llm_conversations_task_idx ON llm_conversations (task_id);
CREATE INDEX llm_conversations_model_idx ON llm_conversations (model_name);

CREATE TABLE llm_messages (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  conversation_id uuid NOT NULL REFERENCES llm_conversations (id) ON DELETE CASCADE,
  seq             integer NOT NULL,
  role            text NOT NULL,
  content         jsonb,
  tool_calls      jsonb,
  tool_call_id    text,
  name            text,
  metadata        jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at      timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT llm_messages_conversation_seq_key UNIQUE (conversation_id, seq)
);

CREATE TABLE llm_calls (
  id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  conversation_id   uuid NOT NULL REFERENCES llm_conversations (id) ON DELETE CASCADE,
  seq               integer NOT NULL,
  prompt_from_seq   integer,
  prompt_to_seq     integer,
  request           jsonb NOT NULL,
  response          jsonb,
  status            integer,
  latency_ms        double precision,
  ttft_ms           double precision,
  prompt_tokens     integer,
  completion_tokens integer,
  cost              double precision,
  error             text,
  created_at        timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT llm_calls_conversation_seq_key UNIQUE (conversation_id, seq)
);

-- Claim (pending → running), called by queue/transitions.ts.
-- The worker's row is locked first, so two concurrent claims by one worker serialise and
-- cannot both see free slots; the update records its liveness. The picked CTE
-- reads tasks_claim_idx in (priority DESC, seq) order, skips rows other claimers have locked,
-- and stops at the number of free slots. Affinity: a task with a backend_type only matches
-- workers of that type; problem_patterns are LIKE patterns compiled from supported_problems
-- (empty = all). A draining worker gets nothing.
-- Why a function: right after a large submit the table statistics are stale, and the planner
-- then prefers a bitmap scan plus a sort over EVERY pending row (measured: 2.7 ms instead of
-- 0.1 ms per claim at 5k pending, growing with the backlog; the 20k-task drain ran at 4.7k/s
-- instead of 8.4k/s). The function's SET clauses pin the ordered index scan for this
-- statement alone, so claim cost stays flat whatever the statistics say.
CREATE FUNCTION claim_tasks(p_worker text, p_max integer, p_lease_seconds integer)
RETURNS SETOF tasks
LANGUAGE sql
SET enable_bitmapscan = off
SET enable_sort = off
SET enable_seqscan = off
AS $$
-- A statement of its own: a VOLATILE SQL function takes a fresh snapshot per statement, so the
-- running count below sees the tasks a concurrent claim by this worker committed while we
-- waited for this lock (inside one statement the count would use the pre-wait snapshot).
SELECT 1 FROM workers WHERE id = p_worker FOR UPDATE;
WITH w AS (
  UPDATE workers SET last_heartbeat = now(), status = CASE WHEN status = 'offline' THEN 'idle' ELSE status END
  WHERE id = p_worker AND status <> 'draining'
  RETURNING id, backend_type, problem_patterns, max_parallel_tasks
), free AS (
  SELECT GREATEST(0, LEAST(p_max, w.max_parallel_tasks -
    (SELECT count(*) FROM tasks r WHERE r.worker_id = w.id AND r.status = 'running')::int)) AS n
  FROM w
), picked AS (
  SELECT t.id FROM tasks t
  WHERE t.status = 'pending'
    AND (t.backend_type IS NULL OR t.backend_type = (SELECT backend_type FROM w))
    AND (cardinality((SELECT problem_patterns FROM w)) = 0
         OR t.problem_id LIKE ANY ((SELECT problem_patterns FROM w)::text[]))
  ORDER BY t.priority DESC, t.seq
  -- No row in w (draining or unknown worker) must mean LIMIT 0, not LIMIT NULL (= no limit).
  LIMIT COALESCE((SELECT n FROM free), 0)
  FOR UPDATE OF t SKIP LOCKED
)
UPDATE tasks SET status = 'running', worker_id = p_worker, attempt = tasks.attempt + 1,
  started_at = now(), updated_at = now(),
  lease_expires_at = now() + p_lease_seconds * interval '1 second',
  deadline_at = now() + (tasks.parameters ->> 'timeout_minutes')::numeric * interval '1 minute'
FROM picked WHERE tasks.id = picked.id
RETURNING tasks.*
$$;
