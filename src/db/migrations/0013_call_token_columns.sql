-- Token ids and sampled-token logprobs of each LLM call in columns of their own (issue 13).
-- The export read them out of the `response` jsonb, which made PostgreSQL detoast and walk the
-- whole document (top-k alternatives, reply text) and print every id as text. The recorder now
-- fills these at record time (src/gateway/token-columns.ts, which this backfill mirrors exactly);
-- `response` keeps the upstream's document as it came, for anyone querying it in SQL.
--
-- Packed, not int[]/float8[]: prompt ids are the bulk of an export (each call's prompt repeats the
-- whole context, ~1M ids per 32 bench trajectories), and an array is sent one element at a time
-- through int4out (~110 ns of server CPU an id; binary int4send ~60 ns) where a packed column is
-- copied out whole. Each value is big-endian, as int4send/float8send write it:
--   prompt_token_ids      int32s: the response's `prompt_token_ids` (vLLM's return_token_ids)
--   completion_token_ids  int32s: the first choice's `token_ids`
--   completion_logprobs   float8s: the first choice's `logprobs.content[].logprob`, NaN for an entry
--                         without one (JSON has no NaN: it is never a recorded logprob); NULL when
--                         there is no entry at all
-- float8, so a logprob reads back as the very double that was recorded. A value that is not what
-- the column holds (an id that is no int32, a logprob that is no number) leaves the column NULL:
-- it is no token id or logprob, and the export schema promises numbers.
ALTER TABLE llm_calls
  ADD COLUMN prompt_token_ids bytea,
  ADD COLUMN completion_token_ids bytea,
  ADD COLUMN completion_logprobs bytea;

CREATE FUNCTION pg_temp.te_token_ids(j jsonb) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE
    WHEN jsonb_typeof(j) IS DISTINCT FROM 'array' THEN NULL
    WHEN EXISTS (
      SELECT 1 FROM jsonb_array_elements(j) AS e(v)
      WHERE jsonb_typeof(v) <> 'number'
         OR v::numeric <> trunc(v::numeric)
         OR v::numeric NOT BETWEEN -2147483648 AND 2147483647
    ) THEN NULL
    ELSE coalesce(
      (SELECT string_agg(int4send(v::numeric::int), ''::bytea ORDER BY n)
       FROM jsonb_array_elements(j) WITH ORDINALITY AS e(v, n)),
      ''::bytea)
  END
$$;

-- Only numbers a double holds, which is all the recorder ever stores (it wrote them from doubles).
CREATE FUNCTION pg_temp.te_logprobs(j jsonb) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE
    WHEN jsonb_typeof(j) IS DISTINCT FROM 'array' OR jsonb_array_length(j) = 0 THEN NULL
    WHEN EXISTS (
      SELECT 1 FROM jsonb_array_elements(j) AS e(x)
      WHERE jsonb_typeof(x) = 'object'
        AND CASE jsonb_typeof(x -> 'logprob')
              WHEN 'number' THEN (x -> 'logprob')::numeric <> 0
                AND abs((x -> 'logprob')::numeric)
                    NOT BETWEEN 4.9406564584124654e-324 AND 1.7976931348623157e308
              WHEN 'null' THEN false
              ELSE x ? 'logprob'
            END
    ) THEN NULL
    ELSE (
      SELECT string_agg(
               float8send(coalesce(CASE WHEN jsonb_typeof(x) = 'object' THEN (x ->> 'logprob')::float8 END,
                                   'NaN'::float8)),
               ''::bytea ORDER BY n)
      FROM jsonb_array_elements(j) WITH ORDINALITY AS e(x, n)
    )
  END
$$;

UPDATE llm_calls SET
  prompt_token_ids = CASE WHEN has_token_ids THEN pg_temp.te_token_ids(response -> 'prompt_token_ids') END,
  completion_token_ids = CASE WHEN has_token_ids
    THEN pg_temp.te_token_ids(response -> 'choices' -> 0 -> 'token_ids') END,
  completion_logprobs = CASE WHEN has_logprobs
    THEN pg_temp.te_logprobs(response -> 'choices' -> 0 -> 'logprobs' -> 'content') END
WHERE has_token_ids OR has_logprobs;

DROP FUNCTION pg_temp.te_token_ids(jsonb);
DROP FUNCTION pg_temp.te_logprobs(jsonb);
