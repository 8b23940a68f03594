/** `kubectl describe` for pods, deployments, services, endpoints, nodes, configmaps (prefix match like kubectl). */

import { humanDuration, rfc1123 } from './clock.ts';
import { type Cluster, NODES, templateHash } from './cluster.ts';
import { currentEvents } from './events.ts';
import { table } from './format.ts';
import { hexId } from './hash.ts';
import { type KubectlArgs, type ResourceKind, resourceTargets } from './kubectl-args.ts';
import { namespaceOf } from './kubectl-get.ts';
import type { DeploymentObject, ServiceObject } from './objects.ts';
import { type CommandResult, fail, type ShellContext } from './shell.ts';
import { appPodView, deploymentStatus, endpointsOf, type PodView, systemPodViews } from './views.ts';

function field(label: string, value: string, width = 16): string {
  return `${`${label}:`.padEnd(width)}${value}`;
}

function labelLines(
  label: string,
  labels: Record<string, string> | undefined,
  width: number,
  sep = '=',
): string[] {
  const entries = Object.entries(labels ?? {});
  if (entries.length === 0) return [field(label, '<none>', width)];
  return entries.map(([k, v], i) =>
    i === 0 ? field(label, `${k}${sep}${v}`, width) : `${' '.repeat(width)}${k}${sep}${v}`,
  );
}

function eventsBlock(cluster: Cluster, kind: string, name: string): string[] {
  const events = currentEvents(cluster).filter((e) => e.kind === kind && e.name === name);
  if (events.length === 0) return ['Events:            <none>'];
  const now = cluster.now();
  const rows = events.map((e) => {
    const ageText =
      e.count > 1
        ? `${humanDuration(now - e.last)} (x${e.count} over ${humanDuration(now - e.first)})`
        : humanDuration(now - e.first);
    return [e.type, e.reason, ageText, e.source, e.message];
  });
  const body = table([
    ['Type', 'Reason', 'Age', 'From', 'Message'],
    ['----', '------', '----', '----', '-------'],
    ...rows,
  ]);
  return [
    'Events:',
    ...body
      .trimEnd()
      .split('\n')
      .map((line) => `  ${line}`),
  ];
}

function containerLines(cluster: Cluster, view: PodView): string[] {
  const lines: string[] = [];
  for (const c of view.containers) {
    lines.push(`  ${c.name}:`);
    if (view.node)
      lines.push(`    Container ID:  containerd://${hexId(`${view.name}:${c.name}:${view.restarts}`, 64)}`);
    lines.push(`    Image:         ${c.image}`);
    if (view.node) lines.push(`    Image ID:      ${c.image.split(':')[0]}@sha256:${hexId(c.image, 64)}`);
    const ports = c.ports ?? [];
    lines.push(
      `    Port${ports.length > 1 ? 's' : ''}:          ${ports.map((p) => `${p.containerPort}/${p.protocol ?? 'TCP'}`).join(', ') || '<none>'}`,
    );
    lines.push(
      `    Host Port${ports.length > 1 ? 's' : ''}:     ${ports.map((p) => `0/${p.protocol ?? 'TCP'}`).join(', ') || '<none>'}`,
    );
    if (c.command?.length) lines.push('    Command:', ...c.command.map((x) => `      ${x}`));
    if (c.args?.length) lines.push('    Args:', ...c.args.map((x) => `      ${x}`));
    if (!view.node) lines.push('    State:          Waiting', '      Reason:       ContainerCreating');
    else if (view.crash) {
      const finished = view.lastRestart ?? cluster.now();
      lines.push(
        '    State:          Waiting',
        '      Reason:       CrashLoopBackOff',
        '    Last State:     Terminated',
        '      Reason:       Error',
        '      Exit Code:    2',
        `      Started:      ${rfc1123(finished - 1)}`,
        `      Finished:     ${rfc1123(finished)}`,
      );
    } else
      lines.push(
        '    State:          Running',
        `      Started:      ${rfc1123(view.lastRestart ?? view.createdAt + 1)}`,
      );
    lines.push(
      `    Ready:          ${view.ready ? 'True' : 'False'}`,
      `    Restart Count:  ${view.restarts}`,
    );
    const limits =
      (c.resources as { limits?: Record<string, string>; requests?: Record<string, string> } | undefined) ??
      {};
    if (limits.limits)
      lines.push('    Limits:', ...Object.entries(limits.limits).map(([k, v]) => `      ${k}:  ${v}`));
    if (limits.requests)
      lines.push('    Requests:', ...Object.entries(limits.requests).map(([k, v]) => `      ${k}:  ${v}`));
    lines.push(c.env?.length ? '    Environment:' : '    Environment:    <none>');
    for (const e of c.env ?? []) lines.push(`      ${e.name}:  ${e.value ?? ''}`);
    lines.push('    Mounts:');
    const mounts = (c.volumeMounts as { mountPath: string; name: string }[] | undefined) ?? [];
    for (const m of mounts) lines.push(`      ${m.mountPath} from ${m.name} (rw)`);
    lines.push(
      `      /var/run/secrets/kubernetes.io/serviceaccount from kube-api-access-${hexId(view.name, 5).replace(/[0-9]/g, 'x')} (ro)`,
    );
  }
  return lines;
}

