/**
 * `command` backend: runs COMMAND_BACKEND_CMD once per task attempt in the attempt's own
 * working directory. Output lines become task logs; exit 0 completes with the JSON the
 * command wrote to RESULT_FILE; anything else fails with the tail of stderr. The child gets a
 * process group of its own so that cancel/timeout/shutdown can stop everything it started.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config/index.ts';
import type { Json, Task } from '../queue/types.ts';
import { LineSplitter } from './lines.ts';
import { type Backend, type RunContext, type RunOutcome, stopReason } from './types.ts';

const STDERR_TAIL_LINES = 20;

export type CommandLine = { argv: string[] } | { shell: string };

/** A JSON array is an argv (no shell); anything else is a shell line. */
export function parseCommandLine(raw: string): CommandLine {
  const text = raw.trim();
  if (text.startsWith('[')) {
    const argv = JSON.parse(text) as unknown;
    if (!Array.isArray(argv) || argv.length === 0 || !argv.every((a) => typeof a === 'string'))
      throw new Error('COMMAND_BACKEND_CMD: a JSON value must be a non-empty array of strings');
    return { argv };
  }
  return { shell: text };
}

export function substitute(arg: string, values: Record<string, string>): string {
  return arg.replace(/\{(\w+)\}/g, (m, key: string) => values[key] ?? m);
}

export class CommandBackend implements Backend {
  readonly type = 'command';

  constructor(private readonly config: Pick<Config, 'COMMAND_BACKEND_CMD' | 'COMMAND_KILL_GRACE_MS'>) {}

  async run(task: Task, ctx: RunContext): Promise<RunOutcome> {
    if (!this.config.COMMAND_BACKEND_CMD.trim())
      return failed('not_configured', 'The command backend has no command: set COMMAND_BACKEND_CMD');
    let line: CommandLine;
    try {
      line = parseCommandLine(this.config.COMMAND_BACKEND_CMD);
    } catch (err) {
      return failed('not_configured', (err as Error).message);
    }
    const resultFile = join(ctx.workDir, 'result.json');
    const values: Record<string, string> = {
      task_id: task.id,
      problem_id: task.problem_id,
      max_steps: String(task.parameters.max_steps),
      attempt: String(ctx.attempt),
      result_file: resultFile,
      workdir: ctx.workDir,
    };
    const env = {
      ...process.env,
      TASK_ID: task.id,
      PROBLEM_ID: task.problem_id,
      MAX_STEPS: String(task.parameters.max_steps),
      TIMEOUT_MINUTES: String(task.parameters.timeout_minutes),
      ATTEMPT: String(ctx.attempt),
      AGENT_CONFIG: JSON.stringify(task.parameters.agent_config ?? {}),
      TASK_PARAMETERS: JSON.stringify(task.parameters),
      RESULT_FILE: resultFile,
      WORK_DIR: ctx.workDir,
      ...ctx.env,
    };
    const [file, args] =
      'argv' in line
        ? [substitute(line.argv[0]!, values), line.argv.slice(1).map((a) => substitute(a, values))]
        : ['/bin/sh', ['-c', line.shell]];
    const exit = await this.spawnAndWait(file, args, env, ctx);
    if (exit.error) return failed('spawn_failed', `Could not start ${file}: ${exit.error}`);
    const why = stopReason(ctx.signal);
    if (why) return failed(why, `Stopped (${why})`, { exit_code: exit.code, signal: exit.signal });
    if (exit.code !== 0)
      return failed('exit_code', `Command exited with ${exit.code ?? exit.signal}`, {
        exit_code: exit.code,
        signal: exit.signal,
        stderr_tail: exit.stderrTail,
      });
    return readResult(resultFile);
  }

  private spawnAndWait(
    file: string,
    args: string[],
    env: NodeJS.ProcessEnv,
    ctx: RunContext,
  ): Promise<{ code: number | null; signal: string | null; stderrTail: string[]; error?: string }> {
    return new Promise((resolve) => {
      const child = spawn(file, args, {
        cwd: ctx.workDir,
        env,
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const tail: string[] = [];
      const out = new LineSplitter((l) => ctx.log('info', l, null, 'stdout'));
      const err = new LineSplitter((l) => {
        ctx.log('warning', l, null, 'stderr');
        tail.push(l);
        if (tail.length > STDERR_TAIL_LINES) tail.shift();
      });
      child.stdout.setEncoding('utf8').on('data', (d: string) => out.push(d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => err.push(d));
      let killTimer: NodeJS.Timeout | undefined;
      const stop = () => {
        killGroup(child.pid, 'SIGTERM');
        killTimer = setTimeout(() => killGroup(child.pid, 'SIGKILL'), this.config.COMMAND_KILL_GRACE_MS);
      };
      if (ctx.signal.aborted) stop();
      else ctx.signal.addEventListener('abort', stop, { once: true });
      child.once('error', (e) => {
        ctx.signal.removeEventListener('abort', stop);
        resolve({ code: null, signal: null, stderrTail: tail, error: e.message });
      });
      // When the leader exits, whatever it left running in its group goes too (and so lets
      // go of the output pipes, which 'close' waits for so that no last line is lost).
      child.once('exit', () => killGroup(child.pid, 'SIGKILL'));
      child.once('close', (code, signal) => {
        ctx.signal.removeEventListener('abort', stop);
        clearTimeout(killTimer);
        out.end();
        err.end();
        resolve({ code, signal, stderrTail: tail });
      });
    });
  }
}

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (!pid) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}

async function readResult(file: string): Promise<RunOutcome> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return { status: 'completed', result: { exit_code: 0 } };
  }
  try {
    return { status: 'completed', result: JSON.parse(text) as Json };
  } catch (err) {
    return failed('invalid_result', `RESULT_FILE does not hold valid JSON: ${(err as Error).message}`);
  }
}

function failed(reason: string, message: string, extra: Record<string, Json> = {}): RunOutcome {
  return { status: 'failed', error: { reason, message, ...extra } };
}
