-- Counter stripes: 8 → 64. The counters of 0007 are striped by connection (backend pid mod 8)
-- so that concurrent transitions do not queue on one hot row; with the API's pool of 20 or more
-- connections, 8 stripes put two or three connections on each, and a transition waited for the
-- other's commit (WAL flush included) on the same counter rows: a fifth of the active backends
-- sampled during a drain of remote workers were in Lock:transactionid. 64 stripes leave a
-- collision to chance. Readers sum the stripes whatever their number; rows of the old stripes
-- stay valid (a stripe is only a row of the sum).
-- The three trigger functions of 0007 are redefined from their own definitions with only the
-- stripe expression changed (so this file does not repeat their bodies); a definition without
-- that expression stops the migration.
DO $$
DECLARE
  fn text;
  def text;
BEGIN
  FOREACH fn IN ARRAY ARRAY['tasks_counters_insert', 'tasks_counters_update', 'tasks_counters_delete'] LOOP
    def := pg_get_functiondef(fn::regproc);
    IF position('(pg_backend_pid() % 8)' IN def) = 0 THEN
      RAISE EXCEPTION 'migration 0015: % has no 8-stripe expression', fn;
    END IF;
    EXECUTE replace(def, '(pg_backend_pid() % 8)', '(pg_backend_pid() % 64)');
  END LOOP;
END $$;
