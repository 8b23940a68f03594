/**
 * The server's garbage-collection policy. V8 sizes the old generation after each full
 * collection as live × a factor it picks between 1.1 and 4 from how fast collection is; in a
 * process with gigabytes of memory it picks high, so a workload that makes a lot of short-lived
 * but promoted data grows the resident set by the garbage it leaves between collections.
 *
 * Measured (2026-12-08, quiet 2-vCPU machine): a server at 130 MB idle peaked at 260-285 MB
 * during a streamed export under V8's policy; at a fixed factor of 2 (100 %), 190-259 MB; at
 * 1.6 (60 %), 178-229 MB, each at the same export throughput. The gateway's 512-agent burst
 * peaked at 640 MB under V8's policy and 420-440 MB at 2 with the same CPU per call, but at 1.6
 * spent 10-25 % more CPU per call. So `serve` runs at HEAP_GROWING_PERCENT (100) and tightens to
 * EXPORT_HEAP_GROWING_PERCENT (60) while an export streams: an export's read-ahead pages are
 * promoted and die soon after, the garbage a tighter heap collects early.
 *
 * The flag is set at run time: V8 reads it at each full collection. Only `serve` configures
 * it; in any other process (tests, the CLI, a remote worker) these functions change nothing.
 */
import v8 from 'node:v8';

const FLAG = '--heap-growing-percent';

let policy: { base: number; exporting: number } | null = null;
let exportsRunning = 0;

/** 0 restores V8's own policy (it uses the flag only when positive). */
function setPercent(percent: number): void {
  v8.setFlagsFromString(`${FLAG}=${percent}`);
}

/**
 * Takes the policy for this process, unless node was given the flag itself (which wins:
 * NODE_OPTIONS cannot carry it, node refuses it there). Returns whether it was taken.
 */
export function applyHeapPolicy(base: number, exporting: number): boolean {
  if (process.execArgv.some((arg) => arg.replace(/_/g, '-').startsWith(FLAG))) return false;
  policy = { base, exporting };
  setPercent(base);
  return true;
}

/** The export policy until the returned function is called (idempotent), across concurrent exports. */
export function heapWhileExporting(): () => void {
  const taken = policy;
  if (!taken || taken.exporting === taken.base) return () => {};
  if (exportsRunning++ === 0) setPercent(taken.exporting);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    if (--exportsRunning === 0) setPercent(taken.base);
  };
}
