import type { Facts } from '../../src/gateway/scripted-diagnose.ts';

// --- Fixtures in kubectl's shapes -------------------------------------------------------------

export const PODS_TABLE = [
  'NAME                       READY   STATUS             RESTARTS      AGE',
  'geo-84fbc958c7-mvkzb       0/1     CrashLoopBackOff   5 (30s ago)   4m12s',
  'profile-8b6dd7c6c-9jqlp    1/1     Running            0             4m12s',
  'rate-7bdc978679-bj5ss      0/1     Pending            0             12s',
].join('\n');

/**
 * `get deployments -o custom-columns=DEPLOYMENT_COLUMNS` as kubectl prints it: maps in Go's
 * `map[k:v]`, `[*]` values comma-joined, `<none>` for a missing field (no ready replica, no node
 * selector).
 */
export const DEPLOYMENTS_COLUMNS_TABLE = [
  'NAME           REPLICAS   READY    LABELS                                                PORTS       NODE-SELECTOR',
  'user-service   1          <none>   map[app:user-service service:user-service]            9090        map[kubernetes.io/hostname:extra-node]',
  'text-service   0          <none>   map[app:text-service service:text-service]            9090        <none>',
  'jaeger         1          1        map[app:jaeger service:jaeger]                        14269,5778  <none>',
].join('\n');

/** `get services -o custom-columns=SERVICE_COLUMNS`; the sandbox spells maps as JSON. */
export const SERVICES_COLUMNS_TABLE = [
  'NAME           SELECTOR                     PORTS        TARGET-PORTS',
  'user-service   {"service":"user-service"}   9090         9999',
  'jaeger         {"service":"jaeger"}         14269,5778   14269,http',
  'headless       <none>                       <none>       <none>',
].join('\n');

export interface PodSpec {
  name: string;
  app: string;
  port?: number;
  state?: Record<string, unknown>;
  ready?: boolean;
  restarts?: number;
  phase?: string;
  unschedulable?: string;
}

export function pod(s: PodSpec) {
  const rs = s.name.split('-').slice(0, -1).join('-');
  const statuses =
    s.phase === 'Pending'
      ? undefined
      : [
          {
            name: `hotel-reserv-${s.app}`,
            ready: s.ready ?? true,
            restartCount: s.restarts ?? 0,
            state: s.state ?? { running: { startedAt: '2025-01-01T00:00:00Z' } },
            image: 'yinfangchen/hotelreservation:latest',
          },
        ];
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: s.name,
      namespace: 'test-ns',
      labels: { 'io.kompose.service': s.app, 'pod-template-hash': rs.split('-').at(-1) },
      ownerReferences: [
        { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: rs, controller: true, blockOwnerDeletion: true },
      ],
    },
    spec: {
      containers: [
        {
          name: `hotel-reserv-${s.app}`,
          image: 'yinfangchen/hotelreservation:latest',
          ports: s.port ? [{ containerPort: s.port, protocol: 'TCP' }] : undefined,
        },
      ],
      ...(s.unschedulable ? { nodeSelector: { 'kubernetes.io/hostname': 'extra-node' } } : {}),
    },
    status: {
      phase: s.phase ?? 'Running',
      conditions: s.unschedulable
        ? [
            {
              type: 'PodScheduled',
              status: 'False',
              reason: 'Unschedulable',
              message: s.unschedulable,
            },
          ]
        : [{ type: 'PodScheduled', status: 'True' }],
      ...(statuses ? { containerStatuses: statuses } : {}),
    },
  };
}

export function deployment(name: string, replicas: number, port?: number) {
  const labels = { 'io.kompose.service': name };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: 'test-ns', labels },
    spec: {
      replicas,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: { containers: [{ name, ports: port ? [{ containerPort: port, protocol: 'TCP' }] : [] }] },
      },
    },
    status: replicas > 0 ? { replicas, readyReplicas: replicas, availableReplicas: replicas } : {},
  };
}

export function service(name: string, port: number, targetPort: number | string) {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: 'test-ns' },
    spec: {
      clusterIP: '10.96.0.12',
      ports: [{ name: String(port), port, protocol: 'TCP', targetPort }],
      selector: { 'io.kompose.service': name },
      type: 'ClusterIP',
    },
  };
}

export const list = (items: unknown[]) =>
  JSON.stringify({ apiVersion: 'v1', items, kind: 'List', metadata: { resourceVersion: '' } }, null, 4);

export const CRASH = {
  waiting: { reason: 'CrashLoopBackOff', message: 'back-off 40s restarting failed container' },
};

export function facts(over: Partial<Facts>): Facts {
  return { pods: [], deployments: [], services: [], logs: new Map(), descriptions: new Map(), ...over };
}

// --- Readers ----------------------------------------------------------------------------------
