/**
 * The `aiopslab` backend: episodes on real AIOpsLab through the bridge (bridge/PROTOCOL.md),
 * the same EpisodeBackend and GatewayAgent as the sandbox, so every model call is recorded by
 * the gateway and results have the sandbox's shape. Problems come from the bridge's list mode
 * (no cluster needed), once per process.
 */
import { mkdir } from 'node:fs/promises';
import { delimiter, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../../config/index.ts';
import { SERVER_ONLY_ENV } from '../command.ts';
import { EpisodeBackend } from '../episode-backend.ts';
import { runProcess } from '../process.ts';
import type { Backend } from '../types.ts';
import { BridgeEnvironment } from './bridge-environment.ts';
import { type ClusterSettings, WorkerCluster } from './cluster.ts';
import { ProtocolSplitter, parseMessage } from './protocol.ts';

export { BridgeEnvironment } from './bridge-environment.ts';
export { clusterName, WorkerCluster } from './cluster.ts';

export const BRIDGE_SCRIPT = fileURLToPath(new URL('../../../bridge/aiopslab_bridge.py', import.meta.url));

export type AiopslabSettings = Pick<
  Config,
  | 'AIOPSLAB_DIR'
  | 'AIOPSLAB_PYTHON'
  | 'AIOPSLAB_KUBECONFIG'
  | 'AIOPSLAB_ENSURE_CLUSTER'
  | 'AIOPSLAB_KIND_CONFIG'
  | 'AIOPSLAB_ALLOW_DOCKER_PROBLEMS'
  | 'AIOPSLAB_CANCEL_GRACE_SECONDS'
  | 'DATA_DIR'
>;

/** Wait after a `cancel` message before SIGTERM: the bridge normally stops at its next step. */
const CANCEL_TERM_DELAY_MS = 5000;
/** Bound on the list mode (an import of AIOpsLab, no cluster). */
const LIST_TIMEOUT_MS = 120_000;

export interface AiopslabProblem {
  id: string;
  task_type: string;
  deployment: string;
}

/** The bridge's environment: ours minus server secrets, AIOpsLab first on PYTHONPATH. */
export function bridgeEnv(settings: AiopslabSettings, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of SERVER_ONLY_ENV) delete env[name];
  if (settings.AIOPSLAB_DIR) {
    const dir = resolve(settings.AIOPSLAB_DIR);
    env.PYTHONPATH = env.PYTHONPATH ? `${dir}${delimiter}${env.PYTHONPATH}` : dir;
  }
  return { ...env, PYTHONDONTWRITEBYTECODE: '1', ...extra };
}

const listed = new Map<string, Promise<AiopslabProblem[]>>();

/** Every problem the bridge lists (cached per process, per interpreter and checkout). */
export function listProblems(settings: AiopslabSettings): Promise<AiopslabProblem[]> {
  const key = `${settings.AIOPSLAB_PYTHON}\n${settings.AIOPSLAB_DIR}`;
  let p = listed.get(key);
  if (!p) {
    p = runList(settings);
    listed.set(key, p);
    // A failure is not cached: the next registration tries again.
    p.catch(() => listed.delete(key));
  }
  return p;
}

async function runList(settings: AiopslabSettings): Promise<AiopslabProblem[]> {
  let problems: AiopslabProblem[] | null = null;
  let final: Record<string, unknown> | null = null;
  const splitter = new ProtocolSplitter((line) => {
    const m = parseMessage(line);
    if (typeof m === 'string') return;
    if (m.type === 'problems' && Array.isArray(m.problems))
      problems = m.problems as unknown as AiopslabProblem[];
    if (m.type === 'final') final = m;
  });
  const exit = await runProcess({
    file: settings.AIOPSLAB_PYTHON,
    args: [BRIDGE_SCRIPT, 'list'],
    cwd: process.cwd(),
    env: bridgeEnv(settings),
    signal: AbortSignal.timeout(LIST_TIMEOUT_MS),
    killGraceMs: 2000,
    onStdout: () => {},
    onStdoutData: (chunk) => splitter.push(chunk),
    onStderr: () => {},
  });
  splitter.end();
  if (problems) return problems;
  const error = (final as { error?: { code?: string; message?: string } } | null)?.error;
  const why =
    exit.spawnError ?? (error ? `${error.code}: ${error.message}` : `exit ${exit.code ?? exit.signal}`);
  throw new Error(
    `The AIOpsLab bridge could not list problems (${why}); check AIOPSLAB_DIR and AIOPSLAB_PYTHON.\n${exit.stderrTail.join('\n')}`,
  );
}