function describePod(cluster: Cluster, view: PodView): string {
  const node = NODES.find((n) => n.name === view.node);
  const lines = [
    field('Name', view.name, 18),
    field('Namespace', view.namespace, 18),
    field('Priority', '0', 18),
    field('Service Account', 'default', 18),
    field('Node', node ? `${node.name}/${node.ip}` : '<none>', 18),
    ...(view.node ? [field('Start Time', rfc1123(view.createdAt), 18)] : []),
    ...labelLines('Labels', view.labels, 18),
    field('Annotations', '<none>', 18),
    field('Status', view.phase, 18),
    field('IP', view.ip, 18),
    'IPs:',
    ...(view.ip ? [`  IP:           ${view.ip}`] : []),
    ...(view.owner ? [field('Controlled By', `ReplicaSet/${view.owner}`, 16)] : []),
    'Containers:',
    ...containerLines(cluster, view),
    'Conditions:',
    '  Type                        Status',
    ...(view.node
      ? [
          'PodReadyToStartContainers   True ',
          'Initialized                 True ',
          `Ready                       ${view.ready ? 'True' : 'False'} `,
          `ContainersReady             ${view.ready ? 'True' : 'False'} `,
          'PodScheduled                True ',
        ]
      : ['PodScheduled                False ']
    ).map((l) => `  ${l}`),
    'Volumes:',
    '  kube-api-access:',
    '    Type:                    Projected (a volume that contains injected data from multiple sources)',
    field('QoS Class', 'Burstable', 29),
    ...labelLines('Node-Selectors', view.nodeSelector, 29),
    field('Tolerations', 'node.kubernetes.io/not-ready:NoExecute op=Exists for 300s', 29),
    `${' '.repeat(29)}node.kubernetes.io/unreachable:NoExecute op=Exists for 300s`,
    ...eventsBlock(cluster, 'Pod', view.name),
  ];
  return `${lines.join('\n')}\n`;
}

