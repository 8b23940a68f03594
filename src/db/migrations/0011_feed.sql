-- The live feed (issue 12): one append-only log of what happened to tasks, read by
-- /api/v1/events and /api/v1/trajectories/stream, resumable from a cursor after a disconnect
-- or a server restart.
--
-- Why (txid, id) and not id alone: identity values are handed out when rows are inserted, not
-- when their transactions commit, so id 11 can become visible before id 10. A reader that had
-- passed 11 would never see 10. Each row therefore records the id of the transaction that wrote
-- it, and readers only take rows whose transaction is older than every transaction still
-- running (txid < feed_horizon(), in the reading statement's own
-- snapshot). Such rows are final: every later write gets a larger transaction id. The cursor
-- is the pair (txid, id), in that order.
CREATE TABLE feed_events (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  txid           xid8 NOT NULL DEFAULT pg_current_xact_id(),
  -- task.status | group.completed | reward.updated
  kind           text NOT NULL,
  task_id        uuid,
  experiment_id  uuid,
  group_id       uuid,
  status         text,
  previous_status text,
  reward_id      bigint,
  created_at     timestamptz NOT NULL DEFAULT now()
);
-- The reading rule as one function, so the feed and the log tail apply the same one. Not the
-- plain xmin of the snapshot: transaction ids are cluster-wide, and a writing transaction left
-- open in another database (a migration, a bulk load, an idle-in-transaction session) would
-- hold every feed here back. A running transaction whose backend pg_stat_activity shows
-- connected to another database cannot write these tables, so it is left out; any other
-- running one counts (also when pg_stat_activity cannot tell: the rule errs towards waiting).
-- STABLE, so it reads the calling statement's own snapshot: the one its rows are read with.
CREATE FUNCTION feed_horizon() RETURNS xid8 LANGUAGE sql STABLE AS $$
  SELECT COALESCE(min(x), pg_snapshot_xmax(pg_current_snapshot()))
  FROM pg_snapshot_xip(pg_current_snapshot()) AS x
  WHERE NOT EXISTS (SELECT 1 FROM pg_stat_activity a
                    WHERE a.backend_xid = xid(x) AND a.datname IS DISTINCT FROM current_database())
$$;

-- The feed's order. No foreign keys: retention prunes events by age on its own schedule, and
-- an insert in every transition should check nothing it does not need to.
CREATE INDEX feed_events_cursor_idx ON feed_events (txid, id);
-- A trainer's stream is usually one experiment: resuming it reads only that experiment's events.
CREATE INDEX feed_events_experiment_idx ON feed_events (experiment_id, txid, id) WHERE experiment_id IS NOT NULL;

-- Tasks that finished before this migration get the event of their finish, filed in the order
-- they finished, so the feed (and every export ordered by it) covers the whole history.
INSERT INTO feed_events (kind, task_id, experiment_id, group_id, status, created_at)
SELECT 'task.status', id, experiment_id, group_id, status, COALESCE(completed_at, updated_at)
FROM tasks WHERE status IN ('completed', 'failed', 'timeout', 'cancelled')
ORDER BY COALESCE(completed_at, updated_at), seq;

-- One row per GRPO group: its size and how many of its tasks are not yet terminal. The
-- decrement is an UPDATE of this row, so finishes of the same group on different connections
-- (workers, API replicas) queue on its row lock, and exactly one of them sees the count reach
-- zero and writes group.completed. Counting the group's tasks instead would let two
-- concurrent last finishes each miss the other (READ COMMITTED) and neither would write it.
CREATE TABLE task_groups (
  id             uuid PRIMARY KEY,
  experiment_id  uuid,
  size           integer NOT NULL,
  remaining      integer NOT NULL,
  -- The newest transaction that finished one of its tasks (see tasks_feed_update).
  last_txid      xid8,
  completed_at   timestamptz
);

-- Groups of existing experiment tasks, as they stand (no events for the past).
INSERT INTO task_groups (id, experiment_id, size, remaining, completed_at)
SELECT group_id, min(experiment_id::text)::uuid, count(*),
       count(*) FILTER (WHERE status IN ('pending', 'running')),
       CASE WHEN bool_and(status NOT IN ('pending', 'running')) THEN max(completed_at) END
FROM tasks WHERE group_id IS NOT NULL GROUP BY group_id;

