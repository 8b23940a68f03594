/** The `kubectl` front: subcommand dispatch over the model. */
import { parseKubectlArgs } from './kubectl-args.ts';
import { kubectlDescribe } from './kubectl-describe.ts';
import { kubectlExec } from './kubectl-exec.ts';
import { kubectlGet } from './kubectl-get.ts';
import { kubectlLogs, kubectlTop } from './kubectl-logs.ts';
import { kubectlDelete, kubectlPatch, kubectlRollout, kubectlScale, kubectlSet } from './kubectl-write.ts';
import { type CommandResult, fail, ok, type ShellContext } from './shell.ts';

type Handler = (args: ReturnType<typeof parseKubectlArgs>, ctx: ShellContext) => CommandResult;

const SUBCOMMANDS: Record<string, Handler> = {
  get: kubectlGet,
  describe: kubectlDescribe,
  logs: kubectlLogs,
  top: kubectlTop,
  patch: kubectlPatch,
  scale: kubectlScale,
  set: kubectlSet,
  rollout: kubectlRollout,
  delete: kubectlDelete,
  exec: kubectlExec,
  version: () =>
    ok(
      'Client Version: v1.30.0\nKustomize Version: v5.0.4-0.20230601165947-6ce0bf390ce3\nServer Version: v1.30.0\n',
    ),
  'cluster-info': () =>
    ok(
      "Kubernetes control plane is running at https://127.0.0.1:41235\nCoreDNS is running at https://127.0.0.1:41235/api/v1/namespaces/kube-system/services/kube-dns:dns/proxy\n\nTo further debug and diagnose cluster problems, use 'kubectl cluster-info dump'.\n",
    ),
  config: (args) => (args.positional[1] === 'current-context' ? ok('kind-kind\n') : ok('kind-kind\n')),
  apply: (args) =>
    args.flags.has('-f') || args.flags.has('--filename')
      ? fail(`error: the path "${args.flags.get('-f') ?? args.flags.get('--filename')}" does not exist\n`)
      : fail('error: must specify one of -f and -k\n'),
  create: () => fail('error: must specify one of -f and -k\n'),
  label: (args) => ok(`${args.positional[1] ?? 'resource'} labeled\n`),
  annotate: (args) => ok(`${args.positional[1] ?? 'resource'} annotated\n`),
  'api-resources': () =>
    ok(
      'NAME          SHORTNAMES   APIVERSION   NAMESPACED   KIND\nconfigmaps    cm           v1           true         ConfigMap\nendpoints     ep           v1           true         Endpoints\nevents        ev           v1           true         Event\nnamespaces    ns           v1           false        Namespace\nnodes         no           v1           false        Node\npods          po           v1           true         Pod\nsecrets                    v1           true         Secret\nservices      svc          v1           true         Service\ndeployments   deploy       apps/v1      true         Deployment\nreplicasets   rs           apps/v1      true         ReplicaSet\n',
    ),
  auth: () => ok('yes\n'),
};

export function runKubectl(words: string[], ctx: ShellContext): CommandResult {
  const args = parseKubectlArgs(words);
  const subcommand = args.positional[0];
  if (!subcommand) {
    return ok(
      'kubectl controls the Kubernetes cluster manager.\n\n Find more information at: https://kubernetes.io/docs/reference/kubectl/\n',
    );
  }
  const handler = SUBCOMMANDS[subcommand];
  if (!handler) return fail(`error: unknown command "${subcommand}" for "kubectl"\n`);
  return handler(args, ctx);
}
