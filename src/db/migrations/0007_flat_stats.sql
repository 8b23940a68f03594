-- Flat hot paths. Health, metrics and stats used to aggregate the whole tasks table, and every
-- heartbeat and empty claim the worker's whole history (measured at 1M finished tasks: 300 to
-- 800 ms per request, against 3 to 7 ms on an empty database). The figures they show are now
-- kept current by the transitions themselves: statement-level triggers on tasks add each
-- statement's changes to counter rows in the same transaction, so the figures cannot drift
-- from the rows, whatever writes them (claims, reports, the reaper, retention, an operator's
-- SQL). Reads sum a few hundred counter rows.
--
-- Stripes: a statement adds to the rows of its connection's stripe (backend pid mod 8), so
-- concurrent completes on one problem do not queue on one hot row; readers sum the stripes.
-- A stripe's n may go negative (a task counted in by one connection and out by another); only
-- the sum over stripes means anything.

-- Tasks per (problem, backend, status): by_status, by_problem, totals, unroutable pending.
CREATE TABLE task_counts (
  problem_id   text NOT NULL,
  -- '' stands for "any backend" (NULL cannot be part of the key).
  backend_type text NOT NULL,
  status       text NOT NULL,
  stripe       smallint NOT NULL,
  n            bigint NOT NULL,
  PRIMARY KEY (problem_id, backend_type, status, stripe)
);

-- What happened per minute (bucket) and since counting began (bucket = '-infinity'): claims and
-- their queue wait, tasks finished and their run time. Recent-window averages sum the minute
-- buckets of the window (at most 60 × 8 rows for an hour); all-time ones read the '-infinity'
-- rows. Minute buckets older than two days are deleted by the upkeep loop.
CREATE TABLE task_activity (
  bucket       timestamptz NOT NULL,
  stripe       smallint NOT NULL,
  claims       bigint NOT NULL DEFAULT 0,
  -- Sum over claims of the time the task had waited in `pending` (since submit or requeue).
  wait_seconds double precision NOT NULL DEFAULT 0,
  completed    bigint NOT NULL DEFAULT 0,
  -- failed + timeout (cancelled is neither success nor failure).
  failed       bigint NOT NULL DEFAULT 0,
  cancelled    bigint NOT NULL DEFAULT 0,
  -- Sum over completed tasks of completed_at - started_at.
  run_seconds  double precision NOT NULL DEFAULT 0,
  PRIMARY KEY (bucket, stripe)
);

-- Finished tasks per worker and status: a worker's completed/failed counts without its history.
CREATE TABLE worker_task_counts (
  worker_id   text NOT NULL,
  status      text NOT NULL,
  stripe      smallint NOT NULL,
  n           bigint NOT NULL,
  run_seconds double precision NOT NULL DEFAULT 0,
  PRIMARY KEY (worker_id, status, stripe)
);

-- A worker's finished tasks per minute: its stats' window figures sum at most 60 (1h) or 1,440
-- (24h) rows of its own. One worker's reports rarely race, so no stripes. Pruned with
-- task_activity.
CREATE TABLE worker_activity (
  worker_id   text NOT NULL,
  bucket      timestamptz NOT NULL,
  completed   bigint NOT NULL DEFAULT 0,
  failed      bigint NOT NULL DEFAULT 0,
  run_seconds double precision NOT NULL DEFAULT 0,
  PRIMARY KEY (worker_id, bucket)
);

-- The triggers fire inside claim_tasks(), whose SET clauses disable sorts and scans for its own
-- statement; left in force, they priced these small sorts at 10^10 and so switched JIT
-- compilation on (measured: 600 ms per claim). Each trigger function restores the planner and
-- turns JIT off (its statements touch a handful of rows).
-- Counter rows are added in key order, so two statements on one stripe lock them in the same
-- order and cannot deadlock on them.
-- Rows inserted already finished (imports, generated history) are counted as what happened:
-- for their worker, and in the activity of the minute they ended (the last two days' buckets,
-- which is as far back as windows reach) and in the all-time row.
CREATE FUNCTION tasks_counters_insert() RETURNS trigger LANGUAGE plpgsql
SET enable_sort = on SET enable_seqscan = on SET enable_bitmapscan = on SET jit = off AS $$
DECLARE
  s smallint := (pg_backend_pid() % 8)::smallint;
  ignored integer;
