/**
 * The scripted solver's diagnosis: from what kubectl showed (pods, deployments, services, the logs
 * of crashing pods, the description of pending ones) to one finding, named the way AIOpsLab's
 * problems score it. It works from symptoms only, the way an SRE reads a cluster:
 *
 * - a deployment that wants 0 replicas → scaled to zero (an operator's mistake);
 * - a pod the scheduler cannot place because of its node selector → a node that does not exist;
 * - a crash-looping pod whose logs say `not authorized on <db>` → the MongoDB it uses lost the
 *   roles of its user (revoked credentials); any other crash loop → the app's own configuration;
 * - a Service whose numeric targetPort is not a port the containers it selects declare → a
 *   misconfigured Service (traffic goes nowhere while every pod looks healthy);
 * - none of these, and every pod ready → healthy.
 *
 * The analysis labels follow the AIOpsLab problem files' `eval` (k8s_target_port_misconfig:
 * Virtualization/Misconfiguration; scale_pod: Virtualization/Operation Error; revoke_auth:
 * Application/Authentication Issue; misconfig_app: Application/Misconfiguration;
 * assign_non_existent_node: Virtualization/Dependency Problem).
 */
import {
  type DeploymentView,
  isUnhealthy,
  type PodView,
  type ServiceView,
  selects,
} from './scripted-kubectl-read.ts';

/** What the investigation saw; logs and descriptions are keyed by pod name. */
export interface Facts {
  pods: PodView[];
  deployments: DeploymentView[];
  services: ServiceView[];
  logs: ReadonlyMap<string, string>;
  descriptions: ReadonlyMap<string, string>;
}

export type Diagnosis =
  | { kind: 'healthy' }
  | { kind: 'scaled-to-zero'; deployment: string }
  | { kind: 'unschedulable'; deployment: string; pod: string }
  | {
      kind: 'revoked-auth';
      mongo: string;
      mongoPod: string | undefined;
      db: string;
      client: string;
      pod: string;
    }
  /** `detail`: the bad value, when the logs show one (e.g. an address no service serves). */
  | { kind: 'app-misconfig'; deployment: string; pod: string; detail: string | undefined }
  | { kind: 'target-port'; service: string; portIndex: number; from: number; to: number }
  /** Something is unhealthy but matches no known pattern. */
  | { kind: 'unknown'; deployment: string };

export interface Analysis {
  system_level: 'Hardware' | 'Operating System' | 'Virtualization' | 'Application';
  fault_type:
    | 'Misconfiguration'
    | 'Code Defect'
    | 'Authentication Issue'
    | 'Network/Storage Issue'
    | 'Operation Error'
    | 'Dependency Problem';
}

// ---------------------------------------------------------------------------------------------
// Pods and the workloads they belong to

/** `<deployment>-<replicaset hash>-<pod hash>`, as Deployments name their pods. */
const POD_NAME = /^(.+)-[a-z0-9]{6,10}-[a-z0-9]{5}$/;

/** The deployment a pod belongs to: by selector, else by its ReplicaSet's name, else by its own name. */
export function deploymentOf(pod: PodView, deployments: DeploymentView[]): string {
  const bySelector = deployments.find((d) => selects(d.selector, pod.labels));
  if (bySelector) return bySelector.name;
  const byOwner = pod.owner ? /^(.+)-[a-z0-9]{6,10}$/.exec(pod.owner)?.[1] : undefined;
  return byOwner ?? POD_NAME.exec(pod.name)?.[1] ?? pod.name;
}

/** Crashing rather than merely not ready yet: a crash-loop or error reason, or restarts while not ready. */
export const isCrashing = (pod: PodView): boolean =>
  /CrashLoopBackOff|Error|OOMKilled/.test(pod.status) || (pod.restarts > 0 && !pod.ready);

/** The scheduler could not place it (from the pod's condition or its `describe` events). */
function isUnschedulable(pod: PodView, description: string | undefined): boolean {
  if (pod.unschedulable !== undefined) return true;
  return (
    pod.status === 'Pending' &&
    /FailedScheduling|didn't match|node affinity\/selector/i.test(description ?? '')
  );
}

// ---------------------------------------------------------------------------------------------
// The findings, one function each

function scaledToZero(f: Facts): Diagnosis | undefined {
  const d = f.deployments.find((x) => x.replicas === 0);
  return d && { kind: 'scaled-to-zero', deployment: d.name };
}

function unschedulable(f: Facts): Diagnosis | undefined {
  const pod = f.pods.find((p) => isUnschedulable(p, f.descriptions.get(p.name)));
  return pod && { kind: 'unschedulable', deployment: deploymentOf(pod, f.deployments), pod: pod.name };
}

/**
 * The MongoDB behind `not authorized on <db>`: a mongodb-* workload the logs name (the service
 * logs its database URL, e.g. `mongodb-geo:27017`), else the one named after the database
 * (`geo-db` → `mongodb-geo`) or after the client.
 */
