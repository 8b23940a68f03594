/**
 * The CLI's exit statuses, one meaning each, so scripts can tell "fix the command" from "it ran
 * and something failed":
 *   0 success;
 *   1 an error while running (API error, server unreachable, a task that did not complete);
 *   2 bad usage — refused before anything was done: an unknown option, a missing or malformed
 *     argument, a bad number, a configuration value that fails validation, an export refused;
 *   130 interrupted (Ctrl-C), as shells report it.
 */
import type { CommanderError } from 'commander';
import { ConfigError } from '../config/index.ts';
import { ApiError } from './client.ts';

export const EXIT_OK = 0;
export const EXIT_ERROR = 1;
export const EXIT_USAGE = 2;
export const EXIT_INTERRUPTED = 130;

/** A command line the CLI refuses before doing anything (exit 2). */
export class UsageError extends Error {
  override name = 'UsageError';
}

/**
 * commander's own exits (help, --version, unknown option, a parser that refused a value): help
 * and the version keep their 0; everything commander refuses is bad usage, whatever exit code
 * commander itself would pick (it uses 1 for most).
 */
export function commanderExit(err: CommanderError): never {
  process.exit(err.exitCode === 0 ? EXIT_OK : EXIT_USAGE);
}

/** Prints one line for an error that ended a command and returns its exit status. */
export function reportError(err: unknown, print: (line: string) => void = console.error): number {
  if (err instanceof ApiError) {
    const details = err.details ? ` ${JSON.stringify(err.details)}` : '';
    print(`error: ${err.message} (${err.status} ${err.code})${details}`);
    if (err.status === 401) print('The API requires a token: pass --token or set TASK_EXECUTOR_TOKEN.');
    return EXIT_ERROR;
  }
  if (err instanceof ConfigError) {
    print(err.message);
    return EXIT_USAGE;
  }
  if (err instanceof UsageError) {
    print(`error: ${err.message}`);
    return EXIT_USAGE;
  }
  print(`error: ${err instanceof Error ? err.message : String(err)}`);
  return EXIT_ERROR;
}

/**
 * `task-executor status --json | head -c 10`: once the reader has gone, nothing more can be
 * shown, and the command's work is either done or worthless, so the CLI ends quietly with 0
 * (as `cat` does under a shell that ignores SIGPIPE) instead of an unhandled EPIPE stack trace.
 */
export function exitQuietlyOnClosedStdout(stdout: NodeJS.WriteStream = process.stdout): void {
  stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(EXIT_OK);
    throw err;
  });
}