BEGIN
  INSERT INTO task_counts AS c (problem_id, backend_type, status, stripe, n)
  SELECT problem_id, COALESCE(backend_type, ''), status, s, count(*)
  FROM new_rows GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
  ON CONFLICT (problem_id, backend_type, status, stripe) DO UPDATE SET n = c.n + EXCLUDED.n;
  IF NOT EXISTS (SELECT 1 FROM new_rows WHERE completed_at IS NOT NULL AND status <> 'pending' AND status <> 'running') THEN
    RETURN NULL;
  END IF;
  WITH finished AS MATERIALIZED (
    SELECT worker_id, status, completed_at,
           CASE WHEN status = 'completed' AND started_at IS NOT NULL
                THEN GREATEST(0, extract(epoch FROM completed_at - started_at)) END AS ran,
           CASE WHEN completed_at > now() - interval '2 days'
                THEN date_trunc('minute', completed_at) END AS minute
    FROM new_rows
    WHERE completed_at IS NOT NULL AND status IN ('completed', 'failed', 'timeout', 'cancelled')
  ), per_worker AS (
    INSERT INTO worker_task_counts AS c (worker_id, status, stripe, n, run_seconds)
    SELECT worker_id, status, s, count(*), COALESCE(sum(ran), 0)
    FROM finished WHERE worker_id IS NOT NULL
    GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (worker_id, status, stripe) DO UPDATE
      SET n = c.n + EXCLUDED.n, run_seconds = c.run_seconds + EXCLUDED.run_seconds
    RETURNING 1
  ), activity AS (
    INSERT INTO task_activity AS a (bucket, stripe, completed, failed, cancelled, run_seconds)
    SELECT b.bucket, s, count(*) FILTER (WHERE f.status = 'completed'),
           count(*) FILTER (WHERE f.status IN ('failed', 'timeout')),
           count(*) FILTER (WHERE f.status = 'cancelled'), COALESCE(sum(f.ran), 0)
    FROM finished f
    CROSS JOIN LATERAL (VALUES ('-infinity'::timestamptz), (f.minute)) AS b(bucket)
    WHERE b.bucket IS NOT NULL
    GROUP BY 1 ORDER BY 1
    ON CONFLICT (bucket, stripe) DO UPDATE SET completed = a.completed + EXCLUDED.completed,
      failed = a.failed + EXCLUDED.failed, cancelled = a.cancelled + EXCLUDED.cancelled,
      run_seconds = a.run_seconds + EXCLUDED.run_seconds
    RETURNING 1
  ), worker_recent AS (
    INSERT INTO worker_activity AS a (worker_id, bucket, completed, failed, run_seconds)
    SELECT worker_id, minute, count(*) FILTER (WHERE status = 'completed'),
           count(*) FILTER (WHERE status IN ('failed', 'timeout')), COALESCE(sum(ran), 0)
    FROM finished WHERE worker_id IS NOT NULL AND minute IS NOT NULL AND status <> 'cancelled'
    GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (worker_id, bucket) DO UPDATE
      SET completed = a.completed + EXCLUDED.completed, failed = a.failed + EXCLUDED.failed,
          run_seconds = a.run_seconds + EXCLUDED.run_seconds
    RETURNING 1
  )
  SELECT 1 INTO ignored;
  RETURN NULL;
END $$;

CREATE FUNCTION tasks_counters_delete() RETURNS trigger LANGUAGE plpgsql 
SET enable_sort = on SET enable_seqscan = on SET enable_bitmapscan = on SET jit = off AS $$
DECLARE s smallint := (pg_backend_pid() % 8)::smallint;
BEGIN
  INSERT INTO task_counts AS c (problem_id, backend_type, status, stripe, n)
  SELECT problem_id, COALESCE(backend_type, ''), status, s, -count(*)
  FROM old_rows GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
  ON CONFLICT (problem_id, backend_type, status, stripe) DO UPDATE SET n = c.n + EXCLUDED.n;
  INSERT INTO worker_task_counts AS c (worker_id, status, stripe, n, run_seconds)
  SELECT worker_id, status, s, -count(*),
         -COALESCE(sum(GREATEST(0, extract(epoch FROM completed_at - started_at))) FILTER (WHERE status = 'completed'), 0)
  FROM old_rows
  WHERE worker_id IS NOT NULL AND status IN ('completed', 'failed', 'timeout', 'cancelled')
  GROUP BY 1, 2 ORDER BY 1, 2
  ON CONFLICT (worker_id, status, stripe) DO UPDATE
    SET n = c.n + EXCLUDED.n, run_seconds = c.run_seconds + EXCLUDED.run_seconds;
  RETURN NULL;
