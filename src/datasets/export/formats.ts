/**
 * The export formats, by the name `?format=` and `--format` take. The server's endpoint and the
 * CLI both write through this table, so the same records give the same bytes either way.
 */
import { atifDocuments } from './atif.ts';
import type { ExportFormatName, FileWriterFactory, LineConverter } from './format-types.ts';
import { openAiChatLines } from './openai-chat.ts';
import { createParquetWriter } from './parquet.ts';
import { tokenLines } from './tokens.ts';

export type ExportFormat =
  | { name: ExportFormatName; kind: 'lines'; contentType: string; extension: string; convert: LineConverter }
  | {
      name: ExportFormatName;
      kind: 'file';
      contentType: string;
      extension: string;
      writer: FileWriterFactory;
    };

const NDJSON = 'application/x-ndjson';

const FORMATS: Record<string, ExportFormat> = {
  trajectories: {
    name: 'trajectories',
    kind: 'lines',
    contentType: NDJSON,
    extension: '.jsonl',
    convert: (record) => [record],
  },
  'openai-chat': {
    name: 'openai-chat',
    kind: 'lines',
    contentType: NDJSON,
    extension: '.jsonl',
    convert: openAiChatLines,
  },
  tokens: { name: 'tokens', kind: 'lines', contentType: NDJSON, extension: '.jsonl', convert: tokenLines },
  atif: { name: 'atif', kind: 'lines', contentType: NDJSON, extension: '.jsonl', convert: atifDocuments },
  parquet: {
    name: 'parquet',
    kind: 'file',
    contentType: 'application/vnd.apache.parquet',
    extension: '.parquet',
    writer: (out) => createParquetWriter(out, { tokensOf: tokenLines }),
  },
};

export const formatNames = (): string[] => Object.keys(FORMATS);

export function lookupFormat(name: string): ExportFormat | undefined {
  return Object.hasOwn(FORMATS, name) ? FORMATS[name] : undefined;
}

/** One JSON document per line: the bytes a line format writes for one record. */
export function encodeLines(
  format: Extract<ExportFormat, { kind: 'lines' }>,
  record: Parameters<LineConverter>[0],
): string {
  let out = '';
  for (const doc of format.convert(record)) out += `${JSON.stringify(doc)}\n`;
  return out;
}
