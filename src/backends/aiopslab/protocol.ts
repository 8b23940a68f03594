/**
 * The worker's side of bridge/PROTOCOL.md: the messages it reads, and a splitter for the
 * bridge's stdout. Protocol lines have no length limit (an observation of several MB is one
 * line), so LineSplitter, which cuts at 16 KiB, is not used for them.
 */
import type { JsonObject } from '../../queue/types.ts';

export const PROTOCOL_VERSION = 1;

export type BridgeMessage = JsonObject & { type: string };

/** Splits a stream into whole lines, however long; pieces are joined once per line. */
export class ProtocolSplitter {
  private pieces: string[] = [];

  constructor(private readonly onLine: (line: string) => void) {}

  push(chunk: string): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf('\n', start);
      if (nl === -1) break;
      this.pieces.push(chunk.slice(start, nl));
      const line = this.pieces.join('');
      this.pieces = [];
      if (line.trim()) this.onLine(line);
      start = nl + 1;
    }
    if (start < chunk.length) this.pieces.push(chunk.slice(start));
  }

  /** A last line without its newline (a bridge killed mid-write) counts as a line. */
  end(): void {
    const line = this.pieces.join('');
    this.pieces = [];
    if (line.trim()) this.onLine(line);
  }
}

/** A message, or a description of why the line is not one. */
export function parseMessage(line: string): BridgeMessage | string {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return `stdout line is not JSON: ${line.slice(0, 200)}`;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return `stdout line is not a JSON object: ${line.slice(0, 200)}`;
  const type = (value as JsonObject).type;
  if (typeof type !== 'string') return `stdout message has no type: ${line.slice(0, 200)}`;
  return value as BridgeMessage;
}
