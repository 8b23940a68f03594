/**
 * What one export page's calls query costs PostgreSQL (issue 13, migration 0013): the query
 * store.ts runs, reading token ids and logprobs from their packed columns, against the one it
 * ran before, extracting them from each call's response jsonb. CPU time of the server backend
 * (from /proc, so it needs the database on this machine) and of this process's driver, per page
 * of 8 tasks, averaged over N runs: robust on a loaded machine, where wall time is not.
 *   node --import tsx bench/export-page-cost.ts postgres://…/db-seeded-by-the-export-bench [N]
 */
import { readFileSync } from 'node:fs';
import pg from 'pg';

const [url, runs = '20'] = process.argv.slice(2);
if (!url) throw new Error('usage: export-page-cost.ts DATABASE_URL [N]');
const N = Number(runs);

const COMMON = `conversation_id, seq, model_requested, model, upstream, request, prompt_last_seq, reply_seq,
  prefix_consistent, finish_reasons, end_reason, status, error, usage, prompt_tokens, completion_tokens,
  cached_tokens, reasoning_tokens, cost, latency_ms, ttft_ms, policy_version, started_at, completed_at`;
const QUERIES = {
  'before 0013 (response jsonb)': `
    CASE WHEN has_token_ids THEN response -> 'prompt_token_ids' END AS prompt_token_ids,
    CASE WHEN has_token_ids THEN response -> 'choices' -> 0 -> 'token_ids' END AS completion_token_ids,
    CASE WHEN has_logprobs THEN (
      SELECT jsonb_agg(x -> 'logprob' ORDER BY n)
      FROM jsonb_array_elements(response -> 'choices' -> 0 -> 'logprobs' -> 'content') WITH ORDINALITY AS l(x, n)
    ) END AS completion_logprobs`,
  'packed columns (0013)': 'prompt_token_ids, completion_token_ids, completion_logprobs',
};

const client = new pg.Client({ connectionString: url });
await client.connect();
const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
const pid = rows[0]!.pid;
/** utime + stime of the backend, in ms (clock ticks of 10 ms). */
const backendCpuMs = () => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
};
const page = (
  await client.query<{ id: string }>('SELECT id FROM llm_conversations ORDER BY seq LIMIT 8')
).rows.map((r) => r.id);
for (const [name, columns] of Object.entries(QUERIES)) {
  const sql = `SELECT ${COMMON}, ${columns} FROM llm_calls
               WHERE conversation_id = ANY($1::uuid[]) ORDER BY conversation_id, seq`;
  await client.query(sql, [page]);
  const pg0 = backendCpuMs();
  const node0 = process.cpuUsage();
  const wall0 = performance.now();
  for (let i = 0; i < N; i++) await client.query(sql, [page]);
  const node = process.cpuUsage(node0);
  console.log(
    `${name}: per page of 8 tasks, PostgreSQL CPU ${((backendCpuMs() - pg0) / N).toFixed(1)} ms, ` +
      `driver CPU ${((node.user + node.system) / 1000 / N).toFixed(1)} ms, wall ${((performance.now() - wall0) / N).toFixed(1)} ms`,
  );
}
await client.end();
