/**
 * The Parquet layout of the trajectory export: one row per trajectory record (one task attempt),
 * nested as the record is. The schema is written out by hand rather than inferred from data so
 * that an empty export, or a row group whose values are all null, still has every column with
 * its type, and so that every reader (DuckDB, pyarrow/pandas, Hugging Face datasets, hyparquet)
 * sees the same types whatever the data.
 *
 * Choices, for readers:
 * - Lists use the standard three-level LIST encoding (`name` LIST → repeated `list` → `element`).
 * - Free-form JSON fields (content, tool_calls, request, usage, results, …) are UTF-8 strings
 *   with the JSON converted type, holding JSON text (a JSON null is a SQL NULL). A Parquet
 *   struct would need one fixed shape, and these fields have none.
 * - Timestamps are INT64 TIMESTAMP(MICROS, adjusted to UTC): DuckDB reads them as TIMESTAMPTZ,
 *   pyarrow as timestamp[us, tz=UTC], datasets as a timestamp feature. Microseconds hold every
 *   instant PostgreSQL stores; nanoseconds would overflow pandas' range for no gain.
 * - Token ids are INT32 lists (every tokenizer's vocabulary is far below 2^31; an id beyond it
 *   fails the export rather than wrap). INT32 PLAIN + BROTLI: successive prompts repeat their
 *   prefix byte for byte, which the compressor folds (~11x on the export bench; a delta
 *   encoding would hide the repeats). Readers widen on load (torch.long etc.). TOKEN_ID below
 *   switches them to INT64 if ever needed (PLAIN too, as two words per id).
 *   Masks are INT32, logprobs DOUBLE.
 * - `rewards` (a name → value map in the JSONL) is a list of {name, value} structs: MAP columns
 *   are not read by every version of the datasets library, and a list keeps the order.
 */
import type { ParquetWriter } from 'hyparquet-writer';

export type SchemaElement = ConstructorParameters<typeof ParquetWriter>[0]['schema'][number];

/** A field is its schema subtree in pre-order, as Parquet's flat schema lists it. */
type Field = SchemaElement[];

const repetition = (nullable: boolean): 'OPTIONAL' | 'REQUIRED' => (nullable ? 'OPTIONAL' : 'REQUIRED');

const str = (name: string, nullable = false): Field => [
  { name, type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: repetition(nullable) },
];
const json = (name: string): Field => [
  { name, type: 'BYTE_ARRAY', converted_type: 'JSON', repetition_type: 'OPTIONAL' },
];
const int32 = (name: string, nullable = false): Field => [
  { name, type: 'INT32', repetition_type: repetition(nullable) },
];
const int64 = (name: string, nullable = false): Field => [
  { name, type: 'INT64', repetition_type: repetition(nullable) },
];
const double = (name: string, nullable = false): Field => [
  { name, type: 'DOUBLE', repetition_type: repetition(nullable) },
];
const bool = (name: string, nullable = false): Field => [
  { name, type: 'BOOLEAN', repetition_type: repetition(nullable) },
];
const timestamp = (name: string, nullable = false): Field => [
  {
    name,
    type: 'INT64',
    converted_type: 'TIMESTAMP_MICROS',
    logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MICROS' },
    repetition_type: repetition(nullable),
  },
];

/** The element type of token id lists (see the note on token ids above). */
const TOKEN_ID = int32;

function struct(name: string, fields: Field[], nullable = false): Field {
  return [{ name, repetition_type: repetition(nullable), num_children: fields.length }, ...fields.flat()];
}

