/**
 * The kind cluster an `aiopslab` worker owns: named after the worker (`aiopslab-<worker id>`),
 * with its own kubeconfig under `DATA_DIR/clusters/<name>/`, handed to the bridge as KUBECONFIG
 * and AIOPSLAB_CLUSTER; a shared kube context is never switched (workers would race).
 *
 * With AIOPSLAB_KUBECONFIG the worker uses that cluster as is and manages nothing. With
 * AIOPSLAB_ENSURE_CLUSTER it creates its cluster when `kind get clusters` lacks it, and resets
 * it (delete, create) before the next run once a bridge ended leaving it dirty (killed, or a
 * fault that may still be injected).
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Json, LogLevel } from '../../queue/types.ts';
import { EnvironmentError } from '../environment.ts';
import { runProcess } from '../process.ts';

export interface ClusterSettings {
  dataDir: string;
  /** AIOPSLAB_KUBECONFIG: an existing cluster's kubeconfig; empty = the worker's own cluster. */
  kubeconfig: string;
  ensure: boolean;
  kindConfig: string;
  env: NodeJS.ProcessEnv;
}

export interface ClusterEnv {
  KUBECONFIG: string;
  AIOPSLAB_CLUSTER?: string;
}

type Log = (level: LogLevel, message: string, context?: Json, source?: string) => void;

/** kind's own steps (image pulls, control plane) take minutes; a hung one must not hold the worker. */
const KIND_TIMEOUT_MS = 15 * 60_000;

export function clusterName(workerId: string): string {
  const safe = workerId
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return `aiopslab-${safe}`.slice(0, 50);
}

export class WorkerCluster {
  readonly name: string;
  readonly kubeconfig: string;
  private dirty = false;
  /** Runs of one worker prepare one after another (one kind at a time per cluster). */
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly settings: ClusterSettings,
    workerId: string,
  ) {
    this.name = clusterName(workerId);
    this.kubeconfig = join(settings.dataDir, 'clusters', this.name, 'kubeconfig');
  }

  get isDirty(): boolean {
    return this.dirty;
  }

  markDirty(): void {
    if (!this.settings.kubeconfig) this.dirty = true;
  }

  /** Dirty and ours to reset: the worker claims nothing until reset() has run. */
  get needsReset(): boolean {
    return this.dirty && this.settings.ensure && !this.settings.kubeconfig;
  }

  /**
   * Deletes and recreates a dirty cluster, between tasks (the worker calls it before claiming
   * again, so no task's deadline pays for kind). Stays dirty when it fails: tried again later.
   */
  reset(log: Log, signal: AbortSignal): Promise<void> {
    const next = this.chain.then(() => (this.needsReset ? this.recreate(log, signal) : undefined));
    this.chain = next.catch(() => {});
    return next;
  }

  /** Makes the cluster ready for a run; the bridge's KUBECONFIG and AIOPSLAB_CLUSTER. */
  prepare(log: Log, signal: AbortSignal): Promise<ClusterEnv> {
    const next = this.chain.then(() => this.ready(log, signal));
    this.chain = next.catch(() => {});
    return next;
  }

  private async ready(log: Log, signal: AbortSignal): Promise<ClusterEnv> {
    if (this.settings.kubeconfig) return { KUBECONFIG: this.settings.kubeconfig };
    const env = { KUBECONFIG: this.kubeconfig, AIOPSLAB_CLUSTER: this.name };
    if (!this.settings.ensure) {
      if (this.dirty)
        log(
          'warning',
          `cluster ${this.name} may be dirty; set AIOPSLAB_ENSURE_CLUSTER to have it reset`,
          null,
          'cluster',
        );
      if (!existsSync(this.kubeconfig))
        throw new EnvironmentError(
          'cluster_unavailable',
          `No kubeconfig at ${this.kubeconfig} for cluster ${this.name}: create the cluster there, or set AIOPSLAB_ENSURE_CLUSTER or AIOPSLAB_KUBECONFIG`,
        );
      return env;
    }
    await mkdir(join(this.settings.dataDir, 'clusters', this.name), { recursive: true });
    // Normally reset() already ran between tasks; this covers a run opened before it could.
    if (this.dirty) {
      await this.recreate(log, signal);
      return env;
    }
    const clusters = await this.kind(['get', 'clusters'], log, signal);
    if (!clusters.split('\n').some((l) => l.trim() === this.name)) await this.create(log, signal);
    else if (!existsSync(this.kubeconfig))
      await this.kind(
        ['export', 'kubeconfig', '--name', this.name, '--kubeconfig', this.kubeconfig],
        log,
        signal,
      );
    return env;
  }

  private async recreate(log: Log, signal: AbortSignal): Promise<void> {
    await mkdir(join(this.settings.dataDir, 'clusters', this.name), { recursive: true });
    log('warning', `resetting cluster ${this.name}: the last run left it dirty`, null, 'cluster');
    await this.kind(['delete', 'cluster', '--name', this.name, '--kubeconfig', this.kubeconfig], log, signal);
    await this.create(log, signal);
    this.dirty = false;
  }

  private async create(log: Log, signal: AbortSignal): Promise<void> {
    log('info', `creating kind cluster ${this.name}`, null, 'cluster');
    const config = this.settings.kindConfig ? ['--config', this.settings.kindConfig] : [];
    await this.kind(
      ['create', 'cluster', '--name', this.name, ...config, '--kubeconfig', this.kubeconfig],
      log,
      signal,
    );
  }

  /** Runs kind; its stdout, or a retryable EnvironmentError with its stderr tail. */
  private async kind(args: string[], log: Log, signal: AbortSignal): Promise<string> {
    const out: string[] = [];
    const exit = await runProcess({
      file: 'kind',
      args,
      cwd: this.settings.dataDir,
      env: this.settings.env,
      signal: AbortSignal.any([signal, AbortSignal.timeout(KIND_TIMEOUT_MS)]),
      killGraceMs: 10_000,
      onStdout: (line) => out.push(line),
      onStderr: (line) => log('info', line, null, 'kind'),
    });
    signal.throwIfAborted();
    if (exit.spawnError || exit.code !== 0)
      throw new EnvironmentError(
        'cluster_unavailable',
        `kind ${args.slice(0, 2).join(' ')} failed: ${exit.spawnError ?? `exit ${exit.code ?? exit.signal}`}`,
        true,
        { stderr_tail: exit.stderrTail.join('\n') },
      );
    return out.join('\n');
  }
}
