/**
 * An Environment over the AIOpsLab bridge (bridge/aiopslab_bridge.py, bridge/PROTOCOL.md): one
 * child process per attempt, under the process supervisor (so it dies with its worker), with a
 * stdin pipe kept open for the whole run (its end counts as a cancel to the bridge).
 *
 *   start()  → `problem` + the first `action_request`
 *   step()   → `reply` out; `step` + the next `action_request` (or the evaluation) back
 *   finish() → `results` (AIOpsLab's dict, unchanged), then the session and `final`
 *   cancel() → `cancel` out; SIGTERM after a short wait; SIGKILL after the grace
 *
 * Every failure is an EnvironmentError with the bridge's own code (init_failed retryable) or
 * ours (`bridge_crashed`, `protocol_error`, `spawn_failed`), carrying the stderr tail.
 */
import { mkdir } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import type { Json, JsonObject, LogLevel } from '../../queue/types.ts';
import {
  type Environment,
  EnvironmentError,
  type EpisodeEvaluation,
  type EpisodeStart,
  type ParsedCall,
  type StepResult,
  TASK_TYPES,
  type TaskType,
  type TraceEntry,
} from '../environment.ts';
import { type ProcessExit, runProcess } from '../process.ts';
import { parseResponse } from '../sandbox/parser.ts';
import { type BridgeMessage, PROTOCOL_VERSION, ProtocolSplitter, parseMessage } from './protocol.ts';

export interface BridgeRunSpec {
  python: string;
  script: string;
  problemId: string;
  maxSteps: number;
  /** The attempt's own directory: the bridge's cwd (AIOpsLab writes under it). */
  workDir: string;
  resultsDir: string;
  agentName: string;
  /** The bridge's whole environment (PYTHONPATH, KUBECONFIG, AIOPSLAB_CLUSTER included). */
  env: NodeJS.ProcessEnv;
  /** Wait after a `cancel` message before SIGTERM. */
  termDelayMs: number;
  /** Wait after SIGTERM before SIGKILL. */
  killGraceMs: number;
  log(level: LogLevel, message: string, context?: Json, source?: string): void;
  /** Called once the bridge has exited, with its final line (null when it wrote none). */
  onExit?(end: BridgeEnd): void;
}

export interface BridgeEnd {
  final: BridgeMessage | null;
  exit: ProcessExit;
  /** An injected fault may still be in place, or teardown did not finish. */
  clusterDirty: boolean;
}

/** Characters of stderr a run may write into task logs; the rest only reaches the tail. */
const STDERR_LOG_BUDGET = 2 * 1024 * 1024;
/** Lines of stderr (each at most 2 KiB) kept as the tail: about 64 KiB. */
const STDERR_TAIL_LINES = 32;

/** How long a failure waits for the bridge to exit after its final line, for the stderr tail. */
const FINAL_EXIT_WAIT_MS = 5000;

type Waiter = () => void;

export class BridgeEnvironment implements Environment {
  private readonly queue: BridgeMessage[] = [];
  private waiter: Waiter | null = null;
  private stdin: Writable | null = null;
  private exit: ProcessExit | null = null;
  private exited: Promise<ProcessExit> | null = null;
  private final: BridgeMessage | null = null;
  private violation: string | null = null;
  private readonly phases = new Set<string>();
  private readonly stop = new AbortController();
  private cancelling: Promise<void> | null = null;
  private stderrLogged = 0;
  private openStep = 0;
  private ended = false;
  private readonly steps: TraceEntry[] = [];
  private results: JsonObject | null = null;
  private session: BridgeMessage | null = null;
  private outcome: BridgeMessage | null = null;

  constructor(private readonly spec: BridgeRunSpec) {}

  async start(signal: AbortSignal): Promise<EpisodeStart> {
    await mkdir(this.spec.resultsDir, { recursive: true });
    this.spawn();
    const problem = await this.expect((m) => m.type === 'problem', signal);
    const request = await this.expect((m) => m.type === 'action_request', signal);
    this.openStep = Number(request.step);
    const type = String(problem.task_type);
    return {
      problem_id: String(problem.problem_id),
      task_type: (TASK_TYPES as readonly string[]).includes(type) ? (type as TaskType) : 'detection',
      task_description: String(problem.task_description ?? ''),
      instructions: String(problem.instructions ?? ''),
      apis: isObject(problem.apis) ? (problem.apis as Record<string, string>) : {},
      first_input: String(request.input ?? ''),
    };
  }

