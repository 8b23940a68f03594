/**
 * What every export format is, so the server's endpoint and the CLI write the same bytes:
 * a line format turns one trajectory record into zero or more JSON documents, one per line;
 * a file format (Parquet) takes the records one by one and writes a whole file.
 */
import type { Writable } from 'node:stream';
import type { TrajectoryRecord } from './record.ts';

export type LineConverter = (record: TrajectoryRecord) => unknown[];

export interface FileWriter {
  write(record: TrajectoryRecord): Promise<void>;
  /** Finishes the file (footer, last row group) and resolves once all bytes are handed to `out`. */
  end(): Promise<void>;
  /** Releases what the writer holds (a temporary file) when the export stops before end(). */
  close(): void;
}

export type FileWriterFactory = (out: Writable) => FileWriter;

export type ExportFormatName = 'trajectories' | 'openai-chat' | 'tokens' | 'atif' | 'parquet';