/** A list whose elements are never null; `element` builds the element field under its name. */
function list(name: string, element: (name: string) => Field, nullable = false): Field {
  return [
    { name, repetition_type: repetition(nullable), converted_type: 'LIST', num_children: 1 },
    { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
    ...element('element'),
  ];
}

const message = (name: string) =>
  struct(name, [
    int32('seq'),
    int32('parent_seq', true),
    str('role'),
    json('content'),
    json('tool_calls'),
    str('tool_call_id', true),
    str('name', true),
  ]);

const call = (name: string) =>
  struct(name, [
    int32('seq'),
    str('model_requested'),
    str('model', true),
    str('upstream'),
    json('request'),
    int32('prompt_last_seq', true),
    int32('reply_seq', true),
    bool('prefix_consistent'),
    json('finish_reasons'),
    str('end_reason'),
    int32('status', true),
    str('error', true),
    json('usage'),
    int64('prompt_tokens', true),
    int64('completion_tokens', true),
    int64('cached_tokens', true),
    int64('reasoning_tokens', true),
    double('cost', true),
    double('latency_ms', true),
    double('ttft_ms', true),
    int64('policy_version', true),
    timestamp('started_at'),
    timestamp('completed_at'),
    list('prompt_token_ids', (n) => TOKEN_ID(n), true),
    list('completion_token_ids', (n) => TOKEN_ID(n), true),
    list('completion_logprobs', (n) => double(n), true),
  ]);

const conversation = (name: string) =>
  struct(name, [
    str('id'),
    str('conversation_key', true),
    str('model_name', true),
    timestamp('started_at'),
    timestamp('ended_at', true),
    int64('prompt_tokens'),
    int64('completion_tokens'),
    int64('total_tokens'),
    double('cost', true),
    list('messages', message),
    list('calls', call),
  ]);

const step = (name: string) =>
  struct(name, [timestamp('timestamp'), str('level'), str('message'), json('context'), str('source')]);

const rewardEntry = (name: string) => struct(name, [str('name'), double('value')]);

const rewardHistory = (name: string) =>
  struct(name, [str('name'), double('value'), json('details'), str('written_by'), timestamp('created_at')]);

/**
 * A TokenLine without the fields the row already has (schema_version, cursor, task_id, attempt,
 * reward, status); `drift` is flattened to two nullable columns.
 */
const tokenLine = (name: string) =>
  struct(name, [
    str('conversation_id'),
    str('conversation_key', true),
    str('model', true),
    int64('policy_version', true),
    bool('token_ids_recorded'),
    str('note', true),
    list('prompt_ids', (n) => TOKEN_ID(n), true),
    list('response_ids', (n) => TOKEN_ID(n), true),
    list('response_mask', (n) => int32(n), true),
    list('response_logprobs', (n) => double(n), true),
    bool('token_consistent', true),
    int32('drift_call_seq', true),
    int32('drift_position', true),
    int32('calls_used'),
    int32('calls_total'),
  ]);

/** The top-level columns, in order; each is one column of the row objects in parquet-rows.ts. */
const COLUMNS: Field[] = [
  str('schema_version'),
  str('cursor'),
  str('task_id'),
  int32('attempt'),
  int32('attempts'),
  bool('final'),
  str('problem_id'),
  str('task_type', true),
  str('backend_type', true),
  str('worker_id', true),
  str('status'),
  json('error'),
  str('experiment_id', true),
  str('group_id', true),
  int32('repetition', true),
  int64('policy_version', true),
  json('labels'),
  json('agent_config'),
  timestamp('created_at'),
  timestamp('started_at', true),
  timestamp('completed_at', true),
  double('queue_seconds', true),
  double('run_seconds', true),
  json('results'),
  json('result'),
  double('reward', true),
  str('reward_reason'),
  list('rewards', rewardEntry),
  list('reward_history', rewardHistory),
  list('steps', step),
  list('conversations', conversation),
  list('tokens', tokenLine),
];

/** The column names, in schema order (the writer hands it one data array per name). */
export const COLUMN_NAMES: string[] = COLUMNS.map((field) => field[0]!.name);

export function trajectorySchema(): SchemaElement[] {
  return [{ name: 'root', num_children: COLUMNS.length }, ...COLUMNS.flat()];
}
