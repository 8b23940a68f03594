/**
 * Every resource kind as kubectl lists it: its JSON and its table row (plain and wide),
 * for the namespace asked. The app namespace holds the model's objects; kube-system and
 * local-path-storage hold kind's own healthy pods; other namespaces are empty.
 */
import type { JsonObject } from '../../queue/types.ts';
import { humanDuration, isoTime } from './clock.ts';
import { type Cluster, NODES, podReady, templateHash } from './cluster.ts';
import { currentEvents } from './events.ts';
import type { ResourceKind } from './kubectl-args.ts';
import { asJson, type ServiceObject } from './objects.ts';
import {
  allPodViews,
  deploymentJson,
  deploymentStatus,
  endpointsJson,
  endpointsOf,
  namespaceNames,
  nodeJson,
  type PodView,
  podJson,
} from './views.ts';

export interface ResourceItem {
  name: string;
  namespace: string | null;
  labels: Record<string, string>;
  json: JsonObject;
  row: string[];
  wide: string[];
}

export interface KindTable {
  header: string[];
  wideHeader: string[];
  namespaced: boolean;
}

export const TABLES: Record<ResourceKind, KindTable> = {
  pods: {
    header: ['NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE'],
    wideHeader: ['IP', 'NODE', 'NOMINATED NODE', 'READINESS GATES'],
    namespaced: true,
  },
  deployments: {
    header: ['NAME', 'READY', 'UP-TO-DATE', 'AVAILABLE', 'AGE'],
    wideHeader: ['CONTAINERS', 'IMAGES', 'SELECTOR'],
    namespaced: true,
  },
  replicasets: {
    header: ['NAME', 'DESIRED', 'CURRENT', 'READY', 'AGE'],
    wideHeader: ['CONTAINERS', 'IMAGES', 'SELECTOR'],
    namespaced: true,
  },
  services: {
    header: ['NAME', 'TYPE', 'CLUSTER-IP', 'EXTERNAL-IP', 'PORT(S)', 'AGE'],
    wideHeader: ['SELECTOR'],
    namespaced: true,
  },
  endpoints: { header: ['NAME', 'ENDPOINTS', 'AGE'], wideHeader: [], namespaced: true },
  configmaps: { header: ['NAME', 'DATA', 'AGE'], wideHeader: [], namespaced: true },
  secrets: { header: ['NAME', 'TYPE', 'DATA', 'AGE'], wideHeader: [], namespaced: true },
  events: { header: ['LAST SEEN', 'TYPE', 'REASON', 'OBJECT', 'MESSAGE'], wideHeader: [], namespaced: true },
  nodes: {
    header: ['NAME', 'STATUS', 'ROLES', 'AGE', 'VERSION'],
    wideHeader: ['INTERNAL-IP', 'EXTERNAL-IP', 'OS-IMAGE', 'KERNEL-VERSION', 'CONTAINER-RUNTIME'],
    namespaced: false,
  },
  namespaces: { header: ['NAME', 'STATUS', 'AGE'], wideHeader: [], namespaced: false },
  persistentvolumeclaims: {
    header: [
      'NAME',
      'STATUS',
      'VOLUME',
      'CAPACITY',
      'ACCESS MODES',
      'STORAGECLASS',
      'VOLUMEATTRIBUTESCLASS',
      'AGE',
    ],
    wideHeader: ['VOLUMEMODE'],
    namespaced: true,
  },
  statefulsets: { header: ['NAME', 'READY', 'AGE'], wideHeader: [], namespaced: true },
  daemonsets: {
    header: ['NAME', 'DESIRED', 'CURRENT', 'READY', 'UP-TO-DATE', 'AVAILABLE', 'NODE SELECTOR', 'AGE'],
    wideHeader: [],
    namespaced: true,
  },
  jobs: { header: ['NAME', 'STATUS', 'COMPLETIONS', 'DURATION', 'AGE'], wideHeader: [], namespaced: true },
  ingresses: {
    header: ['NAME', 'CLASS', 'HOSTS', 'ADDRESS', 'PORTS', 'AGE'],
    wideHeader: [],
    namespaced: true,
  },
};

function age(cluster: Cluster, since: number): string {
  return humanDuration(cluster.now() - since);
}

function created(meta: { creationTimestamp: string }): number {
  return Date.parse(meta.creationTimestamp) / 1000;
}

function labelString(labels: Record<string, string> | undefined): string {
  const entries = Object.entries(labels ?? {});
  return entries.length ? entries.map(([k, v]) => `${k}=${v}`).join(',') : '<none>';
}

function restartsCell(cluster: Cluster, view: PodView): string {
  if (view.restarts === 0 || view.lastRestart === null) return String(view.restarts);
  return `${view.restarts} (${humanDuration(cluster.now() - view.lastRestart)} ago)`;
}

