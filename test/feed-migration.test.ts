/** Migration 0011 on a database with history: finished tasks get their finish in the feed, groups their counts. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { START } from '../src/datasets/cursor.ts';
import { readFeedPage } from '../src/datasets/feed-store.ts';
import { listMigrations, migrate } from '../src/db/migrate.ts';
import { createTestDb, dbModes } from './helpers/db.ts';

for (const mode of dbModes()) {
  describe(`migration 0011: the feed over existing history (${mode})`, () => {
    it('files each finished task once, in the order they finished, and sizes existing groups', async () => {
      const { db, drop } = await createTestDb(
        mode,
        2,
        listMigrations().filter((m) => m.version < 11),
      );
      try {
        const group = '00000000-0000-8000-8000-000000000001';
        const { rows: exp } = await db.query<{ id: string }>(
          `INSERT INTO experiments (name, spec, task_count, group_count) VALUES ('old', '{}', 3, 1) RETURNING id`,
        );
        const ids: Record<string, string> = {};
        for (const [name, status, endedMinutesAgo] of [
          ['late', 'completed', 1],
          ['early', 'failed', 30],
          ['waiting', 'pending', null],
          ['middle', 'cancelled', 10],
        ] as const) {
          const { rows } = await db.query<{ id: string }>(
            `INSERT INTO tasks (problem_id, status, completed_at, experiment_id, group_id, repetition)
             VALUES ($1, $2, now() - $3 * interval '1 minute', $4, $5, $6) RETURNING id`,
            [
              name,
              status,
              endedMinutesAgo,
              name === 'middle' ? null : exp[0]!.id,
              name === 'middle' ? null : group,
              0,
            ],
          );
          ids[name] = rows[0]!.id;
        }
        await migrate(db);
        const page = await readFeedPage(db, START, 100);
        assert.deepEqual(
          page.map((e) => [e.task_id, e.status, e.kind]),
          [
            [ids.early, 'failed', 'task.status'],
            [ids.middle, 'cancelled', 'task.status'],
            [ids.late, 'completed', 'task.status'],
          ],
        );
        const groups = await db.query<{ size: number; remaining: number }>(
          'SELECT size, remaining FROM task_groups',
        );
        assert.deepEqual(groups.rows, [{ size: 3, remaining: 1 }]);
        // The pending member finishing now completes the group, exactly once.
        await db.query(`UPDATE tasks SET status = 'cancelled', completed_at = now() WHERE id = $1`, [
          ids.waiting,
        ]);
        const after = await readFeedPage(db, page.at(-1)!.cursor, 100);
        assert.deepEqual(
          after.map((e) => e.kind),
          ['task.status', 'group.completed'],
        );
      } finally {
        await drop();
      }
    });
  });
}
