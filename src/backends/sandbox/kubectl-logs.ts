/** `kubectl logs` and `kubectl top`. */
import { type Cluster, type PodRecord, podReady } from './cluster.ts';
import { table } from './format.ts';
import { seededUnit } from './hash.ts';
import { flag, hasFlag, type KubectlArgs } from './kubectl-args.ts';
import { namespaceOf } from './kubectl-get.ts';
import { containerLog } from './logs.ts';
import { type CommandResult, CommandTimeout, fail, ok, type ShellContext } from './shell.ts';
import { appPodView, systemPodViews } from './views.ts';

function selectPods(cluster: Cluster, target: string, selector: string | undefined): PodRecord[] | string {
  if (selector) {
    const [key, value] = selector.split('=');
    return cluster.pods.filter((pod) => appPodView(cluster, pod).labels[key ?? ''] === value);
  }
  const slash = target.indexOf('/');
  if (slash >= 0) {
    const type = target.slice(0, slash);
    const name = target.slice(slash + 1);
    if (/^(deploy|deployment|deployments|rs|replicaset|svc|service)$/.test(type)) {
      if (!cluster.deployments.has(name))
        return `Error from server (NotFound): ${type.startsWith('svc') || type.startsWith('service') ? 'services' : 'deployments.apps'} "${name}" not found\n`;
      const pods = cluster.pods.filter((pod) => pod.deployment === name);
      return pods.length ? pods.slice(0, 1) : 'error: timed out waiting for the condition\n';
    }
    if (!/^(pod|pods|po)$/.test(type))
      return `error: cannot get the logs from ${type}: the server doesn't have a resource type "${type}"\n`;
    return selectPods(cluster, name, undefined);
  }
  const pod = cluster.pods.find((p) => p.name === target);
  return pod ? [pod] : `Error from server (NotFound): pods "${target}" not found\n`;
}

export function kubectlLogs(args: KubectlArgs, ctx: ShellContext): CommandResult {
  if (hasFlag(args, '-f', '--follow')) throw new CommandTimeout();
  const cluster = ctx.cluster;
  const namespace = namespaceOf(args);
  const target = args.positional[1];
  const selector = flag(args, '-l', '--selector');
  if (!target && !selector)
    return fail(
      "error: expected 'logs [-f] [-p] (POD | TYPE/NAME) [-c CONTAINER]'.\nPOD or TYPE/NAME is a required argument for the logs command\nSee 'kubectl logs -h' for help and examples\n",
    );
  if (namespace !== cluster.namespace) {
    const system = systemPodViews(cluster).find((v) => v.name === target && v.namespace === namespace);
    if (system)
      return ok(`I0115 00:00:00.000000       1 server.go:42] ${system.containers[0]?.name} started\n`);
    return fail(`Error from server (NotFound): pods "${(target ?? '').replace(/^pods?\//, '')}" not found\n`);
  }
  const pods = selectPods(cluster, target ?? '', selector);
  if (typeof pods === 'string') return fail(pods);
  if (pods.length === 0) return ok('', `No resources found in ${namespace} namespace.\n`);
  const previous = hasFlag(args, '-p', '--previous');
  const container = flag(args, '-c', '--container');
  const tail = Number.parseInt(flag(args, '--tail') ?? '-1', 10);
  let out = '';
  for (const pod of pods) {
    const view = appPodView(cluster, pod);
    const name = view.containers[0]?.name ?? '';
    if (container && container !== name)
      return fail(`error: container ${container} is not valid for pod ${pod.name}\n`);
    if (!pod.node)
      return fail(
        `Error from server (BadRequest): container "${name}" in pod "${pod.name}" is waiting to start: ContainerCreating\n`,
      );
    if (previous && view.restarts === 0)
      return fail(
        `Error from server (BadRequest): previous terminated container "${name}" in pod "${pod.name}" not found\n`,
      );
    let lines = containerLog(cluster, view);
    if (tail >= 0) lines = tail === 0 ? [] : lines.slice(-tail);
    out += lines.map((line) => `${line}\n`).join('');
  }
  return ok(out);
}

export function kubectlTop(args: KubectlArgs, ctx: ShellContext): CommandResult {
  const cluster = ctx.cluster;
  const what = args.positional[1] ?? '';
  if (/^(nodes?|no)$/.test(what)) {
    return ok(
      table([
        ['NAME', 'CPU(cores)', 'CPU%', 'MEMORY(bytes)', 'MEMORY%'],
        ['kind-control-plane', '187m', '2%', '1264Mi', '7%'],
        [
          'kind-worker',
          `${420 + cluster.pods.length * 9}m`,
          '5%',
          `${2100 + cluster.pods.length * 37}Mi`,
          '13%',
        ],
      ]),
    );
  }
  if (!/^(pods?|po)$/.test(what)) return fail(`error: unknown command "${what}" for "kubectl top"\n`);
  const namespace = namespaceOf(args);
  if (namespace !== cluster.namespace) return ok('', `No resources found in ${namespace} namespace.\n`);
  const rows = cluster.pods
    .filter((pod) => pod.node && podReady(cluster, pod))
    .map((pod) => {
      const u = seededUnit(`${cluster.seed}:top:${pod.name}`);
      return [pod.name, `${1 + Math.floor(u * 30)}m`, `${4 + Math.floor(u * 90)}Mi`];
    });
  if (rows.length === 0) return fail(`error: Metrics not available for pod in namespace ${namespace}\n`);
  return ok(table([['NAME', 'CPU(cores)', 'MEMORY(bytes)'], ...rows]));
}
