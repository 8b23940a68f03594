/**
 * Replica slots: which running API replica owns which block of in-process worker ids. A slot
 * is taken at start (the lowest free one, or one whose owner stopped renewing it), renewed
 * while the replica runs, and given up on shutdown. Slot s names its workers from s*50+1.
 */
import type { Queryable } from '../db/types.ts';

export const REPLICA_SLOTS = 19;
const SLOT_LOCK = 7_413_003;

export class NoFreeReplicaSlot extends Error {
  override name = 'NoFreeReplicaSlot';
}

/** Takes a slot for `instance`; a slot not renewed for `staleSeconds` is free to take. */
export async function takeReplicaSlot(
  db: { transaction<T>(fn: (q: Queryable) => Promise<T>): Promise<T> },
  instance: string,
  staleSeconds: number,
): Promise<number> {
  return db.transaction(async (q) => {
    // Replicas starting together take slots one at a time.
    await q.query('SELECT pg_advisory_xact_lock($1)', [SLOT_LOCK]);
    const { rows } = await q.query<{ slot: number }>(
      `SELECT s AS slot FROM generate_series(0, $1::int - 1) s
       WHERE NOT EXISTS (SELECT 1 FROM replica_slots r
                         WHERE r.slot = s AND r.last_seen > now() - $2::int * interval '1 second')
       ORDER BY s LIMIT 1`,
      [REPLICA_SLOTS, staleSeconds],
    );
    const slot = rows[0]?.slot;
    if (slot === undefined)
      throw new NoFreeReplicaSlot(
        `All ${REPLICA_SLOTS} replica slots for in-process workers are in use: run this replica with NUM_INTERNAL_WORKERS=0 (remote workers have ids of their own)`,
      );
    await q.query(
      `INSERT INTO replica_slots (slot, instance, last_seen) VALUES ($1, $2, now())
       ON CONFLICT (slot) DO UPDATE SET instance = EXCLUDED.instance, last_seen = now()`,
      [slot, instance],
    );
    return slot;
  });
}

/** Keeps the slot; false when another replica took it over (this one was presumed dead). */
export async function renewReplicaSlot(db: Queryable, slot: number, instance: string): Promise<boolean> {
  const r = await db.query('UPDATE replica_slots SET last_seen = now() WHERE slot = $1 AND instance = $2', [
    slot,
    instance,
  ]);
  return r.rowCount === 1;
}

export async function releaseReplicaSlot(db: Queryable, slot: number, instance: string): Promise<void> {
  await db.query('DELETE FROM replica_slots WHERE slot = $1 AND instance = $2', [slot, instance]);
}
