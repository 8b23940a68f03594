/** A Map that forgets its oldest entries beyond a size: the gateway's per-conversation caches. */
export class BoundedMap<K, V> extends Map<K, V> {
  constructor(private readonly max: number) {
    super();
  }

  override set(key: K, value: V): this {
    // Re-inserting moves the key to the newest end, so the oldest is always first.
    this.delete(key);
    super.set(key, value);
    if (this.size > this.max) this.delete(this.keys().next().value as K);
    return this;
  }
}
