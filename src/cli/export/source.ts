/**
 * One request to the export endpoint: its headers (the snapshot bound, the task count, the
 * versions) and its body as complete lines. A body that stops in the middle of a line did not
 * end normally (the connection was cut), so it throws rather than yield the fragment.
 */
import type { Client } from '../client.ts';

export interface ExportResponse {
  /** `x-export-until`: the cursor bounding this snapshot. */
  until: string | null;
  /** `x-export-total`: tasks matching in (after, until]. */
  total: number | null;
  schemaVersion: string | null;
  serverVersion: string | null;
  /** The body, one line at a time without its newline. */
  lines: AsyncGenerator<Buffer>;
}

export class TruncatedStreamError extends Error {
  override name = 'TruncatedStreamError';
}

export async function openExport(
  client: Pick<Client, 'open'>,
  query: string,
  signal: AbortSignal,
): Promise<ExportResponse> {
  const res = await client.open(`/api/v1/export?${query}`, { accept: 'application/x-ndjson' }, signal);
  const h = res.headers;
  const total = h.get('x-export-total');
  if (!res.body) throw new TruncatedStreamError('the export response has no body');
  return {
    until: h.get('x-export-until'),
    total: total === null || !/^\d+$/.test(total) ? null : Number(total),
    schemaVersion: h.get('x-export-schema-version'),
    serverVersion: h.get('x-export-server-version'),
    lines: splitLines(res.body),
  };
}

const NEWLINE = 0x0a;

/**
 * Yields each newline-terminated line; throws if bytes are left over when the body ends. A line
 * longer than a chunk is gathered as pieces and joined once, so a record of many megabytes
 * costs one copy rather than one per chunk.
 */
export async function* splitLines(body: AsyncIterable<Uint8Array>): AsyncGenerator<Buffer> {
  let pieces: Buffer[] = [];
  let pending = 0;
  for await (const chunk of body) {
    const buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let start = 0;
    for (let nl = buf.indexOf(NEWLINE, start); nl >= 0; nl = buf.indexOf(NEWLINE, start)) {
      const tail = buf.subarray(start, nl);
      const line = pieces.length ? Buffer.concat([...pieces, tail]) : tail;
      pieces = [];
      pending = 0;
      if (line.length) yield line;
      start = nl + 1;
    }
    if (start < buf.length) {
      pieces.push(buf.subarray(start));
      pending += buf.length - start;
    }
  }
  if (pending) throw new TruncatedStreamError(`the export stream ended inside a line (${pending} bytes)`);
}
