/**
 * The server's garbage-collection policy. V8 sizes the old generation after each full
 * collection as live × a factor it picks between 1.1 and 4 from how fast collection is; in a
 * process with gigabytes of memory it picks high, so a workload that makes a lot of short-lived
 * but promoted data (an export's pages: read ahead, alive across a few scavenges) grows the
 * resident set by the garbage it leaves between collections — measured on the export bench, a
 * server at 130 MB idle peaked at 260-285 MB; with the factor fixed at 1.6, at 180-225 MB, with
 * the same throughput. Set at run time: V8 reads the flag at each full collection.
 */
import v8 from 'node:v8';

const FLAG = '--heap-growing-percent';

/** Applies HEAP_GROWING_PERCENT unless 0 or the flag was given to node itself (which wins). */
export function applyHeapGrowingPercent(percent: number): boolean {
  if (percent <= 0) return false;
  // (NODE_OPTIONS cannot carry this flag: node refuses it there.)
  if (process.execArgv.some((arg) => arg.replace(/_/g, '-').startsWith(FLAG))) return false;
  v8.setFlagsFromString(`${FLAG}=${percent}`);
  return true;
}
