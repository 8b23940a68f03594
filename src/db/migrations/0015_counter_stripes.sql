-- Counter stripes: 8 → 64. The counters of 0007 are striped by connection (backend pid mod 8)
-- so that concurrent transitions do not queue on one hot row; with the API's pool of 20 or more
-- connections, 8 stripes put two or three connections on each, and a transition waited for the
-- other's commit (WAL flush included) on the same counter rows: a fifth of the active backends
-- sampled during a drain of remote workers were in Lock:transactionid. 64 stripes leave a
-- collision to chance. Readers sum the stripes whatever their number; rows of the old stripes
-- stay valid (a stripe is only a row of the sum).
CREATE FUNCTION counter_stripe() RETURNS smallint LANGUAGE sql STABLE PARALLEL SAFE AS
$$ SELECT (pg_backend_pid() % 64)::smallint $$;

CREATE OR REPLACE FUNCTION tasks_counters_insert() RETURNS trigger LANGUAGE plpgsql
SET enable_sort = on SET enable_seqscan = on SET enable_bitmapscan = on SET jit = off AS $$
DECLARE
  s smallint := counter_stripe();
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

CREATE OR REPLACE FUNCTION tasks_counters_delete() RETURNS trigger LANGUAGE plpgsql
SET enable_sort = on SET enable_seqscan = on SET enable_bitmapscan = on SET jit = off AS $$
DECLARE s smallint := counter_stripe();
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

CREATE OR REPLACE FUNCTION tasks_counters_update() RETURNS trigger LANGUAGE plpgsql
SET enable_sort = on SET enable_seqscan = on SET enable_bitmapscan = on SET jit = off AS $$
DECLARE
  s smallint := counter_stripe();
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
