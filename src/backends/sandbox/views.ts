/**
 * Read models of the cluster as kubectl sees them: pod status (phase, readiness, restarts,
 * container state), ReplicaSets, Endpoints, Nodes and Namespaces, each both as the fields
 * the table printers need and as the JSON `-o json|yaml|jsonpath` prints.
 */
import type { JsonObject } from '../../queue/types.ts';
import { isoTime } from './clock.ts';
import {
  type Cluster,
  type CrashCause,
  crashCause,
  crashRestarts,
  lastRestartAt,
  NODES,
  type NodeRecord,
  type PodRecord,
  podLabels,
  podReady,
  resolveTargetPort,
  servicePods,
  templateHash,
} from './cluster.ts';
import { hexId, seededUuid } from './hash.ts';
import { asJson, type Container, type DeploymentObject, type ServiceObject } from './objects.ts';

export interface PodView {
  name: string;
  namespace: string;
  phase: 'Running' | 'Pending';
  ready: boolean;
  status: string;
  restarts: number;
  lastRestart: number | null;
  createdAt: number;
  ip: string;
  node: string | null;
  labels: Record<string, string>;
  containers: Container[];
  crash: CrashCause | null;
  owner: string | null;
  nodeSelector: Record<string, string>;
  record?: PodRecord;
}

export function appPodView(cluster: Cluster, pod: PodRecord): PodView {
  const deployment = cluster.deployments.get(pod.deployment);
  const now = cluster.now();
  const crash = pod.node ? crashCause(cluster, pod) : null;
  const ready = podReady(cluster, pod);
  const status = !pod.node ? 'Pending' : crash ? 'CrashLoopBackOff' : 'Running';
  return {
    name: pod.name,
    namespace: cluster.namespace,
    phase: pod.node ? 'Running' : 'Pending',
    ready,
    status,
    restarts: crashRestarts(pod, now),
    lastRestart: lastRestartAt(pod, now),
    createdAt: pod.createdAt,
    ip: pod.ip,
    node: pod.node,
    labels: podLabels(cluster, pod),
    containers: deployment?.spec.template.spec.containers ?? [],
    crash,
    owner: `${pod.deployment}-${pod.templateHash}`,
    nodeSelector: deployment?.spec.template.spec.nodeSelector ?? {},
    record: pod,
  };
}

/** kind's own pods, always healthy: shown by `-A` and `-n kube-system`. */
const SYSTEM_PODS: [string, string, string, string][] = [
  ['kube-system', 'coredns-7db6d8ff4d-5xq2n', 'coredns', 'registry.k8s.io/coredns/coredns:v1.11.1'],
  ['kube-system', 'coredns-7db6d8ff4d-wh8kq', 'coredns', 'registry.k8s.io/coredns/coredns:v1.11.1'],
  ['kube-system', 'etcd-kind-control-plane', 'etcd', 'registry.k8s.io/etcd:3.5.12-0'],
  ['kube-system', 'kindnet-4xkzq', 'kindnet-cni', 'docker.io/kindest/kindnetd:v20240513-cd2ac642'],
  ['kube-system', 'kindnet-t7wbd', 'kindnet-cni', 'docker.io/kindest/kindnetd:v20240513-cd2ac642'],
  [
    'kube-system',
    'kube-apiserver-kind-control-plane',
    'kube-apiserver',
    'registry.k8s.io/kube-apiserver:v1.30.0',
  ],
  [
    'kube-system',
    'kube-controller-manager-kind-control-plane',
    'kube-controller-manager',
    'registry.k8s.io/kube-controller-manager:v1.30.0',
  ],
  ['kube-system', 'kube-proxy-8n2vb', 'kube-proxy', 'registry.k8s.io/kube-proxy:v1.30.0'],
  ['kube-system', 'kube-proxy-zr5cl', 'kube-proxy', 'registry.k8s.io/kube-proxy:v1.30.0'],
  [
    'kube-system',
    'kube-scheduler-kind-control-plane',
    'kube-scheduler',
    'registry.k8s.io/kube-scheduler:v1.30.0',
  ],
  [
    'local-path-storage',
    'local-path-provisioner-988d74bc-7tmxn',
    'local-path-provisioner',
    'docker.io/kindest/local-path-provisioner:v20240513-b9bba138',
  ],
];

