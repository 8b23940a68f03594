/**
 * The kubectl commands that change the model: patch (strategic/merge/json), scale, set env,
 * set image, rollout restart/undo/status/history, delete, label. Changes are validated like
 * the API server would (so a malformed fix is rejected, not half-applied) and the
 * controllers then run (`reconcile`), so pods, endpoints and logs follow the new state.
 */

import { isoTime } from './clock.ts';
import { type Cluster, reconcile, removePod, templateHash } from './cluster.ts';
import { table } from './format.ts';
import {
  flag,
  hasFlag,
  KIND_PREFIX,
  type KubectlArgs,
  type ResourceKind,
  resourceTargets,
} from './kubectl-args.ts';
import { namespaceOf } from './kubectl-get.ts';
import type { DeploymentObject, ServiceObject } from './objects.ts';
import { jsonPatch, mergePatch, PatchError } from './patch.ts';
import { type CommandResult, CommandTimeout, fail, ok, type ShellContext } from './shell.ts';
import { deploymentStatus } from './views.ts';

type Obj = Record<string, unknown>;

function history(cluster: Cluster, deployment: string): string[] {
  const existing = cluster.templateHistory.get(deployment);
  if (existing) return existing;
  const list: string[] = [];
  cluster.templateHistory.set(deployment, list);
  return list;
}

function notFound(kind: ResourceKind, name: string): CommandResult {
  const plural = kind === 'deployments' || kind === 'replicasets' ? `${kind}.apps` : kind;
  return fail(`Error from server (NotFound): ${plural} "${name}" not found\n`);
}

/** Stores a new version of a Deployment, keeping the rollout history and generation. */
export function replaceDeployment(cluster: Cluster, next: DeploymentObject): void {
  const name = next.metadata.name;
  const previous = cluster.deployments.get(name);
  if (previous && JSON.stringify(previous.spec.template) !== JSON.stringify(next.spec.template)) {
    history(cluster, name).push(JSON.stringify(previous.spec.template));
    next.metadata.generation = (previous.metadata.generation ?? 1) + 1;
    const revision = history(cluster, name).length + 1;
    next.metadata.annotations = {
      ...next.metadata.annotations,
      'deployment.kubernetes.io/revision': String(revision),
    };
  } else if (previous && previous.spec.replicas !== next.spec.replicas) {
    next.metadata.generation = (previous.metadata.generation ?? 1) + 1;
  }
  cluster.deployments.set(name, next);
  reconcile(cluster);
}

function validDnsPortName(value: string): boolean {
  return (
    value.length <= 15 &&
    /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(value) &&
    /[a-z]/.test(value) &&
    !value.includes('--')
  );
}

function validateDeployment(d: DeploymentObject): string | null {
  const spec = d.spec as Obj | undefined;
  const replicas = spec?.replicas;
  if (typeof replicas !== 'number' || !Number.isInteger(replicas))
    return `spec.replicas: Invalid value: ${JSON.stringify(replicas)}: must be an integer`;
  if (replicas < 0) return `spec.replicas: Invalid value: ${replicas}: must be greater than or equal to 0`;
  const containers = d.spec.template?.spec?.containers;
  if (!Array.isArray(containers) || containers.length === 0)
    return 'spec.template.spec.containers: Required value';
  for (const [i, c] of containers.entries()) {
    if (typeof c?.name !== 'string' || !c.name)
      return `spec.template.spec.containers[${i}].name: Required value`;
    if (typeof c.image !== 'string' || !c.image)
      return `spec.template.spec.containers[${i}].image: Required value`;
  }
  return null;
}

function validateService(s: ServiceObject): string | null {
  const ports = s.spec?.ports;
  if (!Array.isArray(ports) || ports.length === 0) return 'spec.ports: Required value';
  for (const [i, p] of ports.entries()) {
    if (typeof p?.port !== 'number' || p.port < 1 || p.port > 65535)
      return `spec.ports[${i}].port: Invalid value: ${JSON.stringify(p?.port)}: must be between 1 and 65535, inclusive`;
    const target = p.targetPort;
    if (typeof target === 'number' && (target < 1 || target > 65535))
      return `spec.ports[${i}].targetPort: Invalid value: ${target}: must be between 1 and 65535, inclusive`;
    if (typeof target === 'string' && !validDnsPortName(target)) {
      const why = /[a-z]/.test(target)
        ? "must be no more than 15 characters and consist of lower case alphanumeric characters or '-'"
        : 'must contain at least one letter (a-z)';
      return `spec.ports[${i}].targetPort: Invalid value: "${target}": ${why}`;
    }
  }
  return null;
}