END $$;

-- Most UPDATE statements on tasks change no status (lease extensions, cancel requests,
-- callback bookkeeping): the first query finds no changed row and the function returns.
-- Otherwise one statement adds the changes to all four counter tables (data-modifying CTEs
-- always run to completion, read or not).
CREATE FUNCTION tasks_counters_update() RETURNS trigger LANGUAGE plpgsql 
SET enable_sort = on SET enable_seqscan = on SET enable_bitmapscan = on SET jit = off AS $$
DECLARE
  s smallint := (pg_backend_pid() % 8)::smallint;
  ignored integer;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM old_rows o JOIN new_rows n ON n.id = o.id WHERE o.status <> n.status) THEN
    RETURN NULL;
  END IF;
  WITH changed AS MATERIALIZED (
    SELECT n.problem_id, COALESCE(n.backend_type, '') AS backend_type, o.status AS old_status,
           n.status AS new_status, n.worker_id,
           CASE WHEN o.status = 'pending' AND n.status = 'running'
                THEN GREATEST(0, extract(epoch FROM n.started_at - o.updated_at)) END AS waited,
           CASE WHEN n.status = 'completed'
                THEN GREATEST(0, extract(epoch FROM n.completed_at - n.started_at)) END AS ran
    FROM old_rows o JOIN new_rows n ON n.id = o.id
    WHERE o.status <> n.status
  ), counts AS (
    INSERT INTO task_counts AS c (problem_id, backend_type, status, stripe, n)
    SELECT problem_id, backend_type, status, s, sum(d)
    FROM (SELECT problem_id, backend_type, old_status AS status, -1 AS d FROM changed
          UNION ALL
          SELECT problem_id, backend_type, new_status, 1 FROM changed) x
    GROUP BY 1, 2, 3 HAVING sum(d) <> 0 ORDER BY 1, 2, 3
    ON CONFLICT (problem_id, backend_type, status, stripe) DO UPDATE SET n = c.n + EXCLUDED.n
    RETURNING 1
  ), activity AS (
    INSERT INTO task_activity AS a (bucket, stripe, claims, wait_seconds, completed, failed, cancelled, run_seconds)
    SELECT b.bucket, s, t.claims, t.wait_seconds, t.completed, t.failed, t.cancelled, t.run_seconds
    FROM (SELECT count(waited) AS claims, COALESCE(sum(waited), 0) AS wait_seconds,
                 count(*) FILTER (WHERE new_status = 'completed') AS completed,
                 count(*) FILTER (WHERE new_status IN ('failed', 'timeout')) AS failed,
                 count(*) FILTER (WHERE new_status = 'cancelled') AS cancelled,
                 COALESCE(sum(ran), 0) AS run_seconds
          FROM changed) t,
         (VALUES ('-infinity'::timestamptz), (date_trunc('minute', now()))) AS b(bucket)
    WHERE t.claims + t.completed + t.failed + t.cancelled > 0
    ORDER BY 1
    ON CONFLICT (bucket, stripe) DO UPDATE SET claims = a.claims + EXCLUDED.claims,
      wait_seconds = a.wait_seconds + EXCLUDED.wait_seconds, completed = a.completed + EXCLUDED.completed,
      failed = a.failed + EXCLUDED.failed, cancelled = a.cancelled + EXCLUDED.cancelled,
      run_seconds = a.run_seconds + EXCLUDED.run_seconds
    RETURNING 1
  ), per_worker AS (
    INSERT INTO worker_task_counts AS c (worker_id, status, stripe, n, run_seconds)
    SELECT worker_id, new_status, s, count(*), COALESCE(sum(ran), 0)
    FROM changed
    WHERE worker_id IS NOT NULL AND new_status IN ('completed', 'failed', 'timeout', 'cancelled')
    GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (worker_id, status, stripe) DO UPDATE
      SET n = c.n + EXCLUDED.n, run_seconds = c.run_seconds + EXCLUDED.run_seconds
    RETURNING 1
  ), worker_recent AS (
    INSERT INTO worker_activity AS a (worker_id, bucket, completed, failed, run_seconds)
    SELECT worker_id, date_trunc('minute', now()),
           count(*) FILTER (WHERE new_status = 'completed'),
           count(*) FILTER (WHERE new_status IN ('failed', 'timeout')),
           COALESCE(sum(ran), 0)
    FROM changed
    WHERE worker_id IS NOT NULL AND new_status IN ('completed', 'failed', 'timeout')
    GROUP BY 1 ORDER BY 1
    ON CONFLICT (worker_id, bucket) DO UPDATE
      SET completed = a.completed + EXCLUDED.completed, failed = a.failed + EXCLUDED.failed,
          run_seconds = a.run_seconds + EXCLUDED.run_seconds
    RETURNING 1
  )
  SELECT 1 INTO ignored;
  RETURN NULL;