export function systemPodViews(cluster: Cluster): PodView[] {
  return SYSTEM_PODS.map(([namespace, name, container, image], index) => {
    const onControlPlane = name.endsWith('kind-control-plane') || index % 2 === 0;
    const node = onControlPlane ? NODES[0]! : NODES[1]!;
    return {
      name,
      namespace,
      phase: 'Running' as const,
      ready: true,
      status: 'Running',
      restarts: 0,
      lastRestart: null,
      createdAt: cluster.deployedAt - 3600,
      ip:
        name.startsWith('kube-') || name.startsWith('etcd') || name.startsWith('kindnet')
          ? node.ip
          : `10.244.0.${index + 2}`,
      node: node.name,
      labels: { 'k8s-app': container },
      containers: [{ name: container, image }],
      crash: null,
      owner: null,
      nodeSelector: {},
    };
  });
}

export function allPodViews(cluster: Cluster): PodView[] {
  return [...systemPodViews(cluster), ...cluster.pods.map((pod) => appPodView(cluster, pod))];
}

function containerStatus(view: PodView, container: Container, cluster: Cluster): JsonObject {
  const base = {
    containerID: `containerd://${hexId(`${view.name}:${container.name}:${view.restarts}`, 64)}`,
    image: container.image,
    imageID: `${container.image.split(':')[0]}@sha256:${hexId(container.image, 64)}`,
    name: container.name,
    ready: view.ready,
    restartCount: view.restarts,
    started: view.ready,
  };
  if (view.crash) {
    const finished = view.lastRestart ?? cluster.now();
    return {
      ...base,
      lastState: {
        terminated: {
          containerID: base.containerID,
          exitCode: 2,
          finishedAt: isoTime(finished),
          reason: 'Error',
          startedAt: isoTime(finished - 1),
        },
      },
      state: {
        waiting: {
          message: `back-off 5m0s restarting failed container=${container.name} pod=${view.name}_${view.namespace}(${seededUuid(`pod:${view.name}`)})`,
          reason: 'CrashLoopBackOff',
        },
      },
    };
  }
  const startedAt = isoTime(view.lastRestart ?? view.createdAt + 1);
  return { ...base, lastState: {}, state: { running: { startedAt } } };
}

function podConditions(view: PodView): JsonObject[] {
  const at = isoTime(view.createdAt);
  if (view.phase === 'Pending') {
    return [
      {
        lastProbeTime: null,
        lastTransitionTime: at,
        message:
          "0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.",
        reason: 'Unschedulable',
        status: 'False',
        type: 'PodScheduled',
      },
    ];
  }
  const readyStatus = view.ready ? 'True' : 'False';
  return [
    { lastProbeTime: null, lastTransitionTime: at, status: 'True', type: 'PodReadyToStartContainers' },
    { lastProbeTime: null, lastTransitionTime: at, status: 'True', type: 'Initialized' },
    { lastProbeTime: null, lastTransitionTime: at, status: readyStatus, type: 'Ready' },
    { lastProbeTime: null, lastTransitionTime: at, status: readyStatus, type: 'ContainersReady' },
    { lastProbeTime: null, lastTransitionTime: at, status: 'True', type: 'PodScheduled' },
  ];
}