function podItem(cluster: Cluster, view: PodView): ResourceItem {
  const containers = view.containers.length;
  return {
    name: view.name,
    namespace: view.namespace,
    labels: view.labels,
    json: podJson(cluster, view),
    row: [
      view.name,
      `${view.ready ? containers : 0}/${containers}`,
      view.status,
      restartsCell(cluster, view),
      age(cluster, view.createdAt),
    ],
    wide: [view.ip || '<none>', view.node ?? '<none>', '<none>', '<none>'],
  };
}

function servicePortsCell(service: ServiceObject): string {
  return (
    service.spec.ports
      .map((p) => `${p.port}${p.nodePort ? `:${p.nodePort}` : ''}/${p.protocol ?? 'TCP'}`)
      .join(',') || '<none>'
  );
}

function endpointsCell(cluster: Cluster, service: ServiceObject): string {
  const view = endpointsOf(cluster, service);
  const all = view.addresses.flatMap((a) => view.ports.map((p) => `${a.ip}:${p.port}`));
  if (all.length === 0) return '<none>';
  return all.length > 3 ? `${all.slice(0, 3).join(',')} + ${all.length - 3} more...` : all.join(',');
}

function appItems(cluster: Cluster, kind: ResourceKind): ResourceItem[] {
  const ns = cluster.namespace;
  switch (kind) {
    case 'deployments':
      return [...cluster.deployments.values()].map((d) => {
        const status = deploymentStatus(cluster, d);
        const c = d.spec.template.spec.containers;
        return {
          name: d.metadata.name,
          namespace: ns,
          labels: d.metadata.labels ?? {},
          json: deploymentJson(cluster, d),
          row: [
            d.metadata.name,
            `${status.ready}/${d.spec.replicas}`,
            String(status.updated),
            String(status.available),
            age(cluster, created(d.metadata)),
          ],
          wide: [
            c.map((x) => x.name).join(','),
            c.map((x) => x.image).join(','),
            labelString(d.spec.selector.matchLabels),
          ],
        };
      });
    case 'replicasets':
      return [...cluster.deployments.values()].map((d) => {
        const hash = templateHash(d);
        const name = `${d.metadata.name}-${hash}`;
        const pods = cluster.pods.filter((p) => p.deployment === d.metadata.name);
        const ready = pods.filter((p) => podReady(cluster, p)).length;
        const c = d.spec.template.spec.containers;
        const labels = { ...d.spec.template.metadata.labels, 'pod-template-hash': hash };
        const json = asJson({
          apiVersion: 'apps/v1',
          kind: 'ReplicaSet',
          metadata: { name, namespace: ns, labels, creationTimestamp: d.metadata.creationTimestamp },
          spec: {
            replicas: d.spec.replicas,
            selector: { matchLabels: { ...d.spec.selector.matchLabels, 'pod-template-hash': hash } },
            template: d.spec.template,
          },
          status: { replicas: pods.length, readyReplicas: ready, availableReplicas: ready },
        });
        return {
          name,
          namespace: ns,
          labels,
          json,
          row: [
            name,
            String(d.spec.replicas),
            String(pods.length),
            String(ready),
            age(cluster, created(d.metadata)),
          ],
          wide: [
            c.map((x) => x.name).join(','),
            c.map((x) => x.image).join(','),
            labelString({ ...d.spec.selector.matchLabels, 'pod-template-hash': hash }),
          ],
        };
      });
    case 'services':
      return [...cluster.services.values()].map((s) => ({
        name: s.metadata.name,
        namespace: ns,
        labels: s.metadata.labels ?? {},
        json: asJson(s),
        row: [
          s.metadata.name,
          s.spec.type,
          s.spec.clusterIP,
          '<none>',
          servicePortsCell(s),
          age(cluster, created(s.metadata)),
        ],
        wide: [labelString(s.spec.selector)],
      }));
    case 'endpoints':
      return [...cluster.services.values()].map((s) => ({
        name: s.metadata.name,
        namespace: ns,
        labels: s.metadata.labels ?? {},
        json: endpointsJson(cluster, s),
        row: [s.metadata.name, endpointsCell(cluster, s), age(cluster, created(s.metadata))],
        wide: [],
      }));
    case 'configmaps':
      return [...cluster.configmaps.values()].map((c) => ({
        name: c.metadata.name,
        namespace: ns,
        labels: c.metadata.labels ?? {},
        json: asJson(c),
        row: [c.metadata.name, String(Object.keys(c.data).length), age(cluster, created(c.metadata))],
        wide: [],
      }));
    case 'secrets':
      return [...cluster.secrets.values()].map((s) => ({
        name: s.metadata.name,
        namespace: ns,
        labels: s.metadata.labels ?? {},
        json: asJson(s),
        row: [s.metadata.name, s.type, String(Object.keys(s.data).length), age(cluster, created(s.metadata))],
        wide: [],
      }));
    case 'events':
      return currentEvents(cluster).map((e, i) => {
        const object = `${e.kind.toLowerCase()}/${e.name}`;
        const name = `${e.name}.${(0x17a0000000000000 + i * 0x1000 + e.first).toString(16).slice(0, 16)}`;
        const json = asJson({
          apiVersion: 'v1',
          kind: 'Event',
          count: e.count,
          firstTimestamp: isoTime(e.first),
          lastTimestamp: isoTime(e.last),
          involvedObject: { kind: e.kind, name: e.name, namespace: ns },
          message: e.message,
          metadata: { name, namespace: ns, creationTimestamp: isoTime(e.first) },
          reason: e.reason,
          source: { component: e.source },
          type: e.type,
        });
        return {
          name,
          namespace: ns,
          labels: {},
          json,
          row: [age(cluster, e.last), e.type, e.reason, object, e.message],
          wide: [],
        };
      });
    case 'persistentvolumeclaims':
      return cluster.app.components.flatMap((c) =>
        (c.volumes ?? [])
          .filter((v) => v.claim)
          .map((v) => {
            const volume = `pvc-${v.claim!.length.toString(16)}${(v.claim ?? '').replace(/[^a-z]/g, '').slice(0, 4)}-7c1e-4b2a-9f3d-${(c.name.length * 1234567).toString(16).padStart(12, '0').slice(0, 12)}`;
            const json = asJson({
              apiVersion: 'v1',
              kind: 'PersistentVolumeClaim',
              metadata: { name: v.claim, namespace: ns },
              spec: {
                accessModes: ['ReadWriteOnce'],
                resources: { requests: { storage: '1Gi' } },
                storageClassName: 'openebs-hostpath',
                volumeName: volume,
              },
              status: { phase: 'Bound' },
            });
            return {
              name: v.claim!,
              namespace: ns,
              labels: {},
              json,
              row: [
                v.claim!,
                'Bound',
                volume,
                '1Gi',
                'RWO',
                'openebs-hostpath',
                '<unset>',
                age(cluster, cluster.deployedAt),
              ],
              wide: ['Filesystem'],
            };
          }),
      );
    default:
      return [];
  }
}

