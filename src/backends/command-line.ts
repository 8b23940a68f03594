/**
 * COMMAND_BACKEND_CMD as the `command` backend runs it: parsed, with its relative paths made
 * absolute, and checked once at start so a worker that cannot run it says so before it claims.
 *
 * Why paths are resolved: every attempt runs in its own directory
 * (DATA_DIR/runs/<task>/attempt-<n>), so `["python3", "my_agent.py"]`, written in the folder
 * the server was started from, would look for the script in the attempt directory and fail with
 * "can't open file". The user meant the file next to them, so relative paths are resolved against
 * the directory the server or worker was started in:
 *   - the program, when it contains a slash (`./run.sh`, `bin/agent`); a bare name (`python3`)
 *     is looked up on PATH as a shell would;
 *   - any other argument that names an existing file or folder there (`my_agent.py`,
 *     `configs/a.yaml`). Options (`-x`, `--out=…`) and arguments holding a {placeholder} are
 *     left alone, and so is a word that names nothing there, so plain values pass unchanged.
 * A shell line cannot be taken apart safely, so it is left as written and runs in the attempt
 * directory; it gets START_DIR in its environment for paths (`"$START_DIR/my_agent.sh"`).
 */
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, isAbsolute, join, resolve } from 'node:path';

export type CommandLine = { argv: string[] } | { shell: string };

/**
 * A JSON array is an argv, run without a shell, placeholders substituted per element; anything
 * else is a shell line for `/bin/sh -c`, which gets task values only through the environment
 * (substituting them into shell text would let a problem id inject commands).
 */
export function parseCommandLine(raw: string): CommandLine {
  const text = raw.trim();
  if (text.startsWith('[')) {
    let argv: unknown;
    try {
      argv = JSON.parse(text);
    } catch (err) {
      throw new Error(`COMMAND_BACKEND_CMD starts with "[" but is not valid JSON: ${(err as Error).message}`);
    }
    if (!Array.isArray(argv) || argv.length === 0 || !argv.every((a) => typeof a === 'string'))
      throw new Error('COMMAND_BACKEND_CMD: a JSON value must be a non-empty array of strings');
    return { argv };
  }
  return { shell: text };
}

const PLACEHOLDER = /\{\w+\}/;

/** The argv with its relative paths made absolute against `startDir` (see the file comment). */
export function resolveArgv(argv: readonly string[], startDir: string): string[] {
  return argv.map((arg, i) => {
    if (isAbsolute(arg) || PLACEHOLDER.test(arg) || arg === '') return arg;
    if (i === 0) return arg.includes('/') ? resolve(startDir, arg) : arg;
    if (arg.startsWith('-')) return arg;
    const candidate = resolve(startDir, arg);
    return existsSync(candidate) ? candidate : arg;
  });
}

/** The command to run, or why there is none: the outcome of reading COMMAND_BACKEND_CMD once. */
export type PreparedCommand = { ok: true; line: CommandLine } | { ok: false; problem: string };

export function prepareCommand(
  raw: string,
  startDir: string,
  path = process.env.PATH ?? '',
): PreparedCommand {
  if (!raw.trim())
    return {
      ok: false,
      problem:
        'COMMAND_BACKEND_CMD is not set, so the command backend has nothing to run: set it (README, "command backend") or use another backend',
    };
  let line: CommandLine;
  try {
    line = parseCommandLine(raw);
  } catch (err) {
    return { ok: false, problem: (err as Error).message };
  }
  if ('shell' in line) return { ok: true, line };
  const argv = resolveArgv(line.argv, startDir);
  const problem = programProblem(argv[0]!, path);
  return problem ? { ok: false, problem } : { ok: true, line: { argv } };
}

/** Why the program cannot be started, or null; a {placeholder} program is only known per task. */
function programProblem(program: string, path: string): string | null {
  if (PLACEHOLDER.test(program)) return null;
  if (program.includes('/'))
    return isExecutable(program)
      ? null
      : `COMMAND_BACKEND_CMD: the program ${program} does not exist or is not executable`;
  const found = path
    .split(delimiter)
    .filter(Boolean)
    .some((dir) => isExecutable(join(dir, program)));
  return found ? null : `COMMAND_BACKEND_CMD: the program "${program}" is not on PATH`;
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