function mongoOf(f: Facts, logs: string, db: string, client: string): string {
  const names = [...new Set([...f.deployments, ...f.services].map((x) => x.name))].filter((n) =>
    n.startsWith('mongodb'),
  );
  const mentioned = names
    .map((n) => ({ n, at: logs.search(new RegExp(`\\b${n}\\b`)) }))
    .filter((x) => x.at >= 0)
    .sort((a, b) => a.at - b.at)[0]?.n;
  const stem = db.replace(/[-_]?db$/i, '');
  return (
    mentioned ??
    names.find((n) => n === `mongodb-${stem}`) ??
    names.find((n) => n === `mongodb-${client}`) ??
    `mongodb-${client}`
  );
}

function crashing(f: Facts): Diagnosis | undefined {
  const pod = f.pods.find(isCrashing);
  if (!pod) return undefined;
  const deployment = deploymentOf(pod, f.deployments);
  const logs = f.logs.get(pod.name) ?? '';
  const denied = /not authorized on ['"]?([\w.-]+)/i.exec(logs);
  if (denied?.[1]) {
    const mongo = mongoOf(f, logs, denied[1], deployment);
    const mongoPod = f.pods.find((p) => deploymentOf(p, f.deployments) === mongo)?.name;
    return { kind: 'revoked-auth', mongo, mongoPod, db: denied[1], client: deployment, pod: pod.name };
  }
  return { kind: 'app-misconfig', deployment, pod: pod.name, detail: badAddress(f, logs) };
}

/**
 * A `service:port` the logs mention whose service exists but does not serve that port: the value
 * the app was configured with, and why it cannot connect (e.g. `mongodb-geo:27777` vs 27017).
 */
function badAddress(f: Facts, logs: string): string | undefined {
  for (const m of logs.matchAll(/\b([a-z][a-z0-9-]*):(\d{2,5})\b/g)) {
    const service = f.services.find((s) => s.name === m[1]);
    const port = Number(m[2]);
    if (!service || service.ports.some((p) => p.port === port)) continue;
    const served = service.ports.map((p) => p.port).join(', ');
    return `it is configured with ${m[1]}:${port}, but ${m[1]} serves ${served}`;
  }
  return undefined;
}

/** The container ports behind a selector: the pod templates it matches, and the pods themselves. */
function portsSelectedBy(f: Facts, selector: Record<string, string>): number[] {
  const fromDeployments = f.deployments
    .filter((d) => selects(selector, d.templateLabels))
    .flatMap((d) => d.containerPorts);
  const fromPods = f.pods.filter((p) => selects(selector, p.labels)).flatMap((p) => p.containerPorts);
  return [...new Set([...fromDeployments, ...fromPods])];
}

function targetPort(f: Facts): Diagnosis | undefined {
  for (const service of f.services) {
    const ports = portsSelectedBy(f, service.selector);
    // Nothing to compare with (no selector, or workloads that declare no ports): no verdict.
    if (ports.length === 0) continue;
    for (const [portIndex, p] of service.ports.entries()) {
      if (typeof p.targetPort !== 'number' || ports.includes(p.targetPort)) continue;
      // The right port: the service's own port when the containers declare it, else their only/first one.
      const to = p.port !== undefined && ports.includes(p.port) ? p.port : (ports[0] as number);
      return { kind: 'target-port', service: service.name, portIndex, from: p.targetPort, to };
    }
  }
  return undefined;
}

function unknown(f: Facts): Diagnosis | undefined {
  const pod = f.pods.find(isUnhealthy);
  return pod && { kind: 'unknown', deployment: deploymentOf(pod, f.deployments) };
}

/** The first finding, most specific first: a crash or a scheduling failure explains more than a port. */
export function diagnose(f: Facts): Diagnosis {
  return (
    scaledToZero(f) ?? unschedulable(f) ?? crashing(f) ?? targetPort(f) ?? unknown(f) ?? { kind: 'healthy' }
  );
}

// ---------------------------------------------------------------------------------------------
// Answers

/** The faulty component to localize (for revoked credentials, the database whose user lost its roles). */
export function culprit(d: Diagnosis): string | undefined {
  switch (d.kind) {
    case 'healthy':
      return undefined;
    case 'target-port':
      return d.service;
    case 'revoked-auth':
      return d.mongo;
    default:
      return d.deployment;
  }
}

export function analysisOf(d: Diagnosis): Analysis {
  switch (d.kind) {
    case 'target-port':
      return { system_level: 'Virtualization', fault_type: 'Misconfiguration' };
    case 'scaled-to-zero':
      return { system_level: 'Virtualization', fault_type: 'Operation Error' };
    case 'unschedulable':
      return { system_level: 'Virtualization', fault_type: 'Dependency Problem' };
    case 'revoked-auth':
      return { system_level: 'Application', fault_type: 'Authentication Issue' };
    case 'app-misconfig':
      return { system_level: 'Application', fault_type: 'Misconfiguration' };
    default:
      // Nothing specific seen: an application defect is the likeliest of the rest.
      return { system_level: 'Application', fault_type: 'Code Defect' };
  }
}