function clusterScoped(cluster: Cluster, kind: ResourceKind): ResourceItem[] {
  if (kind === 'nodes') {
    return NODES.map((node) => ({
      name: node.name,
      namespace: null,
      labels: node.labels,
      json: nodeJson(cluster, node),
      row: [
        node.name,
        'Ready',
        node.controlPlane ? 'control-plane' : '<none>',
        age(cluster, cluster.deployedAt - 3700),
        'v1.30.0',
      ],
      wide: [node.ip, '<none>', 'Debian GNU/Linux 12 (bookworm)', '5.15.0-1057-azure', 'containerd://1.7.15'],
    }));
  }
  return namespaceNames(cluster).map((name) => {
    const since = name === cluster.namespace ? cluster.deployedAt - 10 : cluster.deployedAt - 3700;
    const json = asJson({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name, labels: { 'kubernetes.io/metadata.name': name }, creationTimestamp: isoTime(since) },
      spec: { finalizers: ['kubernetes'] },
      status: { phase: 'Active' },
    });
    return {
      name,
      namespace: null,
      labels: { 'kubernetes.io/metadata.name': name },
      json,
      row: [name, 'Active', age(cluster, since)],
      wide: [],
    };
  });
}

/** Items of a kind in a namespace (null = all namespaces). */
export function listItems(cluster: Cluster, kind: ResourceKind, namespace: string | null): ResourceItem[] {
  if (!TABLES[kind].namespaced) return clusterScoped(cluster, kind);
  if (kind === 'pods') {
    return allPodViews(cluster)
      .filter((view) => namespace === null || view.namespace === namespace)
      .sort((a, b) => a.namespace.localeCompare(b.namespace) || (a.name < b.name ? -1 : 1))
      .map((view) => podItem(cluster, view));
  }
  if (kind === 'services' && (namespace === null || namespace === 'default')) {
    const kubernetes: ResourceItem = {
      name: 'kubernetes',
      namespace: 'default',
      labels: { component: 'apiserver', provider: 'kubernetes' },
      json: asJson({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'kubernetes', namespace: 'default' },
        spec: {
          clusterIP: '10.96.0.1',
          ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: 6443 }],
          type: 'ClusterIP',
        },
      }),
      row: [
        'kubernetes',
        'ClusterIP',
        '10.96.0.1',
        '<none>',
        '443/TCP',
        age(cluster, cluster.deployedAt - 3700),
      ],
      wide: ['<none>'],
    };
    return [kubernetes, ...(namespace === null ? appItems(cluster, kind) : [])];
  }
  if (namespace !== null && namespace !== cluster.namespace) return [];
  const items = appItems(cluster, kind);
  return kind === 'events' ? items : items.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
