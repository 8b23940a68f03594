/**
 * The injected faults, each doing to the model what AIOpsLab's injector does to the cluster:
 * - misconfig_k8s (VirtualizationFaultInjector): the Service's targetPort 9090 → 9999;
 * - scale_pods_to_zero: the Deployment scaled to 0 replicas;
 * - assign_to_non_existent_node: nodeSelector kubernetes.io/hostname=extra-node (pod Pending);
 * - misconfig_app (ApplicationFaultInjector): geo's image → yinfangchen/geo:app3, whose
 *   baked-in config points at the wrong MongoDB port, so geo crash-loops;
 * - revoke_auth: the `admin` user loses readWrite on the app database, the dependent
 *   service's pods are deleted and their replacements crash on "not authorized".
 */

import { FAULT_AGE_SECONDS } from './clock.ts';
import { type Cluster, MISCONFIGURED_GEO_IMAGE, reconcile, removePod } from './cluster.ts';
import type { DeploymentObject } from './objects.ts';

export type FaultKind =
  | 'misconfig_k8s'
  | 'scale_pods_to_zero'
  | 'assign_to_non_existent_node'
  | 'misconfig_app'
  | 'revoke_auth'
  | 'no_op';

export interface FaultSpec {
  kind: FaultKind;
  /** The AIOpsLab `faulty_service`. */
  target: string;
}

function changeDeployment(cluster: Cluster, name: string, change: (d: DeploymentObject) => void): void {
  const deployment = cluster.deployments.get(name);
  if (!deployment) return;
  const next = structuredClone(deployment);
  change(next);
  if (JSON.stringify(next.spec.template) !== JSON.stringify(deployment.spec.template)) {
    cluster.templateHistory.set(name, [
      ...(cluster.templateHistory.get(name) ?? []),
      JSON.stringify(deployment.spec.template),
    ]);
  }
  next.metadata.generation = (deployment.metadata.generation ?? 1) + 1;
  cluster.deployments.set(name, next);
}

const INJECTORS: Record<FaultKind, (cluster: Cluster, target: string, at: number) => void> = {
  misconfig_k8s: (cluster, target) => {
    const service = cluster.services.get(target);
    for (const port of service?.spec.ports ?? []) if (port.targetPort === 9090) port.targetPort = 9999;
  },
  scale_pods_to_zero: (cluster, target, at) => {
    changeDeployment(cluster, target, (d) => {
      d.spec.replicas = 0;
    });
    const rs = cluster.pods.find((p) => p.deployment === target);
    const message = `Scaled down replica set ${target}-${rs?.templateHash ?? ''} to 0 from 1`;
    cluster.recordEvent(
      {
        kind: 'Deployment',
        name: target,
        type: 'Normal',
        reason: 'ScalingReplicaSet',
        message,
        source: 'deployment-controller',
      },
      at,
    );
  },
  assign_to_non_existent_node: (cluster, target, at) => {
    // AIOpsLab deletes and re-applies the Deployment, so it is brand new.
    changeDeployment(cluster, target, (d) => {
      d.spec.template.spec.nodeSelector = { 'kubernetes.io/hostname': 'extra-node' };
      d.metadata.creationTimestamp = new Date(at * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
      d.metadata.generation = 1;
    });
    cluster.templateHistory.delete(target);
    for (const pod of cluster.pods.filter((p) => p.deployment === target)) removePod(cluster, pod, at);
  },
  misconfig_app: (cluster, target) => {
    changeDeployment(cluster, target, (d) => {
      for (const container of d.spec.template.spec.containers) {
        if (container.name === `hotel-reserv-${target}`) container.image = MISCONFIGURED_GEO_IMAGE;
      }
      d.metadata.annotations = { ...d.metadata.annotations, 'deployment.kubernetes.io/revision': '2' };
    });
  },
  revoke_auth: (cluster, target, at) => {
    const client = cluster.app.components.find((c) => c.database?.service === target);
    if (!client?.database) return;
    cluster.mongoGrants.get(target)?.delete(client.database.db);
    for (const pod of cluster.pods.filter((p) => p.deployment === client.name)) removePod(cluster, pod, at);
  },
  no_op: () => {},
};

/** Injects the fault shortly before the agent's first step and lets the controllers settle. */
export function injectFault(cluster: Cluster, fault: FaultSpec): void {
  const at = cluster.clock.start - FAULT_AGE_SECONDS;
  INJECTORS[fault.kind](cluster, fault.target, at);
  reconcile(cluster, at);
  reconcile(cluster);
}
