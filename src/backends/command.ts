/**
 * `command` backend: runs COMMAND_BACKEND_CMD once per task attempt, in the attempt's own
 * working directory. Output lines become task logs (stdout → info, stderr → warning); exit 0
 * completes with the JSON the command wrote to RESULT_FILE (or `{ exit_code: 0 }` without
 * one); anything else fails with the tail of stderr. Cancel, deadline and shutdown stop the
 * command's whole process group (see process.ts).
 */
import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config/index.ts';
import type { Json, JsonObject, Task } from '../queue/types.ts';
import { type CommandLine, type PreparedCommand, prepareCommand } from './command-line.ts';
import { runProcess } from './process.ts';
import { type Backend, type RunContext, type RunOutcome, stopReason } from './types.ts';

/**
 * Server secrets a task's program has no business reading: it reaches the API over HTTP and
 * its LLM through the gateway, with the task token. Upstream keys named in LLM_UPSTREAMS
 * (api_key_env) are removed too.
 */
export const SERVER_ONLY_ENV = [
  'DATABASE_URL',
  'TEST_DATABASE_URL',
  'API_TOKENS',
  'OPENAI_API_KEY',
  'OPENROUTER_API_KEY',
  'LLM_UPSTREAMS',
  'GATEWAY_TOKEN_SECRET',
];
/** A result larger than this is refused rather than read into memory and sent as one row. */
const MAX_RESULT_BYTES = 64 * 1024 * 1024;

/** Replaces {name} placeholders with their values; unknown placeholders stay as written. */
export function substitute(arg: string, values: Record<string, string>): string {
  return arg.replace(/\{(\w+)\}/g, (m, key: string) => values[key] ?? m);
}

export { type CommandLine, parseCommandLine } from './command-line.ts';

export class CommandBackend implements Backend {
  readonly type = 'command';
  private readonly command: PreparedCommand;

  /**
   * `startDir` (default: the process's working directory now, at start) is what relative paths
   * in COMMAND_BACKEND_CMD mean, and what the command gets as START_DIR.
   */
  constructor(
    private readonly config: Pick<Config, 'COMMAND_BACKEND_CMD' | 'COMMAND_KILL_GRACE_MS'> &
      Partial<Pick<Config, 'LLM_UPSTREAMS'>>,
    private readonly startDir: string = process.cwd(),
  ) {
    this.command = prepareCommand(config.COMMAND_BACKEND_CMD, startDir);
  }

  unavailable(): string | null {
    return this.command.ok ? null : this.command.problem;
  }

  private secretNames(): string[] {
    const upstreamKeys = Object.values(this.config.LLM_UPSTREAMS ?? {}).flatMap((u) =>
      u.api_key_env ? [u.api_key_env] : [],
    );
    return [...SERVER_ONLY_ENV, ...upstreamKeys];
  }

  async run(task: Task, ctx: RunContext): Promise<RunOutcome> {
    // A worker does not claim with a backend that cannot run; this guards direct callers.
    if (!this.command.ok) return failed('not_configured', this.command.problem);
    const line: CommandLine = this.command.line;
    await mkdir(ctx.workDir, { recursive: true });
    const resultFile = join(ctx.workDir, 'result.json');
    // A file left by an earlier run in this directory must not pass for this run's result.
    await rm(resultFile, { force: true });
    const values: Record<string, string> = {
      task_id: task.id,
      problem_id: task.problem_id,
      max_steps: String(task.parameters.max_steps),
      attempt: String(ctx.attempt),
      result_file: resultFile,
      workdir: ctx.workDir,
    };
    const [file, args] =
      'argv' in line
        ? [substitute(line.argv[0]!, values), line.argv.slice(1).map((a) => substitute(a, values))]
        : ['/bin/sh', ['-c', line.shell]];
    const exit = await runProcess({
      file,
      args,
      cwd: ctx.workDir,
      env: childEnv(task, ctx, { resultFile, startDir: this.startDir }, this.secretNames()),
      signal: ctx.signal,
      killGraceMs: this.config.COMMAND_KILL_GRACE_MS,
      onStdout: (l) => ctx.log('info', l, null, 'stdout'),
      onStderr: (l) => ctx.log('warning', l, null, 'stderr'),
    });
    if (exit.spawnError) return failed('spawn_failed', `Could not start ${file}: ${exit.spawnError}`);
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
}

/**
 * The parent's environment (minus server secrets), the task's values, the gateway as the
 * OpenAI endpoint (so stock OpenAI-SDK agents are recorded unchanged), then ctx.env on top.
 */
function childEnv(
  task: Task,
  ctx: RunContext,
  paths: { resultFile: string; startDir: string },
  secrets: string[],
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of secrets) delete env[name];
  if (ctx.llm) {
    const model = task.parameters.agent_config?.model;
    Object.assign(env, {
      OPENAI_BASE_URL: ctx.llm.baseUrl,
      OPENAI_API_KEY: ctx.llm.apiKey,
      OPENAI_COMPATIBLE_BASE_URL: ctx.llm.baseUrl,
      OPENAI_COMPATIBLE_API_KEY: ctx.llm.apiKey,
      ...(typeof model === 'string' ? { OPENAI_COMPATIBLE_MODEL: model } : {}),
    });
  }
  return {
    ...env,
    TASK_ID: task.id,
    PROBLEM_ID: task.problem_id,
    MAX_STEPS: String(task.parameters.max_steps),
    TIMEOUT_MINUTES: String(task.parameters.timeout_minutes),
    ATTEMPT: String(ctx.attempt),
    WORKER_ID: ctx.workerId,
    AGENT_CONFIG: JSON.stringify(task.parameters.agent_config ?? {}),
    TASK_PARAMETERS: JSON.stringify(task.parameters),
    RESULT_FILE: paths.resultFile,
    WORK_DIR: ctx.workDir,
    START_DIR: paths.startDir,
    ...ctx.env,
  };
}

async function readResult(file: string): Promise<RunOutcome> {
  const size = await stat(file).then(
    (s) => s.size,
    () => null,
  );
  if (size === null) return { status: 'completed', result: { exit_code: 0 } };
  if (size > MAX_RESULT_BYTES)
    return failed('invalid_result', `RESULT_FILE holds ${size} bytes; at most ${MAX_RESULT_BYTES} are read`);
  const text = await readFile(file, 'utf8');
  try {
    return { status: 'completed', result: JSON.parse(text) as Json };
  } catch (err) {
    return failed('invalid_result', `RESULT_FILE does not hold valid JSON: ${(err as Error).message}`, {
      result_file: file,
    });
  }
}

function failed(reason: string, message: string, extra: JsonObject = {}): RunOutcome {
  return { status: 'failed', error: { reason, message, ...extra } };
}
