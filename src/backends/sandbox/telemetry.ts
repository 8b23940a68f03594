/**
 * Metrics and traces as AIOpsLab exports them: get_metrics writes one CSV per Prometheus
 * metric under `<cwd>/metrics_output/metric_<YYYYmmdd_HHMMSS>/container/` and returns the
 * export message with the folder tree; get_traces writes `<cwd>/trace_output/traces_<unix>.csv`.
 * Values are seeded per pod and reflect the fault: a crash-looping or missing service has
 * no CPU and restarts, callers of an unreachable service show error spans and slow calls.
 * The files live in memory; read_metrics/read_traces (and `cat`/`ls`) read them back.
 */
import { type Cluster, reachable } from './cluster.ts';
import { hexId, seededUnit } from './hash.ts';
import { type CommandResult, fail, ok } from './shell.ts';
import { appPodView } from './views.ts';

const METRICS = [
  'container_cpu_usage_seconds_total',
  'container_memory_usage_bytes',
  'container_memory_working_set_bytes',
  'container_network_receive_bytes_total',
  'container_network_transmit_bytes_total',
  'container_threads',
];
const STEP_SECONDS = 15;
const MAX_TRACES = 12;

function stamp(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace(/[-:]/g, '').replace('T', '_').slice(0, 15);
}

/** pandas `DataFrame.to_string(index=False)`: right-aligned columns separated by a space. */
export function frameToString(csv: string): string {
  const rows = csv
    .trimEnd()
    .split('\n')
    .map((line) => line.split(','));
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length)));
  return rows.map((row) => row.map((cell, i) => cell.padStart(widths[i]!)).join(' ')).join('\n');
}

export class Telemetry {
  readonly workingDirectory = '/home/aiopslab/AIOpsLab';
  private readonly files = new Map<string, string>();

  constructor(private readonly cluster: Cluster) {}

  /** TaskActions.get_metrics: exports the last `minutes` and returns the export message. */
  exportMetrics(namespace: string, minutes: number): string {
    const end = this.cluster.now();
    const dir = `${this.workingDirectory}/metrics_output/metric_${stamp(end)}`;
    const names: string[] = [];
    if (namespace === this.cluster.namespace) {
      for (const metric of METRICS) {
        const csv = this.metricCsv(metric, end - minutes * 60, end);
        this.files.set(`${dir}/container/kpi_${metric}.csv`, csv);
        names.push(`kpi_${metric}.csv`);
      }
    }
    const tree = [
      `metric_${stamp(end)}/`,
      '    container/',
      ...names.map((n) => `        ${n}`),
      '    istio/',
    ];
    return `Metrics data exported to directory: ${dir}\n\nFolder structure of exported metrics:\n${tree.join('\n')}\n`;
  }

  private metricCsv(metric: string, start: number, end: number): string {
    const rows = ['timestamp,cmdb_id,kpi_name,value'];
    const first = Math.ceil(start / STEP_SECONDS) * STEP_SECONDS;
    for (let t = first; t <= end; t += STEP_SECONDS) {
      for (const pod of this.cluster.pods) {
        const view = appPodView(this.cluster, pod);
        if (!view.node || t < pod.createdAt) continue;
        const value = this.metricValue(metric, view.name, view.ready, t - pod.createdAt);
        rows.push(`${t},${view.ip}:8080.${view.name},${metric},${value.toFixed(3)}`);
      }
    }
    return `${rows.join('\n')}\n`;
  }

  private metricValue(metric: string, pod: string, ready: boolean, age: number): number {
    const noise = seededUnit(`${this.cluster.seed}:${pod}:${metric}:${age}`);
    const base = seededUnit(`${this.cluster.seed}:${pod}:${metric}`);
    const running = ready ? 1 : 0.02;
    if (metric === 'container_cpu_usage_seconds_total')
      return age * (0.002 + base * 0.01) * running + noise * 0.01;
    if (metric.startsWith('container_memory')) return (8e6 + base * 6e7) * (ready ? 1 : 0.1) + noise * 1e5;
    if (metric === 'container_threads') return ready ? Math.round(6 + base * 20) : 1;
    return age * (200 + base * 4000) * running + noise * 100;
  }

  /** TaskActions.get_traces. */
  exportTraces(namespace: string, minutes: number): string {
    const end = this.cluster.now();
    const path = `${this.workingDirectory}/trace_output/traces_${end}.csv`;
    this.files.set(
      path,
      namespace === this.cluster.namespace ? this.tracesCsv(end - minutes * 60, end) : TRACE_HEADER,
    );
    return `Traces data exported to: ${path}`;
  }

  private tracesCsv(start: number, end: number): string {
    const rows = [TRACE_HEADER.trimEnd()];
    const first = Math.max(start, this.cluster.deployedAt);
    for (let t = first, n = 0; t <= end && n < MAX_TRACES; t += 11, n++) {
      const traceId = hexId(`${this.cluster.seed}:trace:${t}`, 16);
      this.span(rows, traceId, this.cluster.app.frontend, 'ROOT', t * 1e6, 0);
    }
    return `${rows.join('\n')}\n`;
  }

