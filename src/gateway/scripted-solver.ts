/**
 * The `solver` policy: an SRE that works an AIOpsLab episode from what kubectl shows. Each call is
 * a pure function of the messages: the episode (scripted-episode.ts) says which commands already
 * ran and what they printed, and the next action is the first thing still to do:
 *
 *   1. investigate: the pods of the app's namespace (the table: status, readiness, restarts),
 *      then its deployments and services, one line each (custom columns: replicas, pod template
 *      labels, container ports, node selectors; service selectors, ports and target ports);
 *   2. follow up: the logs of a crash-looping pod, the description of a pod stuck in Pending;
 *   3. diagnose (scripted-diagnose.ts) and, for detection/localization/analysis, submit;
 *   4. mitigation: run the fix for the finding, check the result (a few times while it settles),
 *      then submit.
 *
 * A command runs once; an output it cannot read (an error, a parse complaint) just leaves the
 * solver knowing less, so an episode always moves on and ends in well under 20 steps.
 */
import {
  analysisOf,
  culprit,
  type Diagnosis,
  deploymentOf,
  diagnose,
  type Facts,
  isCrashing,
} from './scripted-diagnose.ts';
import { type Episode, fenced, outputOf, ran, shellCall } from './scripted-episode.ts';
import {
  getDeployments,
  getPods,
  getServices,
  isUnhealthy,
  type PodView,
  readDeployments,
  readPods,
  readServices,
} from './scripted-kubectl-read.ts';

/** Checks of a mitigation before it submits anyway (a fix that did not take stays unfixed). */
export const SOLVER_MAX_CHECKS = 3;
/** Crash-looping workloads whose logs are read. */
const MAX_LOGS = 2;

const investigation = (ns: string) => ({
  pods: getPods(ns),
  deployments: getDeployments(ns),
  services: getServices(ns),
});

const logsCommand = (ns: string, pod: string) => `kubectl logs ${pod} -n ${ns}`;
const describeCommand = (ns: string, pod: string) => `kubectl describe pod ${pod} -n ${ns}`;

interface Next {
  thought: string;
  call: string;
  /** The shell command of an exec_shell call. */
  command?: string;
}

const shell = (thought: string, command: string): Next => ({ thought, call: shellCall(command), command });

// ---------------------------------------------------------------------------------------------
// Investigation

/** The pods worth a closer look: one per crashing workload (its logs), the first pending one (why). */
function followUps(e: Episode, pods: PodView[], facts: Pick<Facts, 'deployments'>): Next[] {
  const seen = new Set<string>();
  const crashing = pods.filter((p) => {
    const d = deploymentOf(p, facts.deployments);
    if (!isCrashing(p) || seen.has(d)) return false;
    seen.add(d);
    return true;
  });
  const next = crashing
    .slice(0, MAX_LOGS)
    .map((p) =>
      shell(`${p.name} is crash-looping; its logs should say why.`, logsCommand(e.namespace, p.name)),
    );
  const pending = pods.find((p) => p.status === 'Pending' && !isCrashing(p));
  if (pending) {
    next.push(
      shell(
        `${pending.name} is still Pending; its events say what blocks it.`,
        describeCommand(e.namespace, pending.name),
      ),
    );
  }
  return next;
}

/** Everything the investigation saw, read from the outputs of the commands that ran. */
function factsOf(e: Episode): Facts {
  const cmd = investigation(e.namespace);
  const pods = readPods(outputOf(e, cmd.pods) ?? '');
  const byPod = (command: (ns: string, pod: string) => string) =>
    new Map(
      pods.flatMap((p) => {
        const out = outputOf(e, command(e.namespace, p.name));
        return out === undefined ? [] : [[p.name, out] as const];
      }),
    );
  return {
    pods,
    deployments: readDeployments(outputOf(e, cmd.deployments) ?? ''),
    services: readServices(outputOf(e, cmd.services) ?? ''),
    logs: byPod(logsCommand),
    descriptions: byPod(describeCommand),
  };
}

/** The next investigation step, or undefined once there is nothing left to look at. */
function nextLook(e: Episode): Next | undefined {
  const cmd = investigation(e.namespace);
  if (!ran(e, cmd.pods))
    return shell('First I list the pods of the application with their status.', cmd.pods);
  if (!ran(e, cmd.deployments))
    return shell(
      'Next the deployments: desired and ready replicas, pod template labels, container ports.',
      cmd.deployments,
    );
  if (!ran(e, cmd.services))
    return shell('Then the services, to check their selectors and target ports.', cmd.services);
  const facts = factsOf(e);
  return followUps(e, facts.pods, facts).find((n) => n.command !== undefined && !ran(e, n.command));
}

// ---------------------------------------------------------------------------------------------
// Mitigation

