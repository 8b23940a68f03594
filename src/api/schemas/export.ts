/** Query of GET /api/v1/export (issue 13). The body is the chosen format, streamed. */
import { Type } from 'typebox';
import { TASK_FILTER_FIELDS } from './feeds.ts';

export const EXPORT_FORMATS = ['trajectories', 'openai-chat', 'tokens', 'atif', 'parquet'] as const;

const CursorText = (description: string) =>
  Type.String({ pattern: '^(0|[0-9]{1,20}-[0-9]{1,20})$', description });

const Reward = (description: string) => Type.Number({ minimum: -1e15, maximum: 1e15, description });

export const ExportQuery = Type.Object({
  format: Type.Optional(
    Type.Enum([...EXPORT_FORMATS], {
      default: 'trajectories',
      description:
        '`trajectories` (JSONL, one record per attempt), `openai-chat` (JSONL, fine-tuning messages), `tokens` (JSONL, token ids/mask/logprobs), `atif` (JSONL of ATIF v1.4 documents), `parquet`.',
    }),
  ),
  after: Type.Optional(
    CursorText('Exclusive start: the cursor of the last task already exported (`0` = from the start).'),
  ),
  until: Type.Optional(
    CursorText(
      'Inclusive end; default the feed head when the request arrives (sent back as x-export-until: reuse it to resume the same snapshot).',
    ),
  ),
  ...TASK_FILTER_FIELDS,
  status: Type.Optional(
    Type.String({
      pattern: '^(completed|failed|timeout|cancelled)(,(completed|failed|timeout|cancelled))*$',
      description: 'Final statuses to export (comma list); default all four.',
    }),
  ),
  completed_after: Type.Optional(
    Type.String({ format: 'date-time', description: 'Tasks finished after this time (exclusive).' }),
  ),
  completed_before: Type.Optional(
    Type.String({ format: 'date-time', description: 'Tasks finished at or before this time.' }),
  ),
  min_reward: Type.Optional(
    Reward('Keep records whose reward is at least this (records without one are left out).'),
  ),
  max_reward: Type.Optional(Reward('Keep records whose reward is at most this.')),
  reward_name: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 100,
      description: 'Judge min_reward/max_reward by this named reward instead of the default one.',
    }),
  ),
  attempts: Type.Optional(
    Type.Enum(['all', 'final'], {
      default: 'all',
      description: '`all`: one record per attempt; `final`: only each task’s last attempt.',
    }),
  ),
});
