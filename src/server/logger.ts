/**
 * The process logger, one for the server and one for a remote worker. LOG_FORMAT picks how a
 * line looks: `json` (one pino JSON object per line, for log collectors), `pretty` (time,
 * level, message and fields on one readable line), or `auto`: pretty when stdout is a
 * terminal, JSON when it is a pipe or a file, so a person at a terminal reads sentences and a
 * collector still gets JSON without setting anything.
 *
 * pino-pretty runs as a synchronous stream in this process rather than a pino transport: a
 * transport is a worker thread that loses its last lines when the process exits at once
 * (a refused start, a fatal error), which are the lines a newcomer most needs to read.
 */
import pino, { type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import pretty from 'pino-pretty';
import type { Config } from '../config/index.ts';

// The default serializers log no headers; this guards any that someone adds later. The
// authorization header carries API and gateway tokens, so it must never reach a log line.
export const REDACT = ['req.headers.authorization', 'req.headers.cookie', 'req.headers["x-api-key"]'];

export type LogFormat = Config['LOG_FORMAT'];

export interface LoggerTarget {
  /** Where lines go; default stdout. */
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Fields on every line (a remote worker's id). */
  base?: Record<string, unknown>;
}

/** `auto` resolved against the stream: pretty for a terminal, JSON otherwise. */
export function resolveLogFormat(format: LogFormat, stream: { isTTY?: boolean }): 'json' | 'pretty' {
  if (format === 'auto') return stream.isTTY ? 'pretty' : 'json';
  return format;
}

export function createLogger(
  config: Pick<Config, 'LOG_LEVEL' | 'LOG_FORMAT'>,
  target: LoggerTarget = {},
): Logger {
  const stream = target.stream ?? process.stdout;
  const options: LoggerOptions = {
    level: config.LOG_LEVEL,
    redact: REDACT,
    ...(target.base ? { base: target.base } : {}),
  };
  if (resolveLogFormat(config.LOG_FORMAT, stream) === 'json')
    return pino(options, stream as DestinationStream);
  const prettyStream = pretty({
    destination: stream,
    colorize: stream.isTTY === true,
    sync: true,
    translateTime: 'SYS:HH:MM:ss.l',
    // Every line of one process has the same pid and host.
    ignore: 'pid,hostname',
    singleLine: true,
  });
  return pino(options, prettyStream);
}