/** After a failed list the server asks again no sooner than this (a list spawns Python). */
const LIST_RETRY_MS = 60_000;
const listFailedAt = new Map<string, number>();

/**
 * The problems for the server's own GET /api/v1/problems when it can run the bridge itself
 * (AIOPSLAB_DIR set): cached like a worker's list, so listing needs no live worker; docker-
 * deployed ones only with AIOPSLAB_ALLOW_DOCKER_PROBLEMS, as its workers would. Null when
 * not configured or when the list fails (onError hears why; retried after a minute).
 */
export async function serverListedProblems(
  settings: Pick<AiopslabSettings, 'AIOPSLAB_DIR' | 'AIOPSLAB_PYTHON' | 'AIOPSLAB_ALLOW_DOCKER_PROBLEMS'>,
  onError?: (err: unknown) => void,
): Promise<AiopslabProblem[] | null> {
  if (!settings.AIOPSLAB_DIR) return null;
  const key = `${settings.AIOPSLAB_PYTHON}\n${settings.AIOPSLAB_DIR}`;
  if (Date.now() - (listFailedAt.get(key) ?? 0) < LIST_RETRY_MS) return null;
  try {
    // Docker-deployed ones as this server's own workers would advertise them (only when allowed).
    const all = await listProblems(settings as AiopslabSettings);
    return all.filter((p) => p.deployment !== 'docker' || settings.AIOPSLAB_ALLOW_DOCKER_PROBLEMS);
  } catch (err) {
    listFailedAt.set(key, Date.now());
    onError?.(err);
    return null;
  }
}

/** The ids a worker advertises: docker-deployed ones only when allowed. */
export async function advertisedProblems(settings: AiopslabSettings): Promise<string[]> {
  const all = await listProblems(settings);
  return all
    .filter((p) => p.deployment !== 'docker' || settings.AIOPSLAB_ALLOW_DOCKER_PROBLEMS)
    .map((p) => p.id);
}

export function createAiopslabBackend(config: Config): Backend {
  const settings: AiopslabSettings = config;
  const dataDir = resolve(config.DATA_DIR);
  const clusterSettings: ClusterSettings = {
    dataDir,
    kubeconfig: config.AIOPSLAB_KUBECONFIG,
    ensure: config.AIOPSLAB_ENSURE_CLUSTER,
    kindConfig: config.AIOPSLAB_KIND_CONFIG,
    env: bridgeEnv(settings),
  };
  // One backend per worker, so one cluster per backend (made at the first run: the id comes then).
  let cluster: WorkerCluster | undefined;
  return new EpisodeBackend(
    {
      type: 'aiopslab',
      catalogue: [],
      problems: () => advertisedProblems(settings),
      open: async (task, ctx) => {
        cluster ??= new WorkerCluster(clusterSettings, ctx.workerId);
        const own = cluster;
        const clusterEnv = await own.prepare(ctx.log, ctx.signal);
        await mkdir(ctx.workDir, { recursive: true });
        return new BridgeEnvironment({
          python: config.AIOPSLAB_PYTHON,
          script: BRIDGE_SCRIPT,
          problemId: task.problem_id,
          maxSteps: task.parameters.max_steps,
          workDir: ctx.workDir,
          resultsDir: join(ctx.workDir, 'results'),
          agentName: 'task-executor',
          env: bridgeEnv(settings, { ...ctx.env, ...(clusterEnv as unknown as Record<string, string>) }),
          termDelayMs: CANCEL_TERM_DELAY_MS,
          killGraceMs: config.AIOPSLAB_CANCEL_GRACE_SECONDS * 1000,
          log: ctx.log,
          onExit: (end) => {
            if (!end.clusterDirty) return;
            own.markDirty();
            if (own.isDirty)
              ctx.log(
                'warning',
                `cluster ${own.name} is dirty: it is reset before the next run`,
                null,
                'cluster',
              );
          },
        });
      },
      notReady: () =>
        cluster?.needsReset
          ? `resetting kind cluster ${cluster.name}: a cancelled or killed run left it dirty`
          : null,
      prepare: async (signal, log) => {
        await cluster?.reset((level, message) => log(level, message), signal);
      },
    },
    config,
  );
}