export function podJson(cluster: Cluster, view: PodView): JsonObject {
  const nodeIp = NODES.find((node) => node.name === view.node)?.ip;
  const status: JsonObject = {
    conditions: podConditions(view),
    phase: view.phase,
    qosClass: 'Burstable',
    startTime: isoTime(view.createdAt),
  };
  if (view.node) {
    status.containerStatuses = view.containers.map((container) => containerStatus(view, container, cluster));
    status.hostIP = nodeIp ?? '';
    status.podIP = view.ip;
    status.podIPs = [{ ip: view.ip }];
  }
  const spec: JsonObject = {
    containers: asJson(view.containers) as unknown as JsonObject[],
    dnsPolicy: 'ClusterFirst',
    restartPolicy: 'Always',
    schedulerName: 'default-scheduler',
    serviceAccountName: 'default',
  };
  if (view.node) spec.nodeName = view.node;
  if (Object.keys(view.nodeSelector).length > 0) spec.nodeSelector = view.nodeSelector;
  const metadata: JsonObject = {
    creationTimestamp: isoTime(view.createdAt),
    labels: view.labels,
    name: view.name,
    namespace: view.namespace,
    uid: seededUuid(`pod:${view.name}`),
  };
  if (view.owner) {
    metadata.generateName = `${view.owner}-`;
    metadata.ownerReferences = [
      {
        apiVersion: 'apps/v1',
        blockOwnerDeletion: true,
        controller: true,
        kind: 'ReplicaSet',
        name: view.owner,
        uid: seededUuid(`rs:${view.owner}`),
      },
    ];
  }
  return { apiVersion: 'v1', kind: 'Pod', metadata, spec, status };
}

export interface DeploymentStatus {
  replicas: number;
  ready: number;
  updated: number;
  available: number;
}

export function deploymentStatus(cluster: Cluster, deployment: DeploymentObject): DeploymentStatus {
  const pods = cluster.pods.filter((pod) => pod.deployment === deployment.metadata.name);
  const ready = pods.filter((pod) => podReady(cluster, pod)).length;
  return { replicas: pods.length, ready, updated: pods.length, available: ready };
}

export function deploymentJson(cluster: Cluster, deployment: DeploymentObject): JsonObject {
  const status = deploymentStatus(cluster, deployment);
  const at = isoTime(deployment.metadata.name ? cluster.deployedAt : 0);
  const json: JsonObject = { ...asJson(deployment) };
  const statusJson: JsonObject = {
    conditions: [
      {
        lastTransitionTime: at,
        lastUpdateTime: at,
        message:
          status.available >= deployment.spec.replicas
            ? 'Deployment has minimum availability.'
            : 'Deployment does not have minimum availability.',
        reason:
          status.available >= deployment.spec.replicas
            ? 'MinimumReplicasAvailable'
            : 'MinimumReplicasUnavailable',
        status: status.available >= deployment.spec.replicas ? 'True' : 'False',
        type: 'Available',
      },
      {
        lastTransitionTime: at,
        lastUpdateTime: at,
        message: `ReplicaSet "${deployment.metadata.name}-${templateHash(deployment)}" has successfully progressed.`,
        reason: 'NewReplicaSetAvailable',
        status: 'True',
        type: 'Progressing',
      },
    ],
    observedGeneration: deployment.metadata.generation ?? 1,
  };
  if (status.replicas > 0) {
    statusJson.replicas = status.replicas;
    statusJson.updatedReplicas = status.updated;
  }
  if (status.ready > 0) {
    statusJson.readyReplicas = status.ready;
    statusJson.availableReplicas = status.available;
  }
  if (status.replicas - status.available > 0)
    statusJson.unavailableReplicas = status.replicas - status.available;
  json.status = statusJson;
  return json;
}

export interface EndpointView {
  addresses: { ip: string; pod: string; node: string }[];
  notReady: { ip: string; pod: string; node: string }[];
  ports: { name?: string; port: number; protocol: string }[];
}

