/**
 * Deterministic pseudo-randomness for the sandbox: every name suffix, IP, age and metric
 * value is derived from a seed string (the problem id plus what is being named), never from
 * Math.random or the clock, so the same replies always produce the same observations.
 */

/** FNV-1a, 32 bits. */
export function hash32(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  // murmur3's finalizer: FNV alone leaves near-identical seeds with near-identical hashes.
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}

/** An integer in [min, max] drawn from the seed. */
export function seededInt(seed: string, min: number, max: number): number {
  return min + (hash32(seed) % (max - min + 1));
}

/** A float in [0, 1) drawn from the seed. */
export function seededUnit(seed: string): number {
  return hash32(seed) / 0x100000000;
}

// Kubernetes' name-suffix alphabet (no vowels, no look-alike characters).
const NAME_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

export function nameSuffix(seed: string, length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += NAME_ALPHABET[hash32(`${seed}#${i}`) % NAME_ALPHABET.length];
  return out;
}

export function hexId(seed: string, length: number): string {
  let out = '';
  for (let i = 0; out.length < length; i++) out += hash32(`${seed}#${i}`).toString(16).padStart(8, '0');
  return out.slice(0, length);
}

/** A version-4-shaped UUID from the seed. */
export function seededUuid(seed: string): string {
  const hex = hexId(seed, 32);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
