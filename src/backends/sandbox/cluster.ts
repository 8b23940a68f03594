/**
 * The simulated cluster: stored objects (Deployments, Services, ConfigMaps, Secrets as
 * kubectl JSON), the pods their Deployments own, nodes, events, and the MongoDB grants the
 * hotel-reservation services depend on. `reconcile` plays the controllers (ReplicaSet,
 * scheduler, kubelet restarts) after every change and every tick of the virtual clock.
 */
import { type AppSpec, type ComponentSpec, findComponent } from './apps.ts';
import { APP_AGE_SECONDS, VirtualClock } from './clock.ts';
import { configMapsFor, secretsFor } from './configdata.ts';
import { hash32, nameSuffix, seededInt, seededUuid } from './hash.ts';
import {
  buildConfigMap,
  buildDeployment,
  buildSecret,
  buildService,
  type ConfigMapObject,
  type DeploymentObject,
  type SecretObject,
  type ServiceObject,
} from './objects.ts';

export interface PodRecord {
  name: string;
  deployment: string;
  templateHash: string;
  uid: string;
  ip: string;
  node: string | null;
  createdAt: number;
  /** Restarts counted before the current crash streak. */
  restartsBefore: number;
  /** When the current crash streak began, or null while healthy. */
  crashSince: number | null;
  /** When the container last (re)started after a crash streak ended. */
  recoveredAt: number | null;
}

export interface EventRecord {
  kind: string;
  name: string;
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
  source: string;
  first: number;
  last: number;
  count: number;
}

export interface NodeRecord {
  name: string;
  ip: string;
  labels: Record<string, string>;
  controlPlane: boolean;
}

export const NODES: NodeRecord[] = [
  {
    name: 'kind-control-plane',
    ip: '172.18.0.2',
    controlPlane: true,
    labels: {
      'beta.kubernetes.io/arch': 'amd64',
      'beta.kubernetes.io/os': 'linux',
      'kubernetes.io/arch': 'amd64',
      'kubernetes.io/hostname': 'kind-control-plane',
      'kubernetes.io/os': 'linux',
      'node-role.kubernetes.io/control-plane': '',
    },
  },
  {
    name: 'kind-worker',
    ip: '172.18.0.3',
    controlPlane: false,
    labels: {
      'beta.kubernetes.io/arch': 'amd64',
      'beta.kubernetes.io/os': 'linux',
      'kubernetes.io/arch': 'amd64',
      'kubernetes.io/hostname': 'kind-worker',
      'kubernetes.io/os': 'linux',
    },
  },
];

/** Why a container keeps crashing (derived from the state, never stored). */
export type CrashCause =
  | { kind: 'db-unreachable'; url: string }
  | { kind: 'db-unauthorized'; db: string; collection: string };

export class Cluster {
  readonly clock: VirtualClock;
  readonly deployments = new Map<string, DeploymentObject>();
  readonly services = new Map<string, ServiceObject>();
  readonly configmaps = new Map<string, ConfigMapObject>();
  readonly secrets = new Map<string, SecretObject>();
  pods: PodRecord[] = [];
  readonly events: EventRecord[] = [];
  /** MongoDB service → databases its `admin` user may readWrite. */
  readonly mongoGrants = new Map<string, Set<string>>();
  /** Deployment → its earlier pod templates (JSON), oldest first: what `rollout undo` restores. */
  readonly templateHistory = new Map<string, string[]>();
  readonly deployedAt: number;
  private podSerial = 0;

  constructor(
    readonly seed: string,
    readonly app: AppSpec,
  ) {
    this.clock = new VirtualClock(seed);
    this.deployedAt = this.clock.start - APP_AGE_SECONDS;
    const created = this.deployedAt;
    for (const component of app.components) {
      this.deployments.set(component.name, buildDeployment(seed, app, component, created));
      this.services.set(component.name, buildService(seed, app, component, created));
      if (component.database)
        this.mongoGrants.set(component.database.service, new Set([component.database.db]));
    }
    for (const [name, data] of Object.entries(configMapsFor(app))) {
      this.configmaps.set(name, buildConfigMap(seed, app.namespace, name, data, created - 5));
    }
    for (const secret of secretsFor(app)) {
      this.secrets.set(
        secret.name,
        buildSecret(seed, app.namespace, secret.name, secret.type, secret.data, created - 5),
      );
    }
    reconcile(this, created + 2);
  }

