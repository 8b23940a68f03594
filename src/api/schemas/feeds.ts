/** Query strings of the event streams (issue 12). Responses are text/event-stream. */
import { Type } from 'typebox';
import { LOG_LEVELS, TASK_STATUSES } from '../../queue/types.ts';
import { Uuid } from './common.ts';
import { LABEL_FILTER_PATTERN } from './tasks.ts';

const list = (items: readonly string[]) => {
  const one = items.map((s) => s.replace('.', '\\.')).join('|');
  return `^(${one})(,(${one}))*$`;
};

const After = Type.String({
  pattern: '^(now|0|[0-9]{1,20}-[0-9]{1,20})$',
  description:
    'Resume after this cursor (an event’s SSE id); `0` = from the start, `now` = only what happens next. The Last-Event-ID header, when sent, wins.',
});

/** The task filters the feeds and the export share. */
export const TASK_FILTER_FIELDS = {
  experiment_id: Type.Optional(Uuid),
  group_id: Type.Optional(Uuid),
  problem_id: Type.Optional(Type.String({ maxLength: 200 })),
  backend_type: Type.Optional(Type.String({ maxLength: 64 })),
  worker_id: Type.Optional(Type.String({ maxLength: 200 })),
  model: Type.Optional(Type.String({ maxLength: 200, description: 'The agent_config model of the task.' })),
  label: Type.Optional(
    Type.Array(Type.String({ pattern: LABEL_FILTER_PATTERN }), {
      maxItems: 64,
      description: 'Repeatable `label=key=value`; a task must carry every one.',
    }),
  ),
  policy_version_min: Type.Optional(
    Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'Inclusive.' }),
  ),
  policy_version_max: Type.Optional(
    Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'Inclusive.' }),
  ),
};

const common = {
  after: Type.Optional(After),
  task_id: Type.Optional(Uuid),
  ...TASK_FILTER_FIELDS,
};

export const TrajectoryStreamQuery = Type.Object({
  ...common,
  status: Type.Optional(
    Type.String({
      pattern: list(['completed', 'failed', 'timeout', 'cancelled']),
      description: 'Finished statuses to send trajectories for (comma list); default all four.',
    }),
  ),
  types: Type.Optional(
    Type.String({
      pattern: list(['trajectory', 'group.completed', 'reward.updated']),
      description: 'Event types to send (comma list); default all three.',
    }),
  ),
  conversation: Type.Optional(
    Type.Enum(['compact', 'messages', 'full'], {
      default: 'messages',
      description:
        '`compact`: conversation summaries with links; `messages`: plus every message; `full`: plus every call with its response (token ids, logprobs).',
    }),
  ),
});

export const EventStreamQuery = Type.Object({
  ...common,
  status: Type.Optional(
    Type.String({
      pattern: list(TASK_STATUSES),
      description: 'New statuses to send (comma list); default all.',
    }),
  ),
  types: Type.Optional(
    Type.String({
      pattern: list(['task.status', 'group.completed', 'reward.updated']),
      description: 'Event types to send (comma list); default task.status.',
    }),
  ),
});

export const LogStreamQuery = Type.Object({
  after: Type.Optional(
    Type.String({
      pattern: '^(0|[0-9]{1,20}-[0-9]{1,20})$',
      description: 'Resume after this cursor (a log event’s SSE id); default from the first entry.',
    }),
  ),
  level: Type.Optional(
    Type.String({
      pattern: `^(${LOG_LEVELS.join('|')})(,(${LOG_LEVELS.join('|')}))*$`,
      description: `One level or a comma list of: ${LOG_LEVELS.join(', ')}.`,
    }),
  ),
});
