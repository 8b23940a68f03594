/**
 * What the scripted policies ask kubectl, and reading what it prints: the default tables and the
 * `-o custom-columns` tables the policies use for deployments and services (tabwriter-aligned
 * columns, a few hundred characters per object where `-o json` prints kilobytes), and `-o json`
 * documents (a `List` of items, or one object) as a fallback. Only the fields the solver reasons
 * about are kept. Every reader is total: output it cannot read (an error message, a shell
 * complaint, another format) gives an empty answer, never an exception, so a surprising
 * observation only means the solver knows less.
 */

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const objAt = (v: unknown, key: string): Obj => (isObj(v) && isObj(v[key]) ? v[key] : {});
const listAt = (v: unknown, key: string): unknown[] => (isObj(v) && Array.isArray(v[key]) ? v[key] : []);
const strAt = (v: unknown, key: string): string => (isObj(v) && typeof v[key] === 'string' ? v[key] : '');
const numAt = (v: unknown, key: string): number | undefined =>
  isObj(v) && typeof v[key] === 'number' ? v[key] : undefined;

/** String-valued entries only (labels, selectors, node selectors). */
function stringMap(v: unknown): Record<string, string> {
  if (!isObj(v)) return {};
  return Object.fromEntries(Object.entries(v).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

// ---------------------------------------------------------------------------------------------
// The commands

/**
 * The deployments at a glance: desired and ready replicas, the pod template's labels (what a
 * Service selects), its container ports (what a Service must target) and node selector. kubectl
 * joins the values of a `[*]` path with commas and prints `<none>` for a missing field; the quotes
 * keep a shell from globbing the brackets.
 */
export const DEPLOYMENT_COLUMNS =
  'NAME:.metadata.name,REPLICAS:.spec.replicas,READY:.status.readyReplicas,' +
  'LABELS:.spec.template.metadata.labels,PORTS:.spec.template.spec.containers[*].ports[*].containerPort,' +
  'NODE-SELECTOR:.spec.template.spec.nodeSelector';

/** The services at a glance: what they select, the ports they serve and where they send them. */
export const SERVICE_COLUMNS =
  'NAME:.metadata.name,SELECTOR:.spec.selector,PORTS:.spec.ports[*].port,TARGET-PORTS:.spec.ports[*].targetPort';

export const getPods = (ns: string) => `kubectl get pods -n ${ns}`;
export const getDeployments = (ns: string) =>
  `kubectl get deployments -n ${ns} -o custom-columns='${DEPLOYMENT_COLUMNS}'`;
/** Every service of the namespace, or the one named. */
export const getServices = (ns: string, name?: string) =>
  `kubectl get ${name === undefined ? 'services' : `service ${name}`} -n ${ns} -o custom-columns='${SERVICE_COLUMNS}'`;

// ---------------------------------------------------------------------------------------------
// JSON documents

/**
 * The JSON document in an output. kubectl prints nothing else with `-o json`, but a shell may add a
 * warning line first, so the text from the first line that opens with `{` to the last `}` is tried
 * too (a map in a table cell, `{"app":"geo"}`, is not a document).
 */
export function readJson(output: string): unknown {
  const attempts = [output.trim()];
  const start = output.search(/^\{/m);
  const end = output.lastIndexOf('}');
  if (start >= 0 && end > start) attempts.push(output.slice(start, end + 1));
  for (const text of attempts) {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      // not this one
    }
  }
  return undefined;
}

/**
 * The objects of `kind` in a document: a List's items (`get a,b -o json` mixes kinds), or the
 * object itself. kubectl names the kind of every item; an item without one is taken to be of the
 * kind that was asked for, as the API server's typed lists (`PodList`) leave it off.
 */
export function itemsOf(doc: unknown, kind: string): Obj[] {
  if (!isObj(doc)) return [];
  const items = Array.isArray(doc.items) ? doc.items.filter(isObj) : [doc];
  return items.filter((item) => item.kind === kind || item.kind === undefined);
}

// ---------------------------------------------------------------------------------------------
// Tables

/**
 * The rows of a kubectl table as header → cell. kubectl's tabwriter starts every cell of a column
 * where its header starts (a cell may hold single spaces, e.g. RESTARTS `5 (30s ago)`), so cells are
 * cut at the header positions rather than split on whitespace. Lines before a header-like line
 * (all-caps words) are skipped; an output without one has no rows.
 */
export function readTable(output: string): Record<string, string>[] {
  const lines = output.split('\n');
  const head = lines.findIndex((l) => /^[A-Z][A-Z0-9()-]*(?: [A-Z][A-Z0-9()-]*)*(?:\s{2,}\S.*)?$/.test(l));
  if (head < 0) return [];
  const header = lines[head] ?? '';
  const columns = [...header.matchAll(/\S+(?: \S+)*/g)].map((m) => ({ name: m[0], start: m.index }));
  const rows: Record<string, string>[] = [];
  for (const line of lines.slice(head + 1)) {
    if (line.trim() === '') continue;
    const row: Record<string, string> = {};
    columns.forEach((c, i) => {
      const end = columns[i + 1]?.start ?? line.length;
      row[c.name] = line.slice(c.start, end).trim();
    });
    rows.push(row);
  }
  return rows;
}

/** A custom-columns cell: kubectl's `<none>` for a missing field reads as empty. */
const cell = (row: Record<string, string>, column: string): string =>
  row[column] === '<none>' ? '' : (row[column] ?? '');

/** A comma-joined list of ports (`9090,8080`); a non-numeric entry is a port's name. */
function portList(text: string): (number | string)[] {
  return text
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '')
    .map((p) => (/^\d+$/.test(p) ? Number(p) : p));
}

const numbers = (text: string): number[] => portList(text).filter((p): p is number => typeof p === 'number');

/**
 * A map in a table cell, as the printers spell it: Go's `map[k:v k2:v2]` (kubectl's custom
 * columns), JSON `{"k":"v"}` (jsonpath, and some clients' custom columns), or `k=v,k2=v2` (the
 * SELECTOR column of `-o wide`). Anything else is no map.
 */
export function readLabelMap(text: string): Record<string, string> {
  const t = text.trim();
  if (t.startsWith('{')) {
    try {
      return stringMap(JSON.parse(t));
    } catch {
      return {};
    }
  }
  const go = /^map\[(.*)\]$/.exec(t);
  const pairs = go ? (go[1] ?? '').split(' ') : t.split(',');
  const entries = pairs.flatMap((pair) => {
    const at = go ? pair.indexOf(':') : pair.indexOf('=');
    return at > 0 ? [[pair.slice(0, at), pair.slice(at + 1)] as const] : [];
  });
  return Object.fromEntries(entries);
}

// ---------------------------------------------------------------------------------------------
// Pods

export interface PodView {
  name: string;
  labels: Record<string, string>;
  /** The controller that owns the pod (a ReplicaSet `<deployment>-<hash>`), when the JSON says. */
  owner: string | undefined;
  /** What kubectl prints in STATUS: a waiting/terminated reason (CrashLoopBackOff, Error…), else the phase. */
  status: string;
  /** Every container ready (a pod without container statuses is not ready). */
  ready: boolean;
  restarts: number;
  /** The ports the containers declare. */
  containerPorts: number[];
  nodeSelector: Record<string, string>;
  /** The PodScheduled=False message (e.g. "0/1 nodes are available: … node affinity/selector"). */
  unschedulable: string | undefined;
}

function containerPortsOf(podSpec: unknown): number[] {
  return listAt(podSpec, 'containers').flatMap((c) =>
    listAt(c, 'ports').flatMap((p) => {
      const port = numAt(p, 'containerPort');
      return port === undefined ? [] : [port];
    }),
  );
}

/** kubectl's STATUS column: the first container's waiting or abnormal terminated reason wins over the phase. */
function statusOf(pod: Obj, statuses: unknown[]): string {
  for (const s of statuses) {
    const state = objAt(s, 'state');
    const reason = strAt(objAt(state, 'waiting'), 'reason') || strAt(objAt(state, 'terminated'), 'reason');
    if (reason && reason !== 'Completed') return reason;
  }
  return strAt(objAt(pod, 'status'), 'phase') || 'Unknown';
}

function podFromJson(pod: Obj): PodView {
  const meta = objAt(pod, 'metadata');
  const spec = objAt(pod, 'spec');
  const status = objAt(pod, 'status');
  const statuses = listAt(status, 'containerStatuses');
  const owner = listAt(meta, 'ownerReferences').find((o) => isObj(o) && o.controller !== false);
  const scheduled = listAt(status, 'conditions').find((c) => strAt(c, 'type') === 'PodScheduled');
  return {
    name: strAt(meta, 'name'),
    labels: stringMap(meta.labels),
    owner: strAt(owner, 'name') || undefined,
    status: statusOf(pod, statuses),
    ready: statuses.length > 0 && statuses.every((s) => isObj(s) && s.ready === true),
    restarts: statuses.reduce<number>((n, s) => n + (numAt(s, 'restartCount') ?? 0), 0),
    containerPorts: containerPortsOf(spec),
    nodeSelector: stringMap(spec.nodeSelector),
    unschedulable:
      scheduled && strAt(scheduled, 'status') === 'False'
        ? strAt(scheduled, 'message') || 'unschedulable'
        : undefined,
  };
}

function podFromRow(row: Record<string, string>): PodView | undefined {
  const name = row.NAME;
  // A line that is not a pod row (a note after the table) has no `n/m` READY cell.
  if (!name || !/^\d+\/\d+$/.test(row.READY ?? '') || !row.STATUS) return undefined;
  const [ready, total] = (row.READY ?? '').split('/').map(Number);
  return {
    name,
    labels: {},
    owner: undefined,
    status: row.STATUS,
    ready: ready !== undefined && ready === total && (total ?? 0) > 0,
    restarts: Number.parseInt(row.RESTARTS ?? '0', 10) || 0,
    containerPorts: [],
    nodeSelector: {},
    unschedulable: undefined,
  };
}

/** The pods of `kubectl get pods -o json` (or of a mixed List), else of the default table. */
export function readPods(output: string): PodView[] {
  const doc = readJson(output);
  if (doc !== undefined) return itemsOf(doc, 'Pod').map(podFromJson);
  return readTable(output).flatMap((row) => podFromRow(row) ?? []);
}

/**
 * A pod that is not serving: crashing, waiting, pending, or running but not ready. A finished
 * one (a Job's pod: Completed, 0/1) is not a problem.
 */
export const isUnhealthy = (pod: PodView): boolean =>
  ['Succeeded', 'Completed'].includes(pod.status) ? false : pod.status !== 'Running' || !pod.ready;

// ---------------------------------------------------------------------------------------------
// Deployments

export interface DeploymentView {
  name: string;
  /** spec.replicas (Kubernetes' default is 1). */
  replicas: number;
  readyReplicas: number;
  /** spec.selector.matchLabels. */
  selector: Record<string, string>;
  templateLabels: Record<string, string>;
  containerPorts: number[];
  nodeSelector: Record<string, string>;
}

function deploymentFromJson(d: Obj): DeploymentView {
  const spec = objAt(d, 'spec');
  const template = objAt(spec, 'template');
  const podSpec = objAt(template, 'spec');
  return {
    name: strAt(objAt(d, 'metadata'), 'name'),
    replicas: numAt(spec, 'replicas') ?? 1,
    readyReplicas: numAt(objAt(d, 'status'), 'readyReplicas') ?? 0,
    selector: stringMap(objAt(spec, 'selector').matchLabels),
    templateLabels: stringMap(objAt(template, 'metadata').labels),
    containerPorts: containerPortsOf(podSpec),
    nodeSelector: stringMap(podSpec.nodeSelector),
  };
}

/** A row of DEPLOYMENT_COLUMNS: a missing replica count is Kubernetes' default of 1, a missing ready count 0. */
function deploymentFromColumns(row: Record<string, string>): DeploymentView | undefined {
  const name = row.NAME;
  const replicas = cell(row, 'REPLICAS');
  const ready = cell(row, 'READY');
  if (!name || !/^\d*$/.test(replicas) || !/^\d*$/.test(ready)) return undefined;
  return {
    name,
    replicas: replicas === '' ? 1 : Number(replicas),
    readyReplicas: ready === '' ? 0 : Number(ready),
    selector: {},
    templateLabels: readLabelMap(cell(row, 'LABELS')),
    containerPorts: numbers(cell(row, 'PORTS')),
    nodeSelector: readLabelMap(cell(row, 'NODE-SELECTOR')),
  };
}

function deploymentFromRow(row: Record<string, string>): DeploymentView | undefined {
  if ('REPLICAS' in row) return deploymentFromColumns(row);
  const name = row.NAME;
  if (!name || !/^\d+\/\d+$/.test(row.READY ?? '')) return undefined;
  const [ready = 0, desired = 0] = (row.READY ?? '').split('/').map(Number);
  return {
    name,
    replicas: desired,
    readyReplicas: ready,
    selector: {},
    templateLabels: {},
    containerPorts: [],
    nodeSelector: {},
  };
}

/**
 * The deployments of `kubectl get deployments -o json`, else of a table: DEPLOYMENT_COLUMNS, or
 * the default one (READY `ready/desired`).
 */
export function readDeployments(output: string): DeploymentView[] {
  const doc = readJson(output);
  if (doc !== undefined) return itemsOf(doc, 'Deployment').map(deploymentFromJson);
  return readTable(output).flatMap((row) => deploymentFromRow(row) ?? []);
}

// ---------------------------------------------------------------------------------------------
// Services

export interface ServicePortView {
  port: number | undefined;
  /** A number, or the name of a container port; Kubernetes defaults it to `port`. */
  targetPort: number | string | undefined;
}

export interface ServiceView {
  name: string;
  selector: Record<string, string>;
  ports: ServicePortView[];
}

function serviceFromJson(s: Obj): ServiceView {
  const spec = objAt(s, 'spec');
  return {
    name: strAt(objAt(s, 'metadata'), 'name'),
    selector: stringMap(spec.selector),
    ports: listAt(spec, 'ports').map((p) => {
      const target = isObj(p) ? p.targetPort : undefined;
      return {
        port: numAt(p, 'port'),
        targetPort: typeof target === 'number' || typeof target === 'string' ? target : numAt(p, 'port'),
      };
    }),
  };
}

/**
 * A row of SERVICE_COLUMNS. kubectl lists every port's number and target in the same order (the
 * API server fills in a missing targetPort), so the two lists pair up by position.
 */
function serviceFromColumns(row: Record<string, string>): ServiceView | undefined {
  const name = row.NAME;
  if (!name || !('TARGET-PORTS' in row)) return undefined;
  const targets = portList(cell(row, 'TARGET-PORTS'));
  return {
    name,
    selector: readLabelMap(cell(row, 'SELECTOR')),
    ports: portList(cell(row, 'PORTS')).map((p, i) => {
      const port = typeof p === 'number' ? p : undefined;
      return { port, targetPort: targets[i] ?? port };
    }),
  };
}

/**
 * The services of `kubectl get services -o json`, else of a SERVICE_COLUMNS table. The default
 * table shows `port/protocol` only, not the target port, so it is not read.
 */
export function readServices(output: string): ServiceView[] {
  const doc = readJson(output);
  if (doc !== undefined) return itemsOf(doc, 'Service').map(serviceFromJson);
  return readTable(output).flatMap((row) => serviceFromColumns(row) ?? []);
}

/** Every label of `selector` is on `labels` (an empty selector selects nothing here). */
export function selects(selector: Record<string, string>, labels: Record<string, string>): boolean {
  const entries = Object.entries(selector);
  return entries.length > 0 && entries.every(([k, v]) => labels[k] === v);
}