END $$;

CREATE TRIGGER tasks_counters_insert AFTER INSERT ON tasks
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tasks_counters_insert();
CREATE TRIGGER tasks_counters_update AFTER UPDATE ON tasks
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tasks_counters_update();
CREATE TRIGGER tasks_counters_delete AFTER DELETE ON tasks
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION tasks_counters_delete();

-- Existing rows, counted once, as the insert trigger would have counted them (claims and queue
-- waits too, from started_at). Writers of older builds would race the count: hold them off.
LOCK TABLE tasks IN SHARE ROW EXCLUSIVE MODE;
INSERT INTO task_counts (problem_id, backend_type, status, stripe, n)
SELECT problem_id, COALESCE(backend_type, ''), status, 0, count(*) FROM tasks GROUP BY 1, 2, 3;
INSERT INTO worker_task_counts (worker_id, status, stripe, n, run_seconds)
SELECT worker_id, status, 0, count(*),
       COALESCE(sum(GREATEST(0, extract(epoch FROM completed_at - started_at))) FILTER (WHERE status = 'completed'), 0)
FROM tasks WHERE worker_id IS NOT NULL AND status IN ('completed', 'failed', 'timeout', 'cancelled')
GROUP BY 1, 2;
INSERT INTO task_activity (bucket, stripe, claims, wait_seconds, completed, failed, cancelled, run_seconds)
SELECT '-infinity', 0, count(started_at),
       COALESCE(sum(GREATEST(0, extract(epoch FROM started_at - created_at))), 0),
       count(*) FILTER (WHERE status = 'completed'),
       count(*) FILTER (WHERE status IN ('failed', 'timeout')),
       count(*) FILTER (WHERE status = 'cancelled'),
       COALESCE(sum(GREATEST(0, extract(epoch FROM completed_at - started_at))) FILTER (WHERE status = 'completed'), 0)
FROM tasks;
INSERT INTO task_activity (bucket, stripe, completed, failed, cancelled, run_seconds)
SELECT date_trunc('minute', completed_at), 0,
       count(*) FILTER (WHERE status = 'completed'),
       count(*) FILTER (WHERE status IN ('failed', 'timeout')),
       count(*) FILTER (WHERE status = 'cancelled'),
       COALESCE(sum(GREATEST(0, extract(epoch FROM completed_at - started_at))) FILTER (WHERE status = 'completed'), 0)
FROM tasks
WHERE status IN ('completed', 'failed', 'timeout', 'cancelled') AND completed_at > now() - interval '2 days'
GROUP BY 1;
INSERT INTO worker_activity (worker_id, bucket, completed, failed, run_seconds)
SELECT worker_id, date_trunc('minute', completed_at),
       count(*) FILTER (WHERE status = 'completed'),
       count(*) FILTER (WHERE status IN ('failed', 'timeout')),
       COALESCE(sum(GREATEST(0, extract(epoch FROM completed_at - started_at))) FILTER (WHERE status = 'completed'), 0)
FROM tasks
WHERE worker_id IS NOT NULL AND status IN ('completed', 'failed', 'timeout') AND completed_at > now() - interval '2 days'
GROUP BY 1, 2;