function parsePatchBody(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    // YAML flow style (`{spec: {replicas: 1}}`) — kubectl accepts YAML too.
    const quoted = text
      .replace(/([{,]\s*)([A-Za-z_$][\w.$/-]*)\s*:/g, '$1"$2":')
      .replace(/:\s*'([^']*)'/g, ': "$1"');
    return JSON.parse(quoted);
  }
}

const PATCHABLE: Partial<Record<ResourceKind, 'deployments' | 'services' | 'configmaps' | 'secrets'>> = {
  deployments: 'deployments',
  services: 'services',
  configmaps: 'configmaps',
  secrets: 'secrets',
};

function singleTarget(args: KubectlArgs): { kind?: ResourceKind; name?: string; error?: CommandResult } {
  const words = args.positional.slice(1);
  const targets = resourceTargets(words);
  if (targets.unknown !== undefined)
    return { error: fail(`error: the server doesn't have a resource type "${targets.unknown}"\n`) };
  const kind = targets.kinds[0];
  const name = targets.names[0];
  if (!kind || !name) return { error: fail('error: resource(s) were provided, but no name was specified\n') };
  return { kind, name };
}

export function kubectlPatch(args: KubectlArgs, ctx: ShellContext): CommandResult {
  const { kind, name, error } = singleTarget(args);
  if (error) return error;
  const body = flag(args, '-p', '--patch');
  if (body === undefined)
    return fail('error: must specify --patch or --patch-file containing the contents of the patch\n');
  const cluster = ctx.cluster;
  const store = PATCHABLE[kind!];
  if (!store) return fail(`Error from server (NotFound): ${kind} "${name}" not found\n`);
  const current =
    namespaceOf(args) === cluster.namespace
      ? (cluster[store].get(name!) as unknown as Obj | undefined)
      : undefined;
  if (!current) return notFound(kind!, name!);
  let patch: unknown;
  try {
    patch = parsePatchBody(body);
  } catch {
    return fail(`error: unable to parse "${body}": yaml: did not find expected node content\n`);
  }
  const type = (flag(args, '--type') ?? 'strategic').replace(/^['"]|['"]$/g, '');
  let next: Obj;
  try {
    if (type === 'json') next = jsonPatch(current, patch);
    else if (type === 'merge' || type === 'strategic')
      next = mergePatch(current, patch, type === 'strategic');
    else return fail(`error: --type must be one of [json merge strategic], not "${type}"\n`);
  } catch (e) {
    if (e instanceof PatchError) return fail(`The request is invalid: ${e.message}\n`);
    throw e;
  }
  const prefix = `${KIND_PREFIX[kind!]}/${name}`;
  if (JSON.stringify(next) === JSON.stringify(current)) return ok(`${prefix} patched (no change)\n`);
  const invalid =
    store === 'deployments'
      ? validateDeployment(next as unknown as DeploymentObject)
      : store === 'services'
        ? validateService(next as unknown as ServiceObject)
        : null;
  if (invalid) {
    const kindName = {
      deployments: 'Deployment',
      services: 'Service',
      configmaps: 'ConfigMap',
      secrets: 'Secret',
    }[store];
    return fail(`The ${kindName} "${name}" is invalid: ${invalid}\n`);
  }
  if (store === 'deployments') replaceDeployment(cluster, next as unknown as DeploymentObject);
  else {
    (cluster[store] as Map<string, unknown>).set(name!, next);
    reconcile(cluster);
  }
  return ok(`${prefix} patched\n`);
}

function deploymentTargets(args: KubectlArgs, from: number): string[] {
  const words = args.positional.slice(from);
  if (words[0]?.includes('/')) return words.map((w) => w.split('/')[1] ?? '');
  return words.slice(1);
}

function deploymentKindOk(args: KubectlArgs, from: number): string | null {
  const word = args.positional[from] ?? '';
  const type = word.includes('/') ? word.split('/')[0]! : word;
  return /^(deploy|deployment|deployments|deployment\.apps|deployments\.apps)$/.test(type) ? null : type;
}

export function kubectlScale(args: KubectlArgs, ctx: ShellContext): CommandResult {
  const replicasText = flag(args, '--replicas');
  if (replicasText === undefined) return fail('error: required flag(s) "replicas" not set\n');
  const replicas = Number(replicasText);
  if (!Number.isInteger(replicas) || replicas < 0)
    return fail(
      `error: invalid argument "${replicasText}" for "--replicas" flag: strconv.ParseInt: parsing "${replicasText}": invalid syntax\n`,
    );
  const badKind = deploymentKindOk(args, 1);
  if (badKind !== null)
    return badKind
      ? fail(`error: the server doesn't have a resource type "${badKind}"\n`)
      : fail('error: resource(s) were provided, but no name was specified\n');
  const names = deploymentTargets(args, 1);
  if (names.length === 0) return fail('error: resource(s) were provided, but no name was specified\n');
  let out = '';
  for (const name of names) {
    const d = namespaceOf(args) === ctx.cluster.namespace ? ctx.cluster.deployments.get(name) : undefined;
    if (!d)
      return {
        stdout: out,
        stderr: `Error from server (NotFound): deployments.apps "${name}" not found\n`,
        code: 1,
      };
    const before = d.spec.replicas;
    const next = structuredClone(d);
    next.spec.replicas = replicas;
    replaceDeployment(ctx.cluster, next);
    if (before !== replicas) {
      const rs = `${name}-${templateHash(next)}`;
      const message =
        replicas > before
          ? `Scaled up replica set ${rs} to ${replicas} from ${before}`
          : `Scaled down replica set ${rs} to ${replicas} from ${before}`;
      ctx.cluster.recordEvent({
        kind: 'Deployment',
        name,
        type: 'Normal',
        reason: 'ScalingReplicaSet',
        message,
        source: 'deployment-controller',
      });
    }
    out += `deployment.apps/${name} scaled\n`;
  }
  return ok(out);
}

function withDeployment(
  args: KubectlArgs,
  ctx: ShellContext,
  from: number,
  change: (d: DeploymentObject) => string | null,
  verb: string,
): CommandResult {
  const badKind = deploymentKindOk(args, from);
  if (badKind) return fail(`error: the server doesn't have a resource type "${badKind}"\n`);
  const name = deploymentTargets(args, from)[0];
  if (!name) return fail('error: resource(s) were provided, but no name was specified\n');
  const d = namespaceOf(args) === ctx.cluster.namespace ? ctx.cluster.deployments.get(name) : undefined;
  if (!d) return fail(`Error from server (NotFound): deployments.apps "${name}" not found\n`);
  const next = structuredClone(d);
  const problem = change(next);
  if (problem) return fail(problem);
  replaceDeployment(ctx.cluster, next);
  return ok(`deployment.apps/${name} ${verb}\n`);
}

export function kubectlSet(args: KubectlArgs, ctx: ShellContext): CommandResult {
  const what = args.positional[1];
  const assignments = args.positional.slice(3).filter((w) => w.includes('=') || w.endsWith('-'));
  const rest = args.positional[2]?.includes('/') ? args.positional.slice(3) : args.positional.slice(4);
  const pairs = assignments.length ? assignments : rest;
  if (what === 'env') {
    return withDeployment(
      args,
      ctx,
      2,
      (d) => {
        for (const container of d.spec.template.spec.containers) {
          const env = [...(container.env ?? [])];
          for (const pair of pairs) {
            if (pair.endsWith('-') && !pair.includes('=')) {
              const key = pair.slice(0, -1);
              const i = env.findIndex((e) => e.name === key);
              if (i >= 0) env.splice(i, 1);
              continue;
            }
            const eq = pair.indexOf('=');
            if (eq <= 0) return `error: unexpected environment argument "${pair}"\n`;
            const entry = { name: pair.slice(0, eq), value: pair.slice(eq + 1) };
            const i = env.findIndex((e) => e.name === entry.name);
            if (i >= 0) env[i] = entry;
            else env.push(entry);
          }
          container.env = env;
        }
        return null;
      },
      'env updated',
    );
  }
  if (what === 'image') {
    return withDeployment(
      args,
      ctx,
      2,
      (d) => {
        for (const pair of pairs) {
          const [container, image] = pair.split('=');
          const targets =
            container === '*'
              ? d.spec.template.spec.containers
              : d.spec.template.spec.containers.filter((c) => c.name === container);
          if (targets.length === 0) return `error: unable to find container named "${container}"\n`;
          for (const c of targets) c.image = image ?? '';
        }
        return null;
      },
      'image updated',
    );
  }
  return fail(`error: unknown command "${what ?? ''}" for "kubectl set"\n`);
}

export function kubectlRollout(args: KubectlArgs, ctx: ShellContext): CommandResult {
  const action = args.positional[1];
  const cluster = ctx.cluster;
  if (action === 'restart') {
    return withDeployment(
      args,
      ctx,
      2,
      (d) => {
        d.spec.template.metadata.annotations = {
          ...d.spec.template.metadata.annotations,
          'kubectl.kubernetes.io/restartedAt': isoTime(cluster.now()),
        };
        return null;
      },
      'restarted',
    );
  }
  if (action === 'undo') {
    return withDeployment(
      args,
      ctx,
      2,
      (d) => {
        const past = history(cluster, d.metadata.name);
        const previous = past.at(-1);
        if (!previous) return `error: no rollout history found for deployment "${d.metadata.name}"\n`;
        d.spec.template = JSON.parse(previous);
        return null;
      },
      'rolled back',
    );
  }
  const name = deploymentTargets(args, 2)[0] ?? '';
  const d = namespaceOf(args) === cluster.namespace ? cluster.deployments.get(name) : undefined;
  if (action === 'status') {
    if (!d) return fail(`Error from server (NotFound): deployments.apps "${name}" not found\n`);
    const status = deploymentStatus(cluster, d);
    if (status.available >= d.spec.replicas) return ok(`deployment "${name}" successfully rolled out\n`);
    const waiting = `Waiting for deployment "${name}" rollout to finish: ${status.available} of ${d.spec.replicas} updated replicas are available...\n`;
    if (flag(args, '--timeout') || hasFlag(args, '-w=false', '--watch=false'))
      return { stdout: waiting, stderr: 'error: timed out waiting for the condition\n', code: 1 };
    throw new CommandTimeout();
  }
  if (action === 'history') {
    if (!d) return fail(`Error from server (NotFound): deployments.apps "${name}" not found\n`);
    const revisions = history(cluster, name).length + 1;
    const rows = Array.from({ length: revisions }, (_, i) => [String(i + 1), '<none>']);
    return ok(`deployment.apps/${name} \n${table([['REVISION', 'CHANGE-CAUSE'], ...rows])}\n`);
  }
  return fail(`error: unknown command "${action ?? ''}" for "kubectl rollout"\n`);
}

export function kubectlDelete(args: KubectlArgs, ctx: ShellContext): CommandResult {
  const cluster = ctx.cluster;
  const words = args.positional.slice(1);
  const targets = resourceTargets(words);
  if (targets.unknown !== undefined)
    return fail(`error: the server doesn't have a resource type "${targets.unknown}"\n`);
  const inApp = namespaceOf(args) === cluster.namespace;
  const selector = flag(args, '-l', '--selector');
  let names = targets.names;
  const kind = targets.kinds[0];
  if (!kind) return fail('error: You must provide one or more resources by argument or filename.\n');
  if (kind === 'pods' && (selector || hasFlag(args, '--all'))) {
    const [key, value] = (selector ?? '').split('=');
    names = cluster.pods
      .filter(
        (p) =>
          hasFlag(args, '--all') ||
          cluster.deployments.get(p.deployment)?.spec.template.metadata.labels[key ?? ''] === value,
      )
      .map((p) => p.name);
    if (!inApp || names.length === 0) return ok('', `No resources found\n`);
  }
  if (names.length === 0) return fail('error: resource(s) were provided, but no name was specified\n');
  let stdout = '';
  for (const [i, name] of names.entries()) {
    const k = words[0]?.includes('/') ? targets.kinds[i]! : kind;
    const removed = inApp && deleteOne(cluster, k, name);
    if (!removed)
      return {
        stdout,
        stderr: `Error from server (NotFound): ${k === 'deployments' ? 'deployments.apps' : k} "${name}" not found\n`,
        code: 1,
      };
    stdout += `${KIND_PREFIX[k]} "${name}" deleted\n`;
  }
  reconcile(cluster);
  return ok(stdout);
}

function deleteOne(cluster: Cluster, kind: ResourceKind, name: string): boolean {
  if (kind === 'pods') {
    const pod = cluster.pods.find((p) => p.name === name);
    if (pod) removePod(cluster, pod, cluster.now());
    return Boolean(pod);
  }
  const store = PATCHABLE[kind];
  return store ? cluster[store].delete(name) : false;
}
