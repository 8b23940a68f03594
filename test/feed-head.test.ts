/**
 * The feed's ends are read by the columns, not by their text: with ten or more events in one
 * transaction, '9' sorts after '12' as text, and `now` (feedHead) would point at an older event.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatCursor } from '../src/datasets/cursor.ts';
import { feedHead, feedTail } from '../src/datasets/feed-store.ts';
import { createTestDb, dbModes } from './helpers/db.ts';

for (const mode of dbModes()) {
  describe(`feed head and tail (${mode})`, () => {
    it('are the newest and the oldest event by number, past a digit boundary', async (t) => {
      const { db, drop } = await createTestDb(mode);
      t.after(drop);
      await db.query(`INSERT INTO tasks (problem_id) SELECT 'p-' || i FROM generate_series(1, 12) i`);
      const { rows } = await db.query<{ first: string; last: string }>(
        `SELECT min(txid::text || '-' || id) FILTER (WHERE id = (SELECT min(id) FROM feed_events)) AS first,
                min(txid::text || '-' || id) FILTER (WHERE id = (SELECT max(id) FROM feed_events)) AS last
         FROM feed_events`,
      );
      assert.match(rows[0]!.last, /-12$/);
      assert.equal(formatCursor(await feedHead(db)), rows[0]!.last);
      assert.equal(formatCursor((await feedTail(db))!), rows[0]!.first);
    });
  });
}
