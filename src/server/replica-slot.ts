/**
 * This replica's slot (queue/replicas.ts): taken at start, renewed on a timer, given up on
 * close. Its number sets the block of in-process worker ids, so replicas never share a row.
 */
import { randomUUID } from 'node:crypto';
import type { Db } from '../db/types.ts';
import { releaseReplicaSlot, renewReplicaSlot, takeReplicaSlot } from '../queue/index.ts';
import { MAX_INTERNAL_WORKERS } from '../worker/manager.ts';

const RENEW_SECONDS = 10;
/** A slot not renewed for this long belongs to a replica that is gone. */
const STALE_SECONDS = 6 * RENEW_SECONDS;

export class ReplicaSlot {
  private timer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly db: Db,
    readonly slot: number,
    private readonly instance: string,
    private readonly onLost: () => void,
  ) {}

  static async take(db: Db, onLost: () => void): Promise<ReplicaSlot> {
    const instance = randomUUID();
    const slot = await takeReplicaSlot(db, instance, STALE_SECONDS);
    const held = new ReplicaSlot(db, slot, instance, onLost);
    held.timer = setInterval(() => void held.renew(), RENEW_SECONDS * 1000);
    held.timer.unref();
    return held;
  }

  /** The first in-process worker number of this replica's block, minus one. */
  get idBase(): number {
    return this.slot * MAX_INTERNAL_WORKERS;
  }

  private async renew(): Promise<void> {
    // A database outage only delays the renewal; a slot taken over is reported once.
    const kept = await renewReplicaSlot(this.db, this.slot, this.instance).catch(() => true);
    if (!kept) this.onLost();
  }

  async release(): Promise<void> {
    clearInterval(this.timer);
    await releaseReplicaSlot(this.db, this.slot, this.instance).catch(() => {});
  }
}
