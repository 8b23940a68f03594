/**
 * Splits a child's output stream into lines without ever holding more than `max` characters
 * of one line: a longer line is cut, marked, and the rest of it skipped.
 */
export class LineSplitter {
  private partial = '';
  private skipping = false;

  constructor(
    private readonly onLine: (line: string) => void,
    private readonly max = 16 * 1024,
  ) {}

  push(chunk: string): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf('\n', start);
      if (nl === -1) break;
      this.take(chunk.slice(start, nl), true);
      start = nl + 1;
    }
    if (start < chunk.length) this.take(chunk.slice(start), false);
  }

  end(): void {
    if (this.partial && !this.skipping) this.onLine(this.partial.replace(/\r$/, ''));
    this.partial = '';
    this.skipping = false;
  }

  private take(piece: string, complete: boolean): void {
    if (!this.skipping) {
      this.partial += piece;
      if (this.partial.length > this.max) {
        this.onLine(`${this.partial.slice(0, this.max)} …[line truncated]`);
        this.partial = '';
        this.skipping = !complete;
        return;
      }
      if (complete) {
        this.onLine(this.partial.replace(/\r$/, ''));
        this.partial = '';
      }
      return;
    }
    if (complete) this.skipping = false;
  }
}