export function endpointsOf(cluster: Cluster, service: ServiceObject): EndpointView {
  const pods = servicePods(cluster, service).filter((pod) => pod.node);
  const entry = (pod: PodRecord) => ({ ip: pod.ip, pod: pod.name, node: pod.node ?? '' });
  const firstPod = pods[0];
  const ports = service.spec.ports.map((port) => ({
    ...(port.name ? { name: port.name } : {}),
    port: (firstPod && resolveTargetPort(cluster, firstPod, port.targetPort)) ?? Number(port.targetPort),
    protocol: port.protocol ?? 'TCP',
  }));
  return {
    addresses: pods.filter((pod) => podReady(cluster, pod)).map(entry),
    notReady: pods.filter((pod) => !podReady(cluster, pod)).map(entry),
    ports: ports.filter((port) => Number.isFinite(port.port)),
  };
}

export function endpointsJson(cluster: Cluster, service: ServiceObject): JsonObject {
  const view = endpointsOf(cluster, service);
  const address = (a: { ip: string; pod: string; node: string }) => ({
    ip: a.ip,
    nodeName: a.node,
    targetRef: { kind: 'Pod', name: a.pod, namespace: cluster.namespace, uid: seededUuid(`pod:${a.pod}`) },
  });
  const subset: JsonObject = { ports: view.ports };
  if (view.addresses.length) subset.addresses = view.addresses.map(address);
  if (view.notReady.length) subset.notReadyAddresses = view.notReady.map(address);
  const json: JsonObject = {
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: {
      creationTimestamp: service.metadata.creationTimestamp,
      labels: service.metadata.labels ?? {},
      name: service.metadata.name,
      namespace: cluster.namespace,
    },
  };
  if (view.addresses.length || view.notReady.length) json.subsets = [subset];
  return json;
}

export function nodeJson(cluster: Cluster, node: NodeRecord): JsonObject {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { creationTimestamp: isoTime(cluster.deployedAt - 3700), labels: node.labels, name: node.name },
    spec: node.controlPlane
      ? {
          podCIDR: '10.244.0.0/24',
          taints: [{ effect: 'NoSchedule', key: 'node-role.kubernetes.io/control-plane' }],
        }
      : { podCIDR: '10.244.1.0/24' },
    status: {
      addresses: [
        { address: node.ip, type: 'InternalIP' },
        { address: node.name, type: 'Hostname' },
      ],
      allocatable: { cpu: '8', 'ephemeral-storage': '102626232Ki', memory: '16318976Ki', pods: '110' },
      capacity: { cpu: '8', 'ephemeral-storage': '102626232Ki', memory: '16318976Ki', pods: '110' },
      conditions: [
        {
          message: 'kubelet has sufficient memory available',
          reason: 'KubeletHasSufficientMemory',
          status: 'False',
          type: 'MemoryPressure',
        },
        {
          message: 'kubelet has no disk pressure',
          reason: 'KubeletHasNoDiskPressure',
          status: 'False',
          type: 'DiskPressure',
        },
        {
          message: 'kubelet has sufficient PID available',
          reason: 'KubeletHasSufficientPID',
          status: 'False',
          type: 'PIDPressure',
        },
        { message: 'kubelet is posting ready status', reason: 'KubeletReady', status: 'True', type: 'Ready' },
      ],
      nodeInfo: {
        architecture: 'amd64',
        containerRuntimeVersion: 'containerd://1.7.15',
        kernelVersion: '5.15.0-1057-azure',
        kubeProxyVersion: 'v1.30.0',
        kubeletVersion: 'v1.30.0',
        operatingSystem: 'linux',
        osImage: 'Debian GNU/Linux 12 (bookworm)',
      },
    },
  };
}

export const NAMESPACES = [
  'default',
  'kube-node-lease',
  'kube-public',
  'kube-system',
  'local-path-storage',
  'observe',
  'openebs',
];

export function namespaceNames(cluster: Cluster): string[] {
  return [...NAMESPACES, cluster.namespace].sort();
}