  async step(reply: string, signal: AbortSignal): Promise<StepResult> {
    const step = this.openStep;
    this.send({ type: 'reply', step, content: reply });
    const done = await this.expect((m) => m.type === 'step' && m.step === step, signal);
    const observation = String(done.observation ?? '');
    this.steps.push({ role: 'assistant', content: reply }, { role: 'env', content: observation });
    // After a step comes the next request, or the evaluation when the episode is over.
    const next = await this.expect(
      (m) => m.type === 'action_request' || m.type === 'results' || isPhase(m, 'evaluation'),
      signal,
    );
    if (next.type === 'results') this.queue.unshift(next);
    const { call, parseError } = describe(reply, observation);
    const submitted = next.type !== 'action_request' && call?.api === 'submit';
    if (next.type === 'action_request') this.openStep = Number(next.step);
    else this.ended = true;
    return {
      step,
      observation,
      next_input: next.type === 'action_request' ? String(next.input ?? '') : '',
      call,
      parse_error: parseError,
      submitted,
      // An episode the orchestrator ended at max_steps leaves the runner's own loop anyway.
      done: submitted,
    };
  }

  async finish(signal: AbortSignal): Promise<EpisodeEvaluation> {
    if (!this.ended)
      throw new EnvironmentError('protocol_error', 'finish() before the bridge ended the episode');
    const results = await this.expect((m) => m.type === 'results', signal);
    this.results = isObject(results.results) ? (results.results as JsonObject) : {};
    // Recovery and cleanup follow: the cluster is only free for the next task after them.
    await this.expect((m) => m.type === 'final', signal);
    return this.evaluation();
  }

  cancel(): Promise<void> {
    this.cancelling ??= this.stopBridge();
    return this.cancelling;
  }

  private async stopBridge(): Promise<void> {
    if (!this.exited) return;
    if (!this.exit) {
      // After its final line the bridge is only exiting: nothing to ask it.
      if (!this.final) this.send({ type: 'cancel' });
      const term = setTimeout(() => this.stop.abort(), this.spec.termDelayMs);
      await this.exited;
      clearTimeout(term);
    }
  }

  private spawn(): void {
    const { spec } = this;
    const args = [
      spec.script,
      'run',
      '--problem-id',
      spec.problemId,
      '--max-steps',
      String(spec.maxSteps),
      '--results-dir',
      spec.resultsDir,
      '--agent-name',
      spec.agentName,
    ];
    const splitter = new ProtocolSplitter((line) => this.receive(line));
    this.exited = runProcess({
      file: spec.python,
      args,
      cwd: spec.workDir,
      env: spec.env,
      signal: this.stop.signal,
      killGraceMs: spec.killGraceMs,
      tailLines: STDERR_TAIL_LINES,
      onStdout: () => {},
      onStdoutData: (chunk) => splitter.push(chunk),
      onStderr: (line) => this.stderrLine(line),
      onStdin: (stdin) => {
        this.stdin = stdin;
      },
    }).then((exit) => {
      splitter.end();
      this.exit = exit;
      this.stdin?.end();
      this.wake();
      spec.onExit?.({ final: this.final, exit, clusterDirty: this.dirty() });
      return exit;
    });
  }

  /** Whether the cluster needs a reset: the bridge says so, or it ended without saying. */
  private dirty(): boolean {
    if (this.final) return this.final.cluster_dirty === true;
    return this.phases.has('setup');
  }

  private send(message: JsonObject): void {
    if (!this.stdin || this.exit || this.stdin.writableEnded) return;
    this.stdin.write(`${JSON.stringify(message)}\n`);
  }

  private receive(line: string): void {
    const message = parseMessage(line);
    if (typeof message === 'string') {
      this.protocolViolation(message);
      return;
    }
    this.observe(message);
    this.queue.push(message);
    this.wake();
  }

  /** What is logged or remembered as it arrives, whoever reads the queue. */
  private observe(m: BridgeMessage): void {
    const log = this.spec.log;
    if (m.type === 'hello' && m.protocol !== PROTOCOL_VERSION)
      this.protocolViolation(`bridge speaks protocol ${JSON.stringify(m.protocol)}, not ${PROTOCOL_VERSION}`);
    else if (m.type === 'phase') {
      this.phases.add(String(m.phase));
      log('info', `aiopslab phase: ${m.phase}`, { phase: String(m.phase), at: m.at ?? null }, 'aiopslab');
    } else if (m.type === 'log') {
      const level = m.level === 'error' ? 'error' : m.level === 'warning' ? 'warning' : 'info';
      log(level, String(m.message), null, 'aiopslab');
    } else if (m.type === 'session') this.session = m;
    else if (m.type === 'outcome') this.outcome = m;
    else if (m.type === 'final') this.final = m;
  }

  private protocolViolation(message: string): void {
    this.violation ??= message;
    this.spec.log('error', `bridge protocol violation: ${message}`, null, 'aiopslab');
    this.wake();
    // A bridge that breaks the protocol is stopped: nothing it says can be trusted.
    void this.cancel();
  }