-- Runs beside the counter triggers of 0007, with the same planner settings for the same reason
-- (claim_tasks' SET clauses would otherwise price these statements into JIT).
CREATE FUNCTION tasks_feed_insert() RETURNS trigger LANGUAGE plpgsql
SET enable_sort = on SET enable_seqscan = on SET enable_bitmapscan = on SET jit = off AS $$
BEGIN
  INSERT INTO feed_events (kind, task_id, experiment_id, group_id, status)
  SELECT 'task.status', id, experiment_id, group_id, status FROM new_rows ORDER BY id;
  -- A group is sized by the tasks inserted with it (an experiment's expansion is one statement).
  INSERT INTO task_groups AS g (id, experiment_id, size, remaining)
  SELECT group_id, min(experiment_id::text)::uuid, count(*), count(*) FILTER (WHERE status IN ('pending', 'running'))
  FROM new_rows WHERE group_id IS NOT NULL GROUP BY group_id ORDER BY group_id
  ON CONFLICT (id) DO UPDATE SET size = g.size + EXCLUDED.size, remaining = g.remaining + EXCLUDED.remaining;
  RETURN NULL;
END $$;

-- One event per status change. Terminal changes of grouped tasks decrement their groups (in
-- group id order, so two statements cannot deadlock on group rows); a group that reaches zero
-- gets its group.completed, after the task events of the same statement.
-- The group.completed row must also sort after its members' events from other transactions.
-- Transaction ids are taken at a transaction's first write, not at its commit, so the finish
-- that reaches zero can hold a smaller id than a member that finished (and committed) before
-- it. Each decrement therefore keeps the largest finishing transaction id in last_txid (the
-- UPDATE re-reads the row a concurrent finish committed), and group.completed is filed under
-- that id. Filing a row under a larger id than its writer's is safe for readers: until the
-- writer commits, the reading rule (txid below the oldest running transaction) keeps every
-- cursor below the writer's own id, hence below this row.
CREATE FUNCTION tasks_feed_update() RETURNS trigger LANGUAGE plpgsql
SET enable_sort = on SET enable_seqscan = on SET enable_bitmapscan = on SET jit = off AS $$
DECLARE
  ignored integer;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM old_rows o JOIN new_rows n ON n.id = o.id WHERE o.status <> n.status) THEN
    RETURN NULL;
  END IF;
  INSERT INTO feed_events (kind, task_id, experiment_id, group_id, status, previous_status)
  SELECT 'task.status', n.id, n.experiment_id, n.group_id, n.status, o.status
  FROM old_rows o JOIN new_rows n ON n.id = o.id
  WHERE o.status <> n.status ORDER BY n.id;
  IF NOT EXISTS (SELECT 1 FROM old_rows o JOIN new_rows n ON n.id = o.id
                 WHERE n.group_id IS NOT NULL AND o.status <> n.status
                   AND o.status IN ('pending', 'running') AND n.status NOT IN ('pending', 'running')) THEN
    RETURN NULL;
  END IF;
  WITH finished AS (
    SELECT n.group_id, count(*)::int AS n
    FROM old_rows o JOIN new_rows n ON n.id = o.id
    WHERE n.group_id IS NOT NULL AND o.status IN ('pending', 'running') AND n.status NOT IN ('pending', 'running')
    GROUP BY n.group_id ORDER BY n.group_id
  ), done AS (
    UPDATE task_groups g SET remaining = g.remaining - f.n,
           last_txid = GREATEST(g.last_txid, pg_current_xact_id()),
           completed_at = CASE WHEN g.remaining - f.n <= 0 THEN now() END
    FROM finished f WHERE g.id = f.group_id
    RETURNING g.id, g.experiment_id, g.remaining, g.last_txid
  )
  INSERT INTO feed_events (kind, experiment_id, group_id, txid)
  SELECT 'group.completed', experiment_id, id, last_txid FROM done WHERE remaining <= 0 ORDER BY id;
  RETURN NULL;
END $$;

CREATE TRIGGER tasks_feed_insert AFTER INSERT ON tasks
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tasks_feed_insert();
CREATE TRIGGER tasks_feed_update AFTER UPDATE ON tasks
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tasks_feed_update();

-- A reward written later reaches the trajectory feed as reward.updated.
CREATE FUNCTION task_rewards_feed() RETURNS trigger LANGUAGE plpgsql
SET jit = off AS $$
BEGIN
  INSERT INTO feed_events (kind, task_id, experiment_id, group_id, reward_id)
  SELECT 'reward.updated', r.task_id, t.experiment_id, t.group_id, r.id
  FROM new_rows r JOIN tasks t ON t.id = r.task_id ORDER BY r.id;
  RETURN NULL;
END $$;

CREATE TRIGGER task_rewards_feed AFTER INSERT ON task_rewards
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION task_rewards_feed();

-- Logs carry the same transaction id, so a log tail resumes by (txid, id) as the feed does.
-- Added without a default first, then given one: existing rows keep NULL (read as final)
-- instead of the whole table being rewritten to fill a volatile default.
ALTER TABLE task_logs ADD COLUMN txid xid8;
ALTER TABLE task_logs ALTER COLUMN txid SET DEFAULT pg_current_xact_id();

-- A trainer that retries an experiment submit (its response was lost) must not run the grid
-- twice: an optional key makes the create idempotent, as tasks' idempotency_key does.
ALTER TABLE experiments ADD COLUMN idempotency_key text CONSTRAINT experiments_idempotency_key UNIQUE;
