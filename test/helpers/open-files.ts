import { readdirSync, readlinkSync } from 'node:fs';

/** This process's open Parquet footer spill files (parquet-footer.ts), from /proc/self/fd. */
export function openSpillFiles(): string[] {
  return readdirSync('/proc/self/fd')
    .map((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`);
      } catch {
        return '';
      }
    })
    .filter((target) => target.includes('te-parquet-footer-'));
}
