-- Idempotent claims. A remote worker whose claim response is lost (a reset connection, a
-- timeout) retries the claim; without a key the retry claims ANOTHER task and the first one
-- sits leased to a worker that never heard of it (with max_attempts 1 it then fails "worker
-- lost" without ever running). The claim now records the caller's key on the tasks it hands
-- out, and a claim with the same key by the same worker returns them again (queue.claim).

ALTER TABLE tasks ADD COLUMN claim_key text;

-- Same as 0001's claim_tasks (see the comments there), plus p_claim_key stored on the rows.
DROP FUNCTION claim_tasks(text, integer, integer);
CREATE FUNCTION claim_tasks(p_worker text, p_max integer, p_lease_seconds integer, p_claim_key text)
RETURNS SETOF tasks
LANGUAGE sql
SET enable_bitmapscan = off
SET enable_sort = off
SET enable_seqscan = off
AS $$
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
  LIMIT COALESCE((SELECT n FROM free), 0)
  FOR UPDATE OF t SKIP LOCKED
)
UPDATE tasks SET status = 'running', worker_id = p_worker, attempt = tasks.attempt + 1,
  started_at = now(), updated_at = now(), claim_key = p_claim_key,
  lease_expires_at = now() + p_lease_seconds * interval '1 second',
  deadline_at = now() + (tasks.parameters ->> 'timeout_minutes')::numeric * interval '1 minute'
FROM picked WHERE tasks.id = picked.id
RETURNING tasks.*
$$;
