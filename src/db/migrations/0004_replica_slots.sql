-- In-process worker ids per API replica. Every replica used to call its in-process workers
-- worker-001-internal…, so two replicas shared one worker row (its max_parallel, its draining
-- status). Each running replica now holds a slot; slot s names its workers from s*50+1 up, so
-- the ids stay unique and still match the default id pattern (three digits).
CREATE TABLE replica_slots (
  slot      integer PRIMARY KEY CONSTRAINT replica_slots_slot_check CHECK (slot BETWEEN 0 AND 18),
  instance  text NOT NULL,
  last_seen timestamptz NOT NULL DEFAULT now()
);