function describeDeployment(cluster: Cluster, d: DeploymentObject): string {
  const status = deploymentStatus(cluster, d);
  const spec = d.spec.template.spec;
  const view: PodView = {
    name: d.metadata.name,
    namespace: cluster.namespace,
    phase: 'Running',
    ready: true,
    status: '',
    restarts: 0,
    lastRestart: null,
    createdAt: 0,
    ip: '',
    node: null,
    labels: {},
    containers: spec.containers,
    crash: null,
    owner: null,
    nodeSelector: {},
  };
  const containers = containerLines(cluster, view).filter(
    (l) =>
      !/Container ID|Image ID|State|Ready:|Restart Count|Started|Reason|Last State|Exit Code|Finished|serviceaccount/.test(
        l,
      ),
  );
  const rs = `${d.metadata.name}-${templateHash(d)}`;
  const unavailable = status.replicas - status.available;
  const lines = [
    field('Name', d.metadata.name, 24),
    field('Namespace', cluster.namespace, 24),
    field('CreationTimestamp', rfc1123(Date.parse(d.metadata.creationTimestamp) / 1000), 24),
    ...labelLines('Labels', d.metadata.labels, 24),
    ...labelLines('Annotations', d.metadata.annotations, 24, ': '),
    field(
      'Selector',
      Object.entries(d.spec.selector.matchLabels)
        .map(([k, v]) => `${k}=${v}`)
        .join(','),
      24,
    ),
    field(
      'Replicas',
      `${d.spec.replicas} desired | ${status.updated} updated | ${status.replicas} total | ${status.available} available | ${unavailable} unavailable`,
      24,
    ),
    field('StrategyType', 'RollingUpdate', 24),
    field('MinReadySeconds', '0', 24),
    field('RollingUpdateStrategy', '25% max unavailable, 25% max surge', 24),
    'Pod Template:',
    ...labelLines('  Labels', d.spec.template.metadata.labels, 16),
    ...(d.spec.template.metadata.annotations
      ? labelLines('  Annotations', d.spec.template.metadata.annotations, 16, ': ')
      : []),
    '  Containers:',
    ...containers.map((l) => `  ${l}`),
    ...labelLines('  Node-Selectors', spec.nodeSelector, 18),
    field('  Tolerations', '<none>', 18),
    'Conditions:',
    '  Type           Status  Reason',
    '  ----           ------  ------',
    `  Available      ${status.available >= d.spec.replicas ? 'True    MinimumReplicasAvailable' : 'False   MinimumReplicasUnavailable'}`,
    '  Progressing    True    NewReplicaSetAvailable',
    field('OldReplicaSets', '<none>', 16),
    field('NewReplicaSet', `${rs} (${status.replicas}/${d.spec.replicas} replicas created)`, 16),
    ...eventsBlock(cluster, 'Deployment', d.metadata.name),
  ];
  return `${lines.join('\n')}\n`;
}

function describeService(cluster: Cluster, s: ServiceObject): string {
  const endpoints = endpointsOf(cluster, s);
  const lines = [
    field('Name', s.metadata.name, 19),
    field('Namespace', cluster.namespace, 19),
    ...labelLines('Labels', s.metadata.labels, 19),
    ...labelLines('Annotations', s.metadata.annotations, 19, ': '),
    field(
      'Selector',
      Object.entries(s.spec.selector ?? {})
        .map(([k, v]) => `${k}=${v}`)
        .join(',') || '<none>',
      19,
    ),
    field('Type', s.spec.type, 19),
    field('IP Family Policy', 'SingleStack', 19),
    field('IP Families', 'IPv4', 19),
    field('IP', s.spec.clusterIP, 19),
    field('IPs', s.spec.clusterIP, 19),
  ];
  s.spec.ports.forEach((p, i) => {
    const ep = endpoints.ports[i];
    const addresses = endpoints.addresses.map((a) => `${a.ip}:${ep?.port ?? p.targetPort}`);
    lines.push(field('Port', `${p.name ?? '<unset>'}  ${p.port}/${p.protocol ?? 'TCP'}`, 19));
    lines.push(field('TargetPort', `${p.targetPort}/${p.protocol ?? 'TCP'}`, 19));
    lines.push(field('Endpoints', addresses.join(',') || '<none>', 19));
  });
  lines.push(
    field('Session Affinity', 'None', 19),
    'Internal Traffic Policy:  Cluster',
    ...eventsBlock(cluster, 'Service', s.metadata.name),
  );
  return `${lines.join('\n')}\n`;
}

function describeNode(cluster: Cluster, name: string): string {
  const node = NODES.find((n) => n.name === name)!;
  const pods = [...systemPodViews(cluster), ...cluster.pods.map((p) => appPodView(cluster, p))].filter(
    (p) => p.node === name,
  );
  const lines = [
    field('Name', node.name, 19),
    field('Roles', node.controlPlane ? 'control-plane' : '<none>', 19),
    ...labelLines('Labels', node.labels, 19),
    field('CreationTimestamp', rfc1123(cluster.deployedAt - 3700), 19),
    field('Taints', node.controlPlane ? 'node-role.kubernetes.io/control-plane:NoSchedule' : '<none>', 19),
    field('Unschedulable', 'false', 19),
    'Conditions:',
    '  Type             Status  Reason                       Message',
    '  ----             ------  ------                       -------',
    '  MemoryPressure   False   KubeletHasSufficientMemory   kubelet has sufficient memory available',
    '  DiskPressure     False   KubeletHasNoDiskPressure     kubelet has no disk pressure',
    '  PIDPressure      False   KubeletHasSufficientPID      kubelet has sufficient PID available',
    '  Ready            True    KubeletReady                 kubelet is posting ready status',
    'Addresses:',
    `  InternalIP:  ${node.ip}`,
    `  Hostname:    ${node.name}`,
    'Capacity:',
    '  cpu:                8',
    '  memory:             16318976Ki',
    '  pods:               110',
    'System Info:',
    '  Kernel Version:             5.15.0-1057-azure',
    '  OS Image:                   Debian GNU/Linux 12 (bookworm)',
    '  Container Runtime Version:  containerd://1.7.15',
    '  Kubelet Version:            v1.30.0',
    `Non-terminated Pods:          (${pods.length} in total)`,
    ...table([
      ['Namespace', 'Name', 'Age'],
      ['---------', '----', '---'],
      ...pods.map((p) => [p.namespace, p.name, humanDuration(cluster.now() - p.createdAt)]),
    ])
      .trimEnd()
      .split('\n')
      .map((l) => `  ${l}`),
    'Events:                       <none>',
  ];
  return `${lines.join('\n')}\n`;
}