  private stderrLine(line: string): void {
    if (this.stderrLogged > STDERR_LOG_BUDGET) return;
    this.stderrLogged += line.length;
    if (this.stderrLogged > STDERR_LOG_BUDGET)
      this.spec.log(
        'warning',
        'bridge stderr exceeds the task log budget; only its tail is kept',
        null,
        'aiopslab',
      );
    else this.spec.log('info', line, null, 'aiopslab');
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  /**
   * The next message `wanted` accepts, skipping the others. A failed `final`, a protocol
   * violation, or the bridge's end with nothing left to read rejects.
   */
  private async expect(wanted: (m: BridgeMessage) => boolean, signal: AbortSignal): Promise<BridgeMessage> {
    for (;;) {
      signal.throwIfAborted();
      if (this.violation) throw this.failure('protocol_error', this.violation);
      const m = this.queue.shift();
      if (m) {
        if (wanted(m)) return m;
        if (m.type === 'final') {
          // The bridge exits right after its final line: wait (briefly) for its stderr tail.
          await this.settled(FINAL_EXIT_WAIT_MS);
          throw this.finalFailure(m);
        }
        continue;
      }
      if (this.exit) throw this.crash();
      await new Promise<void>((resolve, reject) => {
        const onAbort = () => {
          this.waiter = null;
          reject(signal.reason);
        };
        this.waiter = () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        };
        signal.addEventListener('abort', onAbort, { once: true });
      });
    }
  }

  private async settled(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.exited, new Promise((r) => (timer = setTimeout(r, ms)))]);
    clearTimeout(timer);
  }

  private finalFailure(final: BridgeMessage): EnvironmentError {
    const error = isObject(final.error) ? (final.error as JsonObject) : {};
    if (final.status === 'completed')
      return this.failure('protocol_error', 'the bridge ended completed before its results');
    const code = typeof error.code === 'string' ? error.code : 'bridge_failed';
    return this.failure(
      code,
      `AIOpsLab bridge: ${code}: ${error.message ?? 'no message'}`,
      final.retryable === true,
      { bridge_error: error as Json },
    );
  }

  private crash(): EnvironmentError {
    const exit = this.exit!;
    if (exit.spawnError)
      return this.failure('spawn_failed', `Could not start ${this.spec.python}: ${exit.spawnError}`);
    const how = exit.signal ? `signal ${exit.signal}` : `exit code ${exit.code}`;
    return this.failure('bridge_crashed', `The AIOpsLab bridge ended (${how}) without a final line`);
  }

  private failure(
    code: string,
    message: string,
    retryable = false,
    extra: JsonObject = {},
  ): EnvironmentError {
    const final = this.final;
    return new EnvironmentError(code, message, retryable, {
      ...extra,
      exit_code: this.exit?.code ?? null,
      exit_signal: this.exit?.signal ?? null,
      fault_injected: (final?.fault_injected as Json) ?? this.phases.has('fault_injection'),
      fault_recovered: (final?.fault_recovered as Json) ?? null,
      cluster_dirty: this.dirty(),
      stderr_tail: this.exit?.stderrTail.join('\n') ?? '',
    });
  }

  private evaluation(): EpisodeEvaluation {
    const content = isObject(this.session?.content) ? (this.session!.content as JsonObject) : null;
    const trace = Array.isArray(content?.trace) ? (content.trace as unknown as TraceEntry[]) : this.steps;
    const { trace: _t, results: _r, ...sessionFields } = content ?? {};
    const final = this.final!;
    const session: JsonObject = {
      ...sessionFields,
      path: this.session?.path ?? null,
      final_state: this.outcome?.final_state ?? null,
      framework_overhead: this.outcome?.framework_overhead ?? null,
      aiopslab_end_reason: this.outcome?.end_reason ?? null,
      fault_injected: final.fault_injected ?? null,
      fault_recovered: final.fault_recovered ?? null,
      cluster_dirty: final.cluster_dirty ?? null,
      ...(final.teardown_error ? { teardown_error: final.teardown_error } : {}),
      ...(this.session?.error ? { session_error: this.session.error } : {}),
    };
    return {
      results: this.results ?? {},
      trace,
      solution: (content?.solution as Json) ?? null,
      session,
    };
  }
}

/** The call a reply made, read with AIOpsLab's rules (for logs; the bridge's answer is the truth). */
function describe(
  reply: string,
  observation: string,
): { call: ParsedCall | null; parseError: string | null } {
  try {
    return { call: parseResponse(reply), parseError: null };
  } catch {
    return { call: null, parseError: observation };
  }
}

function isPhase(m: BridgeMessage, phase: string): boolean {
  return m.type === 'phase' && m.phase === phase;
}

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
