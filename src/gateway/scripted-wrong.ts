/**
 * The `wrong` policy: a baseline that always fails, to check that failures are scored and recorded
 * as such. It submits a well-formed but wrong answer after at most two looks:
 *
 * - detection: the deployments and the services (the solver's custom columns), then the opposite
 *   of what they show ("No" when the solver's diagnosis finds a fault or a deployment is not fully
 *   ready, "Yes" when all is well);
 * - localization: a component that does not exist;
 * - analysis: Hardware / Code Defect (a fault the Kubernetes problems never are);
 * - mitigation: submit() at once, leaving the fault in place.
 */
import { diagnose } from './scripted-diagnose.ts';
import { type Episode, fenced, outputOf, shellCall } from './scripted-episode.ts';
import { getDeployments, getServices, readDeployments, readServices } from './scripted-kubectl-read.ts';

export const WRONG_COMPONENT = 'nonexistent-service';
export const WRONG_ANALYSIS = { system_level: 'Hardware', fault_type: 'Code Defect' } as const;

/** What detection looks at, in order: everything the verdict needs but pods and logs. */
export const wrongLooks = (ns: string) => [getDeployments(ns), getServices(ns)] as const;

function detection(e: Episode): string {
  const looks = wrongLooks(e.namespace);
  // One step per look, whatever it printed: the episode never stalls on a look that failed.
  const look = looks[e.steps.length];
  if (look !== undefined) return fenced('A look at the workloads.', shellCall(look));
  const [deploymentsLook, servicesLook] = looks;
  const deployments = readDeployments(outputOf(e, deploymentsLook) ?? '');
  const d = diagnose({
    pods: [],
    deployments,
    services: readServices(outputOf(e, servicesLook) ?? ''),
    logs: new Map(),
    descriptions: new Map(),
  });
  // Without the pods, a crash or a pod that cannot start shows as a deployment short of ready replicas.
  const faulty = d.kind !== 'healthy' || deployments.some((x) => x.readyReplicas < x.replicas);
  const answer = faulty ? 'No' : 'Yes';
  return fenced('Submitting the opposite of what I saw.', `submit(${JSON.stringify(answer)})`);
}

export function wrongNext(e: Episode): string {
  switch (e.type) {
    case 'detection':
      return detection(e);
    case 'localization':
      return fenced(
        'Blaming a component that does not exist.',
        `submit(${JSON.stringify([WRONG_COMPONENT])})`,
      );
    case 'analysis':
      return fenced('A hardware defect, whatever the symptoms.', `submit(${JSON.stringify(WRONG_ANALYSIS)})`);
    case 'mitigation':
      return fenced('Submitting without changing anything.', 'submit()');
  }
}