  get namespace(): string {
    return this.app.namespace;
  }

  now(): number {
    return this.clock.now();
  }

  component(deployment: string): ComponentSpec | undefined {
    return findComponent(this.app, deployment);
  }

  nextPodSerial(): number {
    this.podSerial += 1;
    return this.podSerial;
  }

  recordEvent(event: Omit<EventRecord, 'first' | 'last' | 'count'>, at: number = this.now()): void {
    const same = this.events.find(
      (e) =>
        e.kind === event.kind &&
        e.name === event.name &&
        e.reason === event.reason &&
        e.message === event.message,
    );
    if (same) {
      same.count += 1;
      same.last = Math.max(same.last, at);
      return;
    }
    this.events.push({ ...event, first: at, last: at, count: 1 });
  }
}

export function templateHash(deployment: DeploymentObject): string {
  return nameSuffix(`tmpl:${hash32(JSON.stringify(deployment.spec.template))}`, 10);
}

/** The worker node whose labels satisfy the template's nodeSelector, or null. */
export function schedulableNode(deployment: DeploymentObject): NodeRecord | null {
  const selector = deployment.spec.template.spec.nodeSelector ?? {};
  const fits = (node: NodeRecord) =>
    !node.controlPlane && Object.entries(selector).every(([key, value]) => node.labels[key] === value);
  return NODES.find(fits) ?? null;
}

function createPod(cluster: Cluster, deployment: DeploymentObject, hash: string, at: number): PodRecord {
  const serial = cluster.nextPodSerial();
  const name = `${deployment.metadata.name}-${hash}-${nameSuffix(`${cluster.seed}:${hash}:${serial}`, 5)}`;
  const node = schedulableNode(deployment);
  const pod: PodRecord = {
    name,
    deployment: deployment.metadata.name,
    templateHash: hash,
    uid: seededUuid(`${cluster.seed}:pod:${name}`),
    ip: node ? `10.244.1.${seededInt(`${cluster.seed}:podip:${name}`, 2, 250)}` : '',
    node: node?.name ?? null,
    createdAt: at,
    restartsBefore: 0,
    crashSince: null,
    recoveredAt: null,
  };
  recordPodStart(cluster, pod, deployment, at);
  return pod;
}

/** An event about a pod, as `kubectl get events` and `describe pod` show it. */
function podEvent(
  cluster: Cluster,
  pod: PodRecord,
  e: { type?: 'Normal' | 'Warning'; reason: string; message: string; source?: string },
  at: number,
): void {
  cluster.recordEvent(
    {
      kind: 'Pod',
      name: pod.name,
      type: e.type ?? 'Normal',
      reason: e.reason,
      message: e.message,
      source: e.source ?? 'kubelet',
    },
    at,
  );
}

const UNSCHEDULABLE =
  "0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.";

function recordPodStart(cluster: Cluster, pod: PodRecord, deployment: DeploymentObject, at: number): void {
  if (!pod.node) {
    podEvent(
      cluster,
      pod,
      { type: 'Warning', reason: 'FailedScheduling', message: UNSCHEDULABLE, source: 'default-scheduler' },
      at,
    );
    return;
  }
  const scheduled = `Successfully assigned ${cluster.namespace}/${pod.name} to ${pod.node}`;
  podEvent(cluster, pod, { reason: 'Scheduled', message: scheduled, source: 'default-scheduler' }, at);
  const container = deployment.spec.template.spec.containers[0];
  if (!container) return;
  podEvent(
    cluster,
    pod,
    { reason: 'Pulled', message: `Container image "${container.image}" already present on machine` },
    at + 1,
  );
  podEvent(cluster, pod, { reason: 'Created', message: `Created container ${container.name}` }, at + 1);
  podEvent(cluster, pod, { reason: 'Started', message: `Started container ${container.name}` }, at + 1);
}

function replicaSetName(deployment: DeploymentObject, hash: string): string {
  return `${deployment.metadata.name}-${hash}`;
}