function describeConfigMap(cluster: Cluster, name: string): string {
  const cm = cluster.configmaps.get(name)!;
  const lines = [
    field('Name', name, 14),
    field('Namespace', cluster.namespace, 14),
    field('Labels', '<none>', 14),
    field('Annotations', '<none>', 14),
    '',
    'Data',
    '====',
  ];
  for (const [key, value] of Object.entries(cm.data)) lines.push(`${key}:`, '----', value, '');
  lines.push('', 'BinaryData', '====', '', 'Events:  <none>');
  return `${lines.join('\n')}\n`;
}

function candidates(
  cluster: Cluster,
  kind: ResourceKind,
  namespace: string,
): { name: string; render: () => string }[] {
  const inApp = namespace === cluster.namespace;
  switch (kind) {
    case 'pods': {
      const views = inApp
        ? cluster.pods.map((p) => appPodView(cluster, p))
        : systemPodViews(cluster).filter((v) => v.namespace === namespace);
      return views.map((v) => ({ name: v.name, render: () => describePod(cluster, v) }));
    }
    case 'deployments':
      return inApp
        ? [...cluster.deployments.values()].map((d) => ({
            name: d.metadata.name,
            render: () => describeDeployment(cluster, d),
          }))
        : [];
    case 'services':
    case 'endpoints':
      return inApp
        ? [...cluster.services.values()].map((s) => ({
            name: s.metadata.name,
            render: () => describeService(cluster, s),
          }))
        : [];
    case 'nodes':
      return NODES.map((n) => ({ name: n.name, render: () => describeNode(cluster, n.name) }));
    case 'configmaps':
      return inApp
        ? [...cluster.configmaps.keys()].map((n) => ({
            name: n,
            render: () => describeConfigMap(cluster, n),
          }))
        : [];
    default:
      return [];
  }
}

export function kubectlDescribe(args: KubectlArgs, ctx: ShellContext): CommandResult {
  const words = args.positional.slice(1);
  if (words.length === 0)
    return fail(
      'You must specify the type of resource to describe. Use "kubectl api-resources" for a complete list of supported resources.\n',
    );
  const targets = resourceTargets(words);
  if (targets.unknown !== undefined)
    return fail(`error: the server doesn't have a resource type "${targets.unknown}"\n`);
  const namespace = namespaceOf(args);
  const outputs: string[] = [];
  let stderr = '';
  const names = targets.names.length ? targets.names : [''];
  names.forEach((name, i) => {
    const kind = words[0]!.includes('/') ? targets.kinds[i]! : targets.kinds[0]!;
    const all = candidates(ctx.cluster, kind, namespace);
    const exact = all.filter((c) => c.name === name);
    const matched = name === '' ? all : exact.length ? exact : all.filter((c) => c.name.startsWith(name));
    if (matched.length === 0) {
      stderr += name
        ? `Error from server (NotFound): ${kind === 'deployments' ? 'deployments.apps' : kind} "${name}" not found\n`
        : '';
      if (!name) stderr += `No resources found in ${namespace} namespace.\n`;
    }
    outputs.push(...matched.map((c) => c.render()));
  });
  if (outputs.length === 0) return { stdout: '', stderr, code: stderr.startsWith('No resources') ? 0 : 1 };
  return { stdout: outputs.join('\n\n'), stderr, code: stderr ? 1 : 0 };
}
