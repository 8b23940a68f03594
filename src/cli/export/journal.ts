/**
 * Appends whole tasks to the data file and keeps the resume point in step with it. A resume
 * point is saved every `everyTasks` tasks, and by a timer every `everyMs` while anything is
 * unsaved (so a stalled or slow stream still leaves a recent one), always after the data it
 * names is on disk. Appends and saves run one at a time through a promise chain.
 */
import { type ExportTally, tallyTask } from '../../datasets/export/manifest.ts';
import type { TrajectoryRecord } from '../../datasets/export/record.ts';
import type { DataFile } from './data-file.ts';
import type { EncodedTask } from './output.ts';
import { type PartialState, writeJsonAtomic } from './state.ts';

export interface JournalOptions {
  everyTasks: number;
  everyMs: number;
}

export class Journal {
  private chain: Promise<void> = Promise.resolve();
  private unsaved = 0;
  /** A save the timer started that failed; the next commit reports it. */
  private timerFailure: unknown = null;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly data: DataFile,
    private current: PartialState,
    private readonly partialPath: string,
    private readonly opts: JournalOptions,
  ) {
    this.timer = setInterval(() => {
      if (this.unsaved > 0)
        this.save().catch((err: unknown) => {
          this.timerFailure ??= err;
        });
    }, opts.everyMs);
    this.timer.unref();
  }

  /** The resume point as last committed (saved to disk at the next save). */
  get state(): PartialState {
    return this.current;
  }

  get tally(): ExportTally {
    return this.current.tally;
  }

  get cursor(): string {
    return this.current.cursor;
  }

  /** Bytes in the data file, including appends not yet flushed. */
  get bytes(): number {
    return this.data.bytes;
  }

  /** Changes that do not move the resume point (range total, versions) go in with the next save. */
  amend(patch: Partial<Pick<PartialState, 'total' | 'until' | 'schema_version' | 'server_version'>>) {
    this.current = { ...this.current, ...patch };
  }

  /** Appends one complete task (every record with its finish cursor). */
  commit(cursor: string, records: readonly TrajectoryRecord[], encoded: EncodedTask): Promise<void> {
    return this.serial(async () => {
      if (this.timerFailure) throw this.timerFailure;
      await this.data.append(encoded.bytes);
      this.current = {
        ...this.current,
        cursor,
        tally: tallyTask(this.current.tally, records, encoded.units),
      };
      this.unsaved++;
      if (this.unsaved >= this.opts.everyTasks) await this.saveNow();
    });
  }

  /** Flushes the data to disk, then records the resume point that names it. */
  save(): Promise<void> {
    return this.serial(() => this.saveNow());
  }

  /** Saves and closes the data file; the journal takes no more tasks. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    try {
      await this.save();
    } finally {
      await this.serial(() => this.data.close());
    }
  }

  private async saveNow(): Promise<void> {
    await this.data.sync();
    this.current = { ...this.current, bytes: this.data.bytes, updated_at: new Date().toISOString() };
    await writeJsonAtomic(this.partialPath, this.current);
    this.unsaved = 0;
  }

  private serial(fn: () => Promise<void>): Promise<void> {
    const run = this.chain.then(fn);
    // A failed step fails its caller; the chain itself goes on for the next one.
    this.chain = run.catch(() => {});
    return run;
  }
}
