/** GET /api/v1/tasks/activity: claims and finishes minute by minute. */
import { Type } from 'typebox';
import { ACTIVITY_WINDOWS } from '../../queue/activity-series.ts';
import { DateTime, Nullable } from './common.ts';

export const ActivityQuery = Type.Object({
  window: Type.Optional(
    Type.Enum(Object.keys(ACTIVITY_WINDOWS), {
      default: '1h',
      description: 'How far back: the last hour (default), 6 hours or 24 hours, one entry per minute.',
    }),
  ),
});

export const ActivityResponse = Type.Object({
  window: Type.String(),
  minutes: Type.Array(
    Type.Object({
      minute: DateTime,
      claims: Type.Integer(),
      completed: Type.Integer(),
      failed: Type.Integer({ description: 'failed + timeout' }),
      cancelled: Type.Integer(),
      average_wait_seconds: Nullable(
        Type.Number({ description: 'Mean queue wait of the tasks claimed in it.' }),
      ),
    }),
    { description: 'Every minute of the window, oldest first (zeros where nothing happened).' },
  ),
});
