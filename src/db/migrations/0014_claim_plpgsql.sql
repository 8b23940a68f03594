-- claim_tasks in PL/pgSQL: the same statements as 0003's SQL function (see the comments in
-- 0001 and 0003), but planned once per connection instead of on every call. A SQL function
-- with SET clauses is never inlined, and PostgreSQL plans each of its statements afresh on
-- each call: 0.7 of the claim's 0.9 ms on an idle queue (EXPLAIN ANALYZE, PostgreSQL 15), on
-- the dispatch path of every task. PL/pgSQL keeps the plans in its session cache; the SET
-- clauses still pin the ordered index scan, now in the cached (generic) plan too.
-- An unknown worker is an error (SQLSTATE P0002, "worker not registered") instead of an empty
-- answer: queue.claim no longer reads the worker again after every empty claim to tell the
-- two apart, which was a second round trip on every idle claim and long-poll renewal.
-- Liveness is written at most once a second per worker: the worker row is locked and read
-- anyway, and a busy worker claiming many times a second no longer rewrites it on every claim
-- (a heap tuple and its WAL per claim, for a figure read in seconds).
-- Snapshots are unchanged: a VOLATILE PL/pgSQL function also takes a fresh snapshot per
-- statement, so the running count sees claims committed while this one waited for the lock.
CREATE OR REPLACE FUNCTION claim_tasks(p_worker text, p_max integer, p_lease_seconds integer, p_claim_key text)
RETURNS SETOF tasks
LANGUAGE plpgsql
SET enable_bitmapscan = off
SET enable_sort = off
SET enable_seqscan = off
AS $$
DECLARE
  w workers%ROWTYPE;
BEGIN
SELECT * INTO w FROM workers WHERE id = p_worker FOR UPDATE;
IF NOT FOUND THEN
  RAISE EXCEPTION 'worker % not registered', p_worker USING ERRCODE = 'P0002';
END IF;
IF w.status = 'draining' THEN
  RETURN;
END IF;
IF w.status = 'offline' OR w.last_heartbeat < now() - interval '1 second' THEN
  UPDATE workers SET last_heartbeat = now(), status = CASE WHEN status = 'offline' THEN 'idle' ELSE status END
  WHERE id = p_worker;
END IF;
RETURN QUERY
WITH free AS (
  SELECT GREATEST(0, LEAST(p_max, COALESCE(w.max_parallel_tasks, 0) -
    (SELECT count(*) FROM tasks r WHERE r.worker_id = p_worker AND r.status = 'running')::int)) AS n
), picked AS (
  SELECT t.id FROM tasks t
  WHERE t.status = 'pending'
    AND (t.backend_type IS NULL OR t.backend_type = w.backend_type)
    AND (cardinality(w.problem_patterns) = 0 OR t.problem_id LIKE ANY (w.problem_patterns::text[]))
  ORDER BY t.priority DESC, t.seq
  LIMIT (SELECT n FROM free)
  FOR UPDATE OF t SKIP LOCKED
)
UPDATE tasks SET status = 'running', worker_id = p_worker, attempt = tasks.attempt + 1,
  started_at = now(), updated_at = now(), claim_key = p_claim_key,
  lease_expires_at = now() + p_lease_seconds * interval '1 second',
  deadline_at = now() + (tasks.parameters ->> 'timeout_minutes')::numeric * interval '1 minute'
FROM picked WHERE tasks.id = picked.id
RETURNING tasks.*;
END $$;
