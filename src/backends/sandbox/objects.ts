/**
 * The Kubernetes objects the sandbox stores, as the JSON kubectl would show (so `-o json`,
 * `-o yaml`, jsonpath and every kind of patch work on the same shape). The types name only
 * the fields the sandbox reads; the objects may carry more.
 */
import type { JsonObject } from '../../queue/types.ts';
import type { AppSpec, ComponentSpec } from './apps.ts';
import { isoTime } from './clock.ts';
import { seededInt, seededUuid } from './hash.ts';

export interface ContainerPort {
  containerPort: number;
  protocol?: string;
  name?: string;
}

export interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: { name: string; value?: string }[];
  ports?: ContainerPort[];
  [key: string]: unknown;
}

export interface Metadata {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  uid: string;
  creationTimestamp: string;
  generation?: number;
  resourceVersion?: string;
  [key: string]: unknown;
}

export interface DeploymentObject {
  apiVersion: 'apps/v1';
  kind: 'Deployment';
  metadata: Metadata;
  spec: {
    replicas: number;
    selector: { matchLabels: Record<string, string> };
    template: {
      metadata: { labels: Record<string, string>; annotations?: Record<string, string> };
      spec: { containers: Container[]; nodeSelector?: Record<string, string>; [key: string]: unknown };
    };
    [key: string]: unknown;
  };
  [key: string]: unknown;
}

export interface ServicePort {
  name?: string;
  port: number;
  targetPort: number | string;
  protocol?: string;
  nodePort?: number;
}

export interface ServiceObject {
  apiVersion: 'v1';
  kind: 'Service';
  metadata: Metadata;
  spec: {
    ports: ServicePort[];
    selector?: Record<string, string>;
    type: string;
    clusterIP: string;
    [key: string]: unknown;
  };
  [key: string]: unknown;
}

export interface ConfigMapObject {
  apiVersion: 'v1';
  kind: 'ConfigMap';
  metadata: Metadata;
  data: Record<string, string>;
}

export interface SecretObject {
  apiVersion: 'v1';
  kind: 'Secret';
  metadata: Metadata;
  type: string;
  data: Record<string, string>;
}

export function asJson(value: unknown): JsonObject {
  return value as JsonObject;
}

export function metadata(
  seed: string,
  name: string,
  namespace: string | undefined,
  created: number,
): Metadata {
  return {
    name,
    ...(namespace ? { namespace } : {}),
    uid: seededUuid(`${seed}:${namespace}:${name}`),
    creationTimestamp: isoTime(created),
    resourceVersion: String(seededInt(`${seed}:${name}:rv`, 1000, 99999)),
  };
}

function containerFor(component: ComponentSpec): Container {
  const container: Container = { name: component.containerName, image: component.image };
  if (component.command) container.command = [...component.command];
  if (component.args) container.args = [...component.args];
  if (component.env) container.env = Object.entries(component.env).map(([name, value]) => ({ name, value }));
  container.ports = component.ports.map((port) => ({
    containerPort: port.port,
    protocol: port.protocol ?? 'TCP',
  }));
  container.imagePullPolicy = 'IfNotPresent';
  container.resources = component.kind.startsWith('go')
    ? { limits: { cpu: '1' }, requests: { cpu: '100m' } }
    : {};
  if (component.volumes) {
    container.volumeMounts = component.volumes.map((volume) => ({
      mountPath: volume.mountPath,
      name: volume.name,
    }));
  }
  return container;
}

function volumesFor(component: ComponentSpec): JsonObject[] {
  return (component.volumes ?? []).map(
    (volume): JsonObject =>
      volume.claim
        ? { name: volume.name, persistentVolumeClaim: { claimName: volume.claim } }
        : { name: volume.name, configMap: { defaultMode: 420, name: volume.configMap ?? volume.name } },
  );
}

function helmAnnotations(app: AppSpec): Record<string, string> | undefined {
  if (app.id !== 'social-network') return undefined;
  return { 'meta.helm.sh/release-name': 'social-network', 'meta.helm.sh/release-namespace': app.namespace };
}

export function buildDeployment(
  seed: string,
  app: AppSpec,
  component: ComponentSpec,
  created: number,
): DeploymentObject {
  const labels = app.labels(component.name);
  const annotations = { 'deployment.kubernetes.io/revision': '1', ...helmAnnotations(app) };
  const meta = {
    ...metadata(seed, component.name, app.namespace, created),
    labels,
    annotations,
    generation: 1,
  };
  if (app.id === 'social-network') meta.labels = { ...labels, 'app.kubernetes.io/managed-by': 'Helm' };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta,
    spec: {
      progressDeadlineSeconds: 600,
      replicas: 1,
      revisionHistoryLimit: 10,
      selector: { matchLabels: app.selector(component.name) },
      strategy: { rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' }, type: 'RollingUpdate' },
      template: {
        metadata: { labels: { ...labels } },
        spec: {
          containers: [containerFor(component)],
          dnsPolicy: 'ClusterFirst',
          restartPolicy: 'Always',
          schedulerName: 'default-scheduler',
          terminationGracePeriodSeconds: 30,
          ...(component.volumes ? { volumes: volumesFor(component) } : {}),
        },
      },
    },
  };
}

export function clusterIpFor(seed: string, name: string): string {
  return `10.96.${seededInt(`${seed}:${name}:ip3`, 0, 255)}.${seededInt(`${seed}:${name}:ip4`, 2, 254)}`;
}

export function buildService(
  seed: string,
  app: AppSpec,
  component: ComponentSpec,
  created: number,
): ServiceObject {
  const clusterIP = clusterIpFor(seed, component.name);
  const annotations = helmAnnotations(app);
  const labels =
    app.id === 'social-network' ? { 'app.kubernetes.io/managed-by': 'Helm' } : app.labels(component.name);
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      ...metadata(seed, component.name, app.namespace, created),
      labels,
      ...(annotations ? { annotations } : {}),
    },
    spec: {
      clusterIP,
      clusterIPs: [clusterIP],
      internalTrafficPolicy: 'Cluster',
      ipFamilies: ['IPv4'],
      ipFamilyPolicy: 'SingleStack',
      ports: component.ports.map((port) => ({
        name: port.name,
        port: port.port,
        protocol: port.protocol ?? 'TCP',
        targetPort: port.port,
      })),
      selector: app.selector(component.name),
      sessionAffinity: 'None',
      type: 'ClusterIP',
    },
  };
}

export function buildConfigMap(
  seed: string,
  namespace: string,
  name: string,
  data: Record<string, string>,
  created: number,
): ConfigMapObject {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: metadata(seed, name, namespace, created), data };
}

export function buildSecret(
  seed: string,
  namespace: string,
  name: string,
  type: string,
  data: Record<string, string>,
  created: number,
): SecretObject {
  const encoded = Object.fromEntries(
    Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
  );
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: metadata(seed, name, namespace, created),
    type,
    data: encoded,
  };
}