  /** Appends the span of `service` and its callees (two levels); returns whether it failed. */
  private span(
    rows: string[],
    traceId: string,
    service: string,
    parent: string,
    at: number,
    depth: number,
  ): boolean {
    const spanId = hexId(`${traceId}:${service}:${depth}`, 16);
    const index = rows.length;
    rows.push('');
    const callees =
      depth < 2
        ? (this.cluster.component(service)?.calls ?? []).filter(
            (c) =>
              this.cluster.component(c)?.kind === 'thrift' ||
              this.cluster.component(c)?.kind.startsWith('go'),
          )
        : [];
    let failed = false;
    callees.forEach((callee, i) => {
      const port = this.cluster.component(callee)?.ports[0]?.port ?? 0;
      if (!reachable(this.cluster, callee, port).ok) {
        failed = true;
        // Only the caller's client span exists: the callee never received the request.
        const client = hexId(`${traceId}:${service}->${callee}`, 16);
        const latency = Math.round(1000 + seededUnit(`${client}:d`) * 2000);
        rows.push(
          [
            traceId,
            client,
            spanId,
            service,
            `${callee}:${operationOf(callee)}`,
            at + 50 * (i + 1),
            latency,
            'True',
            'Unknown',
          ].join(','),
        );
        return;
      }
      failed = this.span(rows, traceId, callee, spanId, at + 50 * (i + 1), depth + 1) || failed;
    });
    const duration = Math.round((failed ? 30000 : 600) + seededUnit(`${spanId}:d`) * 3000);
    const response = depth === 0 ? (failed ? '500' : '200') : 'Unknown';
    rows[index] = [
      traceId,
      spanId,
      parent,
      service,
      operationOf(service),
      at,
      duration,
      failed ? 'True' : 'False',
      response,
    ].join(',');
    return failed;
  }

  private readCsv(path: string, kind: 'Metrics' | 'Traces'): string {
    const file = this.files.get(path);
    if (file === undefined) {
      if (this.isDirectory(path))
        return `Failed to read ${kind.toLowerCase()}: [Errno 21] Is a directory: '${path}'`;
      return `error: ${kind} file '${path}' not found.`;
    }
    if (file.trimEnd().split('\n').length < 2)
      return `Empty DataFrame\nColumns: [${file.trimEnd().split(',').join(', ')}]\nIndex: []`;
    return frameToString(file);
  }

  readMetrics(path: string): string {
    return this.readCsv(path, 'Metrics');
  }

  readTraces(path: string): string {
    return this.readCsv(path, 'Traces');
  }

  private isDirectory(path: string): boolean {
    const prefix = path.endsWith('/') ? path : `${path}/`;
    return [...this.files.keys()].some((file) => file.startsWith(prefix));
  }

  private resolve(path: string): string {
    return path.startsWith('/') ? path : `${this.workingDirectory}/${path.replace(/^\.\//, '')}`;
  }

  list(paths: string[]): CommandResult {
    const targets = paths.length ? paths : ['.'];
    const out: string[] = [];
    for (const target of targets) {
      const path = this.resolve(target === '.' ? '' : target).replace(/\/$/, '');
      if (this.files.has(path)) {
        out.push(target);
        continue;
      }
      const children = new Set<string>();
      for (const file of this.files.keys()) {
        if (file.startsWith(`${path}/`)) children.add(file.slice(path.length + 1).split('/')[0]!);
      }
      if (path === this.workingDirectory)
        for (const c of ['aiopslab', 'clients', 'README.md', 'pyproject.toml']) children.add(c);
      if (children.size === 0) return fail(`ls: cannot access '${target}': No such file or directory\n`, 2);
      out.push(...[...children].sort());
    }
    return ok(out.length ? `${out.join('\n')}\n` : '');
  }

  cat(paths: string[]): CommandResult {
    let stdout = '';
    for (const target of paths) {
      const file = this.files.get(this.resolve(target));
      if (file === undefined)
        return { stdout, stderr: `cat: ${target}: No such file or directory\n`, code: 1 };
      stdout += file;
    }
    return ok(stdout);
  }
}

const TRACE_HEADER =
  'trace_id,span_id,parent_span,service_name,operation_name,start_time,duration,has_error,response\n';

function operationOf(service: string): string {
  const known: Record<string, string> = {
    'nginx-thrift': '/wrk2-api/post/compose',
    frontend: 'HTTP GET /hotels',
    search: 'Nearby',
    geo: 'Nearby',
    rate: 'GetRates',
    profile: 'GetProfiles',
    recommendation: 'GetRecommendations',
    user: 'CheckUser',
    reservation: 'MakeReservation',
  };
  return known[service] ?? 'compose_post_server';
}
