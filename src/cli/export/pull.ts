/**
 * Reads the range (cursor, until] from the export endpoint and hands each complete task to the
 * journal. The attempts of one task arrive together and share its finish cursor, so a task is
 * complete when a line with another cursor follows or the stream ends normally; a task cut off
 * by a dropped connection is dropped and asked for again, from the journal's cursor.
 */
import type { TrajectoryRecord } from '../../datasets/export/record.ts';
import { ApiError } from '../client.ts';
import type { Journal } from './journal.ts';
import { exportQuery } from './options.ts';
import type { EncodedTask } from './output.ts';
import type { ExportResponse } from './source.ts';

export interface PullOptions {
  journal: Journal;
  filters: Parameters<typeof exportQuery>[0];
  /** Known once the first response named it (a fresh export asks without a bound). */
  until: string | null;
  request(query: string, signal: AbortSignal): Promise<ExportResponse>;
  encode(records: readonly TrajectoryRecord[], raw: readonly Buffer[]): EncodedTask;
  /** Aborted on SIGINT/SIGTERM: the pull stops at a task boundary. */
  stop: AbortSignal;
  /** Each response's headers: `total` counts the tasks still to come in (cursor, until]. */
  onResponse(r: ExportResponse, after: string): void;
  onTask(): void;
  onRetry(err: Error, attempt: number, delayMs: number): void;
  retries?: number;
  backoffMs?: number;
}

interface OpenTask {
  cursor: string;
  records: TrajectoryRecord[];
  raw: Buffer[];
}

export type PullEnd = 'complete' | 'interrupted';

export async function pull(o: PullOptions): Promise<PullEnd> {
  const retries = o.retries ?? 6;
  const backoff = o.backoffMs ?? 500;
  let until = o.until;
  let failures = 0;
  for (;;) {
    const before = o.journal.tally.tasks;
    try {
      const after = o.journal.cursor;
      const res = await o.request(exportQuery(o.filters, { after, until }), o.stop);
      if (until === null) {
        if (!res.until)
          throw new ProtocolError('the server sent no x-export-until; is it too old to export?');
        until = res.until;
      }
      o.onResponse(res, after);
      await readTasks(res, o);
      return 'complete';
    } catch (err) {
      if (o.stop.aborted) return 'interrupted';
      if (!retryable(err)) throw err;
      // Progress since the last failure means the server is fine and the link flaky: start over.
      failures = o.journal.tally.tasks > before ? 1 : failures + 1;
      if (failures > retries)
        throw new Error(`gave up after ${retries} retries: ${describe(err)}`, { cause: err });
      const delay = Math.min(8000, backoff * 2 ** (failures - 1));
      o.onRetry(err as Error, failures, delay);
      if (!(await sleep(delay, o.stop))) return 'interrupted';
    }
  }
}

async function readTasks(res: ExportResponse, o: PullOptions): Promise<void> {
  let open: OpenTask | null = null;
  for await (const line of res.lines) {
    const record = parseRecord(line);
    if (open && open.cursor !== record.cursor) {
      await commit(open, o);
      open = null;
    }
    open ??= { cursor: record.cursor, records: [], raw: [] };
    open.records.push(record);
    open.raw.push(line);
  }
  if (open) await commit(open, o);
}

async function commit(task: OpenTask, o: PullOptions): Promise<void> {
  try {
    await o.journal.commit(task.cursor, task.records, o.encode(task.records, task.raw));
  } catch (err) {
    throw new LocalError(`cannot write the export: ${describe(err)}`, { cause: err });
  }
  o.onTask();
}

/** The server said something this client cannot use: asking again would get the same. */
export class ProtocolError extends Error {
  override name = 'ProtocolError';
}

/** Writing here failed (disk full, permissions): not the network's fault. */
class LocalError extends Error {
  override name = 'LocalError';
}

function parseRecord(line: Buffer): TrajectoryRecord {
  let r: unknown;
  try {
    r = JSON.parse(line.toString('utf8'));
  } catch (err) {
    throw new ProtocolError(`the server sent a line that is not JSON: ${line.subarray(0, 80)}…`, {
      cause: err,
    });
  }
  if (typeof r !== 'object' || r === null || typeof (r as { cursor?: unknown }).cursor !== 'string')
    throw new ProtocolError('the server sent a record without a cursor');
  return r as TrajectoryRecord;
}

/** Dropped connections and a server briefly unable to answer are retried; bad requests are not. */
function retryable(err: unknown): boolean {
  if (err instanceof ApiError) return err.status >= 500 || err.status === 429;
  return err instanceof Error && !(err instanceof ProtocolError) && !(err instanceof LocalError);
}

const describe = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** Resolves true after `ms`, or false at once when `stop` aborts first. */
function sleep(ms: number, stop: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (stop.aborted) return resolve(false);
    const timer = setTimeout(() => {
      stop.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    stop.addEventListener('abort', onAbort, { once: true });
  });
}
