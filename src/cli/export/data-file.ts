/**
 * The file an export appends to (the output of a line format, the spool of a file format):
 * buffered appends, its exact size in bytes, and a flush to disk before each resume point is
 * saved, so the recorded size never runs ahead of the bytes that survive a crash.
 */
import { type FileHandle, open } from 'node:fs/promises';

/** Appends are gathered up to this size before one write call (fewer syscalls, bounded memory). */
const BUFFER_BYTES = 1 << 20;

export class DataFile {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  private constructor(
    private readonly fh: FileHandle,
    private written: number,
  ) {}

  /**
   * Opens `path` for appending after its first `keep` bytes (0 starts a new file). Bytes past
   * `keep` belong to tasks written after the last resume point and are cut off.
   */
  static async open(path: string, keep: number): Promise<DataFile> {
    const fh = await open(path, keep === 0 ? 'w' : 'r+');
    try {
      const { size } = await fh.stat();
      if (size < keep)
        throw new Error(
          `${path} has ${size} bytes but the resume point says ${keep}: it was changed since; pass --force to start over`,
        );
      await fh.truncate(keep);
      return new DataFile(fh, keep);
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  /** Bytes in the file once everything appended so far is written. */
  get bytes(): number {
    return this.written + this.pendingBytes;
  }

  async append(chunk: Buffer): Promise<void> {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes >= BUFFER_BYTES) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.pendingBytes === 0) return;
    const data = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    let off = 0;
    while (off < data.length) {
      const { bytesWritten } = await this.fh.write(data, off, data.length - off, this.written + off);
      off += bytesWritten;
    }
    this.written += data.length;
  }

  /** Flushes and waits for the data to reach the disk (before a resume point names its size). */
  async sync(): Promise<void> {
    await this.flush();
    await this.fh.datasync();
  }

  async close(): Promise<void> {
    await this.flush();
    await this.fh.close();
  }
}