/** Deletes a pod as the API would (its ReplicaSet then recreates it on reconcile). */
export function removePod(cluster: Cluster, pod: PodRecord, at: number): void {
  cluster.pods = cluster.pods.filter((p) => p !== pod);
  const container = cluster.deployments.get(pod.deployment)?.spec.template.spec.containers[0];
  if (pod.node && container)
    podEvent(cluster, pod, { reason: 'Killing', message: `Stopping container ${container.name}` }, at);
}

/** One ReplicaSet controller pass: the right number of pods of the current template. */
/** The deployment controller's ScalingReplicaSet event, as `kubectl get events` shows it. */
function scalingEvent(cluster: Cluster, deployment: DeploymentObject, message: string, at: number): void {
  cluster.recordEvent(
    {
      kind: 'Deployment',
      name: deployment.metadata.name,
      type: 'Normal',
      reason: 'ScalingReplicaSet',
      message,
      source: 'deployment-controller',
    },
    at,
  );
}

function reconcileDeployment(cluster: Cluster, deployment: DeploymentObject, at: number): void {
  const hash = templateHash(deployment);
  const owned = cluster.pods.filter((pod) => pod.deployment === deployment.metadata.name);
  const rsName = replicaSetName(deployment, hash);
  for (const pod of owned.filter((p) => p.templateHash !== hash)) {
    removePod(cluster, pod, at);
    const oldRs = `${deployment.metadata.name}-${pod.templateHash}`;
    scalingEvent(cluster, deployment, `Scaled down replica set ${oldRs} to 0 from 1`, at);
  }
  const current = cluster.pods.filter((pod) => pod.deployment === deployment.metadata.name);
  const desired = Math.max(0, Math.floor(deployment.spec.replicas));
  const fresh = current.length === 0 && desired > 0 && owned.length > current.length;
  if (fresh) {
    scalingEvent(cluster, deployment, `Scaled up replica set ${rsName} to ${desired}`, at);
  }
  for (let i = current.length; i < desired; i++) cluster.pods.push(createPod(cluster, deployment, hash, at));
  for (const pod of current.slice(desired).reverse()) removePod(cluster, pod, at);
}

/** Runs the controllers: pods for every Deployment, crash streaks updated to `at`. */
export function reconcile(cluster: Cluster, at: number = cluster.now()): void {
  for (const deployment of cluster.deployments.values()) reconcileDeployment(cluster, deployment, at);
  const known = new Set(cluster.deployments.keys());
  for (const pod of cluster.pods.filter((p) => !known.has(p.deployment))) removePod(cluster, pod, at);
  for (const pod of cluster.pods) updateCrashStreak(cluster, pod, at);
}

function updateCrashStreak(cluster: Cluster, pod: PodRecord, at: number): void {
  const crashing = pod.node !== null && crashCause(cluster, pod) !== null;
  if (crashing && pod.crashSince === null) {
    pod.crashSince = Math.max(at, pod.createdAt);
  } else if (!crashing && pod.crashSince !== null) {
    pod.restartsBefore = crashRestarts(pod, at) + 1;
    pod.crashSince = null;
    pod.recoveredAt = at;
  }
}

/** Kubelet's crash-loop back-off: 10s doubling to 5m, each run lasting ~2s. */
function restartTimes(since: number, until: number): number[] {
  const times: number[] = [];
  let t = since + 2;
  for (let k = 0; t <= until && k < 1000; k++) {
    times.push(t);
    t += Math.min(10 * 2 ** k, 300) + 2;
  }
  return times;
}

export function crashRestarts(pod: PodRecord, at: number): number {
  if (pod.crashSince === null) return pod.restartsBefore;
  return pod.restartsBefore + restartTimes(pod.crashSince, at).length;
}

export function lastRestartAt(pod: PodRecord, at: number): number | null {
  if (pod.crashSince === null) return pod.recoveredAt;
  return restartTimes(pod.crashSince, at).at(-1) ?? null;
}

export function podsOf(cluster: Cluster, deployment: string): PodRecord[] {
  return cluster.pods.filter((pod) => pod.deployment === deployment);
}

