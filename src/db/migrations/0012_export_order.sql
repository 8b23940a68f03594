-- Exports read finished tasks in the order of their finish event (datasets/export/store.ts):
-- `ORDER BY txid, id LIMIT n` over terminal task.status rows. Through the cursor index the
-- planner misjudged the row-comparison range and sorted every event of the range for each
-- page (2.6 ms a page at a thousand tasks, growing with the history); this partial index holds
-- only finish events, in export order, so a page is an index range read (0.15 ms).
CREATE INDEX feed_events_finished_idx ON feed_events (txid, id)
  WHERE kind = 'task.status' AND status IN ('completed', 'failed', 'timeout', 'cancelled');
