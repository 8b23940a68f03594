/**
 * Reads asked in one turn of the event loop, answered by one statement. Concurrent requests
 * (many workers reporting at once, the reports of one batch) each ask for a few keys; the
 * first question of a turn schedules one lookup, on setImmediate, for every key asked until
 * then, and each caller gets its own keys' answers. Only for reads: a failed lookup fails every
 * caller of that turn, and nothing is written that one caller's error could undo for another.
 */
export class TurnBatch<K, V> {
  private asked: Array<{
    keys: readonly K[];
    resolve: (m: Map<K, V>) => void;
    reject: (e: unknown) => void;
  }> = [];

  /** `lookup` answers the keys it knows; a key it leaves out is absent from the caller's map. */
  constructor(private readonly lookup: (keys: readonly K[]) => Promise<Map<K, V>>) {}

  get(keys: readonly K[]): Promise<Map<K, V>> {
    return new Promise((resolve, reject) => {
      this.asked.push({ keys, resolve, reject });
      if (this.asked.length === 1) setImmediate(() => void this.run());
    });
  }

  private async run(): Promise<void> {
    const turn = this.asked;
    this.asked = [];
    try {
      const all = await this.lookup([...new Set(turn.flatMap((q) => q.keys))]);
      for (const q of turn) {
        const mine = new Map<K, V>();
        for (const k of q.keys) if (all.has(k)) mine.set(k, all.get(k)!);
        q.resolve(mine);
      }
    } catch (err) {
      for (const q of turn) q.reject(err);
    }
  }
}
