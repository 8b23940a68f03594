import type { Writable } from 'node:stream';
import { ByteWriter } from 'hyparquet-writer';

const GATHER_BYTES = 64 * 1024;

/**
 * hyparquet-writer's byte sink, passing its bytes on to a Writable as they are produced
 * (synchronously: the encoder cannot wait); after each row group `flush` waits for `out` to
 * drain, which is what holds the producer back.
 *
 * Memory: small writes (headers, levels, the footer) are gathered in one reused buffer and
 * handed on as exact-size copies; compressed pages, the bulk, go to `out` as they are
 * (`appendOwned`), never copied. Handing on the gathering buffer itself and allocating a new
 * one, as before, left a 1 MiB garbage buffer per MiB of output for the GC to find.
 */
export class StreamSink extends ByteWriter {
  private failure: Error | null = null;

  constructor(private readonly out: Writable) {
    super(GATHER_BYTES);
    out.once('error', (err) => {
      this.failure = err;
    });
  }

  override ensure(size: number): void {
    if (this.index > 0 && this.index + size > GATHER_BYTES) this.push();
    super.ensure(size);
  }

  /** Bytes nobody will touch again (a fresh compressor output): written without a copy. */
  appendOwned(bytes: Uint8Array): void {
    this.push();
    this.out.write(bytes);
    this.offset += bytes.length;
  }

  /** Hands a copy of the gathered bytes to `out`, and gathers again from the start. */
  private push(): void {
    if (this.index === 0) return;
    this.out.write(Buffer.from(new Uint8Array(this.buffer, 0, this.index)));
    this.index = 0;
  }

  async flush(): Promise<void> {
    this.push();
    this.throwIfGone();
    if (this.out.writableNeedDrain) await drainOrClose(this.out);
    this.throwIfGone();
  }

  /**
   * A destination destroyed without an error (an HTTP client that went away) never drains: the
   * export must stop there, not wait forever holding a row group.
   */
  private throwIfGone(): void {
    if (this.failure) throw this.failure;
    if (this.out.destroyed) throw new Error('the export destination closed before the end');
  }

  override async finish(): Promise<void> {
    await this.flush();
  }
}

function drainOrClose(out: Writable): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      out.off('drain', done);
      out.off('close', done);
      resolve();
    };
    out.on('drain', done);
    out.on('close', done);
  });
}
