/**
 * The sandbox's virtual time. Observations show times (ages, log timestamps, event times)
 * from this clock only: it starts at a fixed instant derived from the problem id and moves
 * forward a fixed amount per agent step, so the same replies give the same observations.
 */
import { seededInt } from './hash.ts';

export const SECONDS_PER_STEP = 20;
/** How long before the agent's first step the app was deployed and the fault injected. */
export const APP_AGE_SECONDS = 600;
export const FAULT_AGE_SECONDS = 150;

export class VirtualClock {
  /** Unix seconds at the agent's first step. */
  readonly start: number;
  private elapsed = 0;

  constructor(seed: string) {
    // 2025-01-15T10:00:00Z plus up to a day, so different problems show different dates.
    this.start = 1736935200 + seededInt(`${seed}:clock`, 0, 86399);
  }

  now(): number {
    return this.start + this.elapsed;
  }

  advance(seconds = SECONDS_PER_STEP): void {
    this.elapsed += seconds;
  }
}

export function isoTime(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

/** RFC1123Z as kubectl describe prints it: `Wed, 15 Jan 2025 10:00:00 +0000`. */
export function rfc1123(seconds: number): string {
  const d = new Date(seconds * 1000);
  const time = d.toISOString().slice(11, 19);
  return `${DAYS[d.getUTCDay()]}, ${String(d.getUTCDate()).padStart(2, '0')} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ${time} +0000`;
}

/** DeathStarBench's C++ logger timestamp: `2025-Jan-15 10:00:00.123456`. */
export function boostTime(seconds: number, micros: number): string {
  const d = new Date(seconds * 1000);
  const time = d.toISOString().slice(11, 19);
  const day = String(d.getUTCDate()).padStart(2, '0');
  return `${d.getUTCFullYear()}-${MONTHS[d.getUTCMonth()]}-${day} ${time}.${String(micros).padStart(6, '0')}`;
}

/** kubectl's HumanDuration (the AGE column and event ages). */
export function humanDuration(totalSeconds: number): string {
  const s = Math.max(0, Math.floor(totalSeconds));
  if (s < 120) return `${s}s`;
  const minutes = Math.floor(s / 60);
  if (minutes < 10) return s % 60 === 0 ? `${minutes}m` : `${minutes}m${s % 60}s`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`;
  if (hours < 48) return `${hours}h`;
  const days = Math.floor(hours / 24);
  if (days < 8) return hours % 24 === 0 ? `${days}d` : `${days}d${hours % 24}h`;
  return `${days}d`;
}