/** The commands that undo the finding, in order. */
function fixesFor(d: Diagnosis, ns: string): string[] {
  switch (d.kind) {
    case 'target-port': {
      const patch = `[{"op":"replace","path":"/spec/ports/${d.portIndex}/targetPort","value":${d.to}}]`;
      return [`kubectl patch service ${d.service} -n ${ns} --type=json -p '${patch}'`];
    }
    case 'scaled-to-zero':
      return [`kubectl scale deployment ${d.deployment} -n ${ns} --replicas=1`];
    case 'unschedulable':
      return [
        `kubectl patch deployment ${d.deployment} -n ${ns} --type=json -p '[{"op":"remove","path":"/spec/template/spec/nodeSelector"}]'`,
      ];
    case 'revoked-auth': {
      // Give the database's user its roles back, then restart the client that gave up on it.
      const grant = `db.grantRolesToUser('admin', [{role: 'readWrite', db: '${d.db}'}])`;
      const mongo = d.mongoPod ?? `deploy/${d.mongo}`;
      return [
        `kubectl exec ${mongo} -n ${ns} -- mongo admin -u admin -p admin --authenticationDatabase admin --eval "${grant}" --quiet`,
        `kubectl rollout restart deployment ${d.client} -n ${ns}`,
      ];
    }
    case 'app-misconfig':
      // The last change to the pod template broke the app: roll it back.
      return [`kubectl rollout undo deployment ${d.deployment} -n ${ns}`];
    default:
      return [];
  }
}

/** How the fix is checked: the service's ports for a Service fix, else the pods. */
function checkFor(d: Diagnosis, ns: string): string {
  return d.kind === 'target-port' ? getServices(ns, d.service) : getPods(ns);
}

/** The check's output says the fix took. */
function fixed(d: Diagnosis, output: string): boolean {
  if (d.kind === 'target-port') {
    const port = readServices(output)[0]?.ports[d.portIndex];
    return port?.targetPort === d.to;
  }
  const pods = readPods(output);
  const present =
    d.kind === 'scaled-to-zero' ? pods.some((p) => p.name.startsWith(`${d.deployment}-`)) : true;
  return pods.length > 0 && present && !pods.some(isUnhealthy);
}

function nextFix(e: Episode, d: Diagnosis): Next {
  const fixes = fixesFor(d, e.namespace);
  const pending = fixes.find((f) => !ran(e, f));
  if (pending) {
    const n = fixes.indexOf(pending) + 1;
    return shell(`Diagnosis: ${describe(d)}. Fix ${n} of ${fixes.length}.`, pending);
  }
  if (fixes.length === 0) return { thought: 'Nothing I know how to fix; submitting.', call: 'submit()' };
  const isFix = e.steps.map((s) => s.command !== null && fixes.includes(s.command));
  const lastFix = isFix.lastIndexOf(true);
  const check = checkFor(d, e.namespace);
  const checks = e.steps.slice(lastFix + 1).filter((s) => s.command === check);
  const latest = checks.at(-1);
  if (latest && fixed(d, latest.output)) return { thought: 'The fix took; submitting.', call: 'submit()' };
  if (checks.length >= SOLVER_MAX_CHECKS)
    return { thought: 'No better after the fix; submitting.', call: 'submit()' };
  return shell('Checking that the fix took.', check);
}

// ---------------------------------------------------------------------------------------------
// The policy

function describe(d: Diagnosis): string {
  switch (d.kind) {
    case 'healthy':
      return 'nothing wrong: every pod is ready and every service reaches its pods';
    case 'target-port':
      return `service ${d.service} sends traffic to port ${d.from}, but its pods listen on ${d.to}`;
    case 'scaled-to-zero':
      return `deployment ${d.deployment} is scaled to 0 replicas`;
    case 'unschedulable':
      return `pod ${d.pod} of ${d.deployment} cannot be scheduled: its node selector matches no node`;
    case 'revoked-auth':
      return `${d.client} is refused by ${d.mongo} (not authorized on ${d.db}): its database user lost its roles`;
    case 'app-misconfig':
      return `${d.deployment} crash-loops on its own configuration${d.detail ? ` (${d.detail})` : ''}`;
    case 'unknown':
      return `${d.deployment} is unhealthy`;
  }
}

export function submitFor(e: Episode, d: Diagnosis): string {
  switch (e.type) {
    case 'detection':
      return `submit(${JSON.stringify(d.kind === 'healthy' ? 'No' : 'Yes')})`;
    case 'localization': {
      const c = culprit(d);
      return `submit(${JSON.stringify(c === undefined ? [] : [c])})`;
    }
    case 'analysis':
      // AIOpsLab's analysis submit takes one argument; the task text says `None` for no fault.
      return d.kind === 'healthy' ? 'submit(None)' : `submit(${JSON.stringify(analysisOf(d))})`;
    case 'mitigation':
      return 'submit()';
  }
}

export function solverNext(e: Episode): string {
  const look = nextLook(e);
  if (look) return fenced(look.thought, look.call);
  const d = diagnose(factsOf(e));
  if (e.type === 'mitigation' && d.kind !== 'healthy') {
    const next = nextFix(e, d);
    return fenced(next.thought, next.call);
  }
  return fenced(`Diagnosis: ${describe(d)}.`, submitFor(e, d));
}