/** Ready = scheduled and not crashing. */
export function podReady(cluster: Cluster, pod: PodRecord, visiting = new Set<string>()): boolean {
  return pod.node !== null && crashCause(cluster, pod, visiting) === null;
}

function selectorMatches(
  selector: Record<string, string> | undefined,
  labels: Record<string, string>,
): boolean {
  if (!selector || Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([key, value]) => labels[key] === value);
}

export function podLabels(cluster: Cluster, pod: PodRecord): Record<string, string> {
  const labels = cluster.deployments.get(pod.deployment)?.spec.template.metadata.labels ?? {};
  return { ...labels, 'pod-template-hash': pod.templateHash };
}

export function servicePods(cluster: Cluster, service: ServiceObject): PodRecord[] {
  return cluster.pods.filter((pod) => selectorMatches(service.spec.selector, podLabels(cluster, pod)));
}

/** The numeric port a service port forwards to on a pod (named ports resolve by container port name). */
export function resolveTargetPort(
  cluster: Cluster,
  pod: PodRecord,
  targetPort: number | string,
): number | null {
  if (typeof targetPort === 'number') return targetPort;
  if (/^\d+$/.test(targetPort)) return null; // a numeric string is a port *name* that never matches
  const containers = cluster.deployments.get(pod.deployment)?.spec.template.spec.containers ?? [];
  for (const container of containers) {
    const port = container.ports?.find((p) => p.name === targetPort);
    if (port) return port.containerPort;
  }
  return null;
}

/** Ports the pod's process really listens on (what the app binds, whatever the spec says). */
export function listeningPorts(cluster: Cluster, pod: PodRecord): number[] {
  return cluster.component(pod.deployment)?.ports.map((port) => port.port) ?? [];
}

export type Reachability = { ok: true } | { ok: false; reason: 'no-service' | 'no-endpoints' | 'refused' };

/** Can a client connect to `service:port` right now? */
export function reachable(
  cluster: Cluster,
  serviceName: string,
  port: number,
  visiting = new Set<string>(),
): Reachability {
  const service = cluster.services.get(serviceName);
  if (!service) return { ok: false, reason: 'no-service' };
  const servicePort = service.spec.ports.find((p) => p.port === port);
  if (!servicePort) return { ok: false, reason: 'refused' };
  const ready = servicePods(cluster, service).filter(
    (pod) => !visiting.has(pod.name) && podReady(cluster, pod, visiting),
  );
  if (ready.length === 0) return { ok: false, reason: 'no-endpoints' };
  const listening = ready.some((pod) => {
    const target = resolveTargetPort(cluster, pod, servicePort.targetPort);
    return target !== null && listeningPorts(cluster, pod).includes(target);
  });
  return listening ? { ok: true } : { ok: false, reason: 'refused' };
}

/** The buggy image AIOpsLab's misconfig_app injects: geo reads a wrong MongoDB port. */
export const MISCONFIGURED_GEO_IMAGE = 'yinfangchen/geo:app3';
const MISCONFIGURED_DB_PORT = 27777;

function databasePort(cluster: Cluster, pod: PodRecord): number {
  const image = cluster.deployments.get(pod.deployment)?.spec.template.spec.containers[0]?.image;
  return image === MISCONFIGURED_GEO_IMAGE ? MISCONFIGURED_DB_PORT : 27017;
}

/** Why this pod's container crashes at startup, or null when it runs. */
export function crashCause(
  cluster: Cluster,
  pod: PodRecord,
  visiting = new Set<string>(),
): CrashCause | null {
  const component = cluster.component(pod.deployment);
  const database = component?.database;
  if (!database || visiting.has(pod.name)) return null;
  visiting.add(pod.name);
  try {
    const port = databasePort(cluster, pod);
    if (!reachable(cluster, database.service, port, visiting).ok) {
      return { kind: 'db-unreachable', url: `${database.service}:${port}` };
    }
    if (!cluster.mongoGrants.get(database.service)?.has(database.db)) {
      return { kind: 'db-unauthorized', db: database.db, collection: component.name };
    }
    return null;
  } finally {
    visiting.delete(pod.name);
  }
}
