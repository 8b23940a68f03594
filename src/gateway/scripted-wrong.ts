/**
 * The `wrong` policy: a baseline that always fails, to check that failures are scored and recorded
 * as such. It submits a well-formed but wrong answer after at most one look:
 *
 * - detection: one `kubectl get pods,deployments,services -o json`, then the opposite of what the
 *   solver's diagnosis makes of it ("No" when something is wrong, "Yes" when all is well);
 * - localization: a component that does not exist;
 * - analysis: Hardware / Code Defect (a fault the Kubernetes problems never are);
 * - mitigation: submit() at once, leaving the fault in place.
 */
import { diagnose } from './scripted-diagnose.ts';
import { type Episode, fenced, outputOf, shellCall } from './scripted-episode.ts';
import { readDeployments, readPods, readServices } from './scripted-kubectl-read.ts';

export const WRONG_COMPONENT = 'nonexistent-service';
export const WRONG_ANALYSIS = { system_level: 'Hardware', fault_type: 'Code Defect' } as const;

/** One command that shows everything the diagnosis needs but logs (kubectl lists mixed kinds). */
export const wrongLook = (ns: string) => `kubectl get pods,deployments,services -n ${ns} -o json`;

function detection(e: Episode): string {
  const look = wrongLook(e.namespace);
  const output = outputOf(e, look);
  if (output === undefined && e.steps.length === 0) {
    return fenced('One look at the workloads.', shellCall(look));
  }
  const text = output ?? '';
  const d = diagnose({
    pods: readPods(text),
    deployments: readDeployments(text),
    services: readServices(text),
    logs: new Map(),
    descriptions: new Map(),
  });
  const answer = d.kind === 'healthy' ? 'Yes' : 'No';
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
