/**
 * The task actions an agent calls (aiopslab/orchestrator/actions/*.py), bound like Python
 * binds a call: wrong arity or keywords produce CPython's TypeError text, which AIOpsLab's
 * orchestrator returns as the observation. exec_shell applies the same block list first.
 */

import type { Cluster } from './cluster.ts';
import type { Json, JsonObject, TaskType } from './json-types.ts';
import { containerLog } from './logs.ts';
import { CommandTimeout, frameShellOutput, runCommandLine } from './shell.ts';
import type { Telemetry } from './telemetry.ts';
import { appPodView } from './views.ts';

export interface ActionContext {
  cluster: Cluster;
  telemetry: Telemetry;
}

/** A valid submission; the orchestrator records this enum as the env response. */
export const VALID_SUBMISSION = Symbol('SubmissionStatus.VALID_SUBMISSION');

interface Signature {
  qualname: string;
  params: string[];
  defaults: Record<string, Json>;
}

const BLOCK_LIST: [string, string][] = [
  ['kubectl edit', 'Error: Cannot use `kubectl edit`. Use `kubectl patch` instead.'],
  ['edit svc', 'Error: Cannot use `kubectl edit`. Use `kubectl patch` instead.'],
  ['kubectl port-forward', 'Error: Cannot use `kubectl port-forward` because it is an interactive command.'],
  ['docker logs -f', 'Error: Cannot use `docker logs -f`. Use `docker logs` instead.'],
  ['kubectl logs -f', 'Error: Cannot use `kubectl logs -f`. Use `kubectl logs` instead.'],
];

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** CPython 3.11's argument binding, returning the bound values or the TypeError text. */
function bind(sig: Signature, args: Json[], kwargs: JsonObject): Record<string, Json> | string {
  const required = sig.params.filter((p) => !(p in sig.defaults));
  if (args.length > sig.params.length) {
    const takes =
      required.length === sig.params.length
        ? plural(sig.params.length, 'positional argument')
        : `from ${required.length} to ${plural(sig.params.length, 'positional argument')}`;
    return `${sig.qualname}() takes ${takes} but ${args.length} ${args.length === 1 ? 'was' : 'were'} given`;
  }
  const bound: Record<string, Json> = {};
  sig.params.forEach((p, i) => {
    if (i < args.length) bound[p] = args[i]!;
  });
  for (const [key, value] of Object.entries(kwargs)) {
    if (!sig.params.includes(key)) return `${sig.qualname}() got an unexpected keyword argument '${key}'`;
    if (key in bound) return `${sig.qualname}() got multiple values for argument '${key}'`;
    bound[key] = value;
  }
  const missing = required.filter((p) => !(p in bound));
  if (missing.length > 0) {
    const names = missing.map((m) => `'${m}'`);
    const list = names.length === 1 ? names[0] : `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
    return `${sig.qualname}() missing ${plural(missing.length, 'required positional argument')}: ${list}`;
  }
  return { ...sig.defaults, ...bound };
}

const SUBMIT_PARAMS: Record<TaskType, { qualname: string; params: string[] }> = {
  detection: { qualname: 'DetectionActions.submit', params: ['has_anomaly'] },
  localization: { qualname: 'LocalizationActions.submit', params: ['faulty_components'] },
  analysis: { qualname: 'AnalysisActions.submit', params: ['analysis'] },
  mitigation: { qualname: 'MitigationActions.submit', params: [] },
};

function execShell(ctx: ActionContext, command: Json): string {
  const text = typeof command === 'string' ? command : String(command);
  for (const [pattern, error] of BLOCK_LIST) if (text.includes(pattern)) return error;
  try {
    return frameShellOutput(runCommandLine(text, { ...ctx, commandLine: text }));
  } catch (error) {
    if (error instanceof CommandTimeout) {
      return `Failed to execute command: ${text}\nError: Command '${text}' timed out after 30 seconds`;
    }
    throw error;
  }
}

const LOG_SELECTORS: Record<string, string> = {
  'test-social-network': 'app',
  'test-hotel-reservation': 'io.kompose.service',
};

function getLogs(ctx: ActionContext, namespace: Json, service: Json): string {
  const notFound = 'Error: Your service/namespace does not exist. Use kubectl to check.';
  const label = typeof namespace === 'string' ? LOG_SELECTORS[namespace] : undefined;
  if (!label || namespace !== ctx.cluster.namespace) return notFound;
  const pods = ctx.cluster.pods
    .map((pod) => appPodView(ctx.cluster, pod))
    .filter((view) => view.labels[label] === String(service))
    .sort((a, b) => a.name.localeCompare(b.name));
  const first = pods[0];
  if (!first?.node) return notFound;
  return containerLog(ctx.cluster, first)
    .map((line) => `${line}\n`)
    .join('');
}

/** timedelta(minutes=duration) accepts numbers only; this is its TypeError text otherwise. */
function minutes(value: Json): number | string {
  if (typeof value === 'number' && typeof value !== 'boolean') return value;
  return `unsupported type for timedelta minutes component: ${value === null ? 'NoneType' : typeof value === 'string' ? 'str' : typeof value === 'boolean' ? 'bool' : Array.isArray(value) ? 'list' : 'dict'}`;
}

type Handler = (ctx: ActionContext, a: Record<string, Json>) => string | typeof VALID_SUBMISSION;

interface ActionDef {
  sig: Signature;
  run: Handler;
}

function baseActions(): Record<string, ActionDef> {
  const sig = (name: string, params: string[], defaults: Record<string, Json> = {}): Signature => ({
    qualname: `TaskActions.${name}`,
    params,
    defaults,
  });
  return {
    exec_shell: {
      sig: sig('exec_shell', ['command', 'timeout'], { timeout: 30 }),
      run: (ctx, a) => execShell(ctx, a.command!),
    },
    get_logs: {
      sig: sig('get_logs', ['namespace', 'service']),
      run: (ctx, a) => getLogs(ctx, a.namespace!, a.service!),
    },
    get_metrics: {
      sig: sig('get_metrics', ['namespace', 'duration'], { duration: 5 }),
      run: (ctx, a) => {
        const m = minutes(a.duration!);
        return typeof m === 'string' ? m : ctx.telemetry.exportMetrics(String(a.namespace), m);
      },
    },
    read_metrics: {
      sig: sig('read_metrics', ['file_path']),
      run: (ctx, a) => ctx.telemetry.readMetrics(String(a.file_path)),
    },
    get_traces: {
      sig: sig('get_traces', ['namespace', 'duration'], { duration: 5 }),
      run: (ctx, a) => {
        const m = minutes(a.duration!);
        return typeof m === 'string' ? m : ctx.telemetry.exportTraces(String(a.namespace), m);
      },
    },
    read_traces: {
      sig: sig('read_traces', ['file_path']),
      run: (ctx, a) => ctx.telemetry.readTraces(String(a.file_path)),
    },
  };
}

export function actionsFor(task: TaskType): Record<string, ActionDef> {
  const submit = SUBMIT_PARAMS[task];
  return { ...baseActions(), submit: { sig: { ...submit, defaults: {} }, run: () => VALID_SUBMISSION } };
}

/** Runs one call: the observation text, VALID_SUBMISSION, or null for an unknown action. */
export function performAction(
  actions: Record<string, ActionDef>,
  ctx: ActionContext,
  api: string,
  args: Json[],
  kwargs: JsonObject,
): string | typeof VALID_SUBMISSION | null {
  const action = Object.hasOwn(actions, api) ? actions[api] : undefined;
  if (!action) return null;
  const bound = bind(action.sig, args, kwargs);
  if (typeof bound === 'string') return bound;
  return action.run(ctx, bound);
}
