/**
 * kubectl's command-line grammar, as far as the sandbox needs it: flags with `=value` or a
 * separate value, short flag clusters, `--` ending flags (exec), resource type aliases.
 */

const VALUE_FLAGS = new Set([
  '-n',
  '--namespace',
  '-o',
  '--output',
  '-l',
  '--selector',
  '--sort-by',
  '--tail',
  '-c',
  '--container',
  '--type',
  '--replicas',
  '--field-selector',
  '--since',
  '--since-time',
  '--timeout',
  '--to-revision',
  '--grace-period',
  '--revision',
  '--context',
  '--kubeconfig',
  '--template',
  '-f',
  '--filename',
  '--patch',
  '--image',
  '--containers',
  '--env',
  '-e',
  '--for',
]);

export interface KubectlArgs {
  positional: string[];
  flags: Map<string, string>;
  /** Words after `--` (the command of `kubectl exec`). */
  rest: string[];
}

/** Short flags that take a value only for some subcommands. */
function takesValue(flag: string, subcommand: string): boolean {
  if (flag === '-p') return subcommand === 'patch';
  if (flag === '-f') return subcommand !== 'logs';
  if (flag === '-c') return true;
  return VALUE_FLAGS.has(flag);
}

export function parseKubectlArgs(words: string[]): KubectlArgs {
  const positional: string[] = [];
  const flags = new Map<string, string>();
  const rest: string[] = [];
  let subcommand = '';
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    if (word === '--') {
      rest.push(...words.slice(i + 1));
      break;
    }
    if (word.startsWith('--') && word.includes('=')) {
      const eq = word.indexOf('=');
      flags.set(word.slice(0, eq), word.slice(eq + 1));
    } else if (/^-[A-Za-z]=/.test(word)) {
      flags.set(word.slice(0, 2), word.slice(3));
    } else if (word.startsWith('-') && word.length > 1 && !/^-\d/.test(word)) {
      if (takesValue(word, subcommand) && i + 1 < words.length) flags.set(word, words[++i]!);
      else if (/^-[a-zA-Z]{2,}$/.test(word) && !VALUE_FLAGS.has(word)) {
        const letters = word.slice(1);
        // `-nfoo` is `-n foo`; `-it` is `-i -t`.
        if (takesValue(`-${letters[0]}`, subcommand) && letters[0] !== 'f')
          flags.set(`-${letters[0]}`, letters.slice(1));
        else for (const letter of letters) flags.set(`-${letter}`, 'true');
      } else flags.set(word, 'true');
    } else {
      if (!subcommand) subcommand = word;
      positional.push(word);
    }
  }
  return { positional, flags, rest };
}

export function flag(args: KubectlArgs, ...names: string[]): string | undefined {
  for (const name of names) {
    const value = args.flags.get(name);
    if (value !== undefined) return value;
  }
  return undefined;
}

export function hasFlag(args: KubectlArgs, ...names: string[]): boolean {
  return names.some((name) => {
    const value = args.flags.get(name);
    return value !== undefined && value !== 'false';
  });
}

export type ResourceKind =
  | 'pods'
  | 'deployments'
  | 'replicasets'
  | 'services'
  | 'endpoints'
  | 'configmaps'
  | 'secrets'
  | 'events'
  | 'nodes'
  | 'namespaces'
  | 'persistentvolumeclaims'
  | 'statefulsets'
  | 'daemonsets'
  | 'jobs'
  | 'ingresses';

const ALIASES: Record<string, ResourceKind> = {};
const NAMES: [ResourceKind, string[]][] = [
  ['pods', ['pods', 'pod', 'po']],
  ['deployments', ['deployments', 'deployment', 'deploy', 'deployments.apps', 'deployment.apps']],
  ['replicasets', ['replicasets', 'replicaset', 'rs', 'replicasets.apps', 'replicaset.apps']],
  ['services', ['services', 'service', 'svc']],
  ['endpoints', ['endpoints', 'endpoint', 'ep']],
  ['configmaps', ['configmaps', 'configmap', 'cm']],
  ['secrets', ['secrets', 'secret']],
  ['events', ['events', 'event', 'ev', 'events.events.k8s.io']],
  ['nodes', ['nodes', 'node', 'no']],
  ['namespaces', ['namespaces', 'namespace', 'ns']],
  ['persistentvolumeclaims', ['persistentvolumeclaims', 'persistentvolumeclaim', 'pvc']],
  ['statefulsets', ['statefulsets', 'statefulset', 'sts']],
  ['daemonsets', ['daemonsets', 'daemonset', 'ds']],
  ['jobs', ['jobs', 'job']],
  ['ingresses', ['ingresses', 'ingress', 'ing']],
];
for (const [kind, names] of NAMES) for (const name of names) ALIASES[name] = kind;

export function resourceKind(word: string): ResourceKind | undefined {
  return ALIASES[word.toLowerCase()];
}

/** The singular `kind/name` prefix kubectl prints (`pod/x`, `deployment.apps/x`). */
export const KIND_PREFIX: Record<ResourceKind, string> = {
  pods: 'pod',
  deployments: 'deployment.apps',
  replicasets: 'replicaset.apps',
  services: 'service',
  endpoints: 'endpoints',
  configmaps: 'configmap',
  secrets: 'secret',
  events: 'event',
  nodes: 'node',
  namespaces: 'namespace',
  persistentvolumeclaims: 'persistentvolumeclaim',
  statefulsets: 'statefulset.apps',
  daemonsets: 'daemonset.apps',
  jobs: 'job.batch',
  ingresses: 'ingress.networking.k8s.io',
};

/** Splits `TYPE NAME...`, `TYPE/NAME` and `TYPE1,TYPE2` forms into (kind, names) targets. */
export function resourceTargets(words: string[]): {
  kinds: ResourceKind[];
  names: string[];
  unknown?: string;
} {
  const [first, ...names] = words;
  if (!first) return { kinds: [], names: [] };
  if (first.includes('/')) {
    const kinds: ResourceKind[] = [];
    const resolvedNames: string[] = [];
    for (const word of words) {
      const [type, name] = word.split('/');
      const kind = resourceKind(type ?? '');
      if (!kind) return { kinds: [], names: [], unknown: type };
      kinds.push(kind);
      resolvedNames.push(name ?? '');
    }
    return { kinds, names: resolvedNames };
  }
  if (first === 'all') return { kinds: ['pods', 'services', 'deployments', 'replicasets'], names };
  const kinds: ResourceKind[] = [];
  for (const type of first.split(',')) {
    const kind = resourceKind(type);
    if (!kind) return { kinds: [], names: [], unknown: type };
    kinds.push(kind);
  }
  return { kinds, names };
}
