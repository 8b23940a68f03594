/**
 * The sandbox catalogue: AIOpsLab problems modelled faithfully (id = `sandbox-` + AIOpsLab's
 * id), each with its fault and the answers its AIOpsLab problem file's eval() expects.
 */
import type { ProblemInfo, TaskType } from '../environment.ts';
import type { AppSpec } from './apps.ts';
import { HOTEL_RESERVATION, SOCIAL_NETWORK } from './apps.ts';
import type { FaultKind, FaultSpec } from './faults.ts';

export type MitigationCheck =
  | 'target_port'
  | 'scale_pod'
  | 'pods_ready'
  | 'pods_normal'
  | 'pods_normal_with_target';

export interface Expectation {
  detection: 'Yes' | 'No';
  /** Accepted single answers; the first is the `faulty_service` used for subset accuracy. */
  localization: string[];
  analysis: { system_level: string; fault_type: string };
  mitigation: MitigationCheck;
}

export interface SandboxProblem extends ProblemInfo {
  aiopslabId: string;
  appSpec: AppSpec;
  fault: FaultSpec;
  expected: Expectation;
}

interface FaultFamily {
  prefix: string;
  app: AppSpec;
  kind: FaultKind;
  title: string;
  variants: { suffix: string; target: string; localization: string[] }[];
  tasks: readonly TaskType[];
  analysis: { system_level: string; fault_type: string };
  mitigation: MitigationCheck;
}

const ALL_TASKS: readonly TaskType[] = ['detection', 'localization', 'analysis', 'mitigation'];

const FAMILIES: FaultFamily[] = [
  {
    prefix: 'k8s_target_port-misconfig',
    app: SOCIAL_NETWORK,
    kind: 'misconfig_k8s',
    title: "Service targetPort misconfigured (9999 instead of the container's 9090)",
    variants: [
      { suffix: '1', target: 'user-service', localization: ['user-service'] },
      { suffix: '2', target: 'text-service', localization: ['text-service'] },
      { suffix: '3', target: 'post-storage-service', localization: ['post-storage-service'] },
    ],
    tasks: ALL_TASKS,
    analysis: { system_level: 'Virtualization', fault_type: 'Misconfiguration' },
    mitigation: 'target_port',
  },
  {
    prefix: 'scale_pod_zero_social_net',
    app: SOCIAL_NETWORK,
    kind: 'scale_pods_to_zero',
    title: 'Deployment scaled to zero replicas',
    variants: [{ suffix: '1', target: 'user-service', localization: ['user-service'] }],
    tasks: ALL_TASKS,
    analysis: { system_level: 'Virtualization', fault_type: 'Operation Error' },
    mitigation: 'scale_pod',
  },
  {
    prefix: 'assign_to_non_existent_node_social_net',
    app: SOCIAL_NETWORK,
    kind: 'assign_to_non_existent_node',
    title: 'Pod assigned to a non-existent node',
    variants: [{ suffix: '1', target: 'user-service', localization: ['user-service'] }],
    tasks: ALL_TASKS,
    analysis: { system_level: 'Virtualization', fault_type: 'Dependency Problem' },
    mitigation: 'pods_normal_with_target',
  },
  {
    prefix: 'misconfig_app_hotel_res',
    app: HOTEL_RESERVATION,
    kind: 'misconfig_app',
    title: 'Application image with a buggy configuration (geo crash-loops)',
    variants: [{ suffix: '1', target: 'geo', localization: ['geo'] }],
    tasks: ALL_TASKS,
    analysis: { system_level: 'Application', fault_type: 'Misconfiguration' },
    mitigation: 'pods_ready',
  },
  {
    prefix: 'revoke_auth_mongodb',
    app: HOTEL_RESERVATION,
    kind: 'revoke_auth',
    title: "MongoDB user's readWrite role revoked",
    variants: [
      { suffix: '1', target: 'mongodb-geo', localization: ['mongodb-geo', 'geo'] },
      { suffix: '2', target: 'mongodb-rate', localization: ['mongodb-rate', 'rate'] },
    ],
    tasks: ALL_TASKS,
    analysis: { system_level: 'Application', fault_type: 'Authentication Issue' },
    mitigation: 'pods_normal',
  },
];

function familyProblems(family: FaultFamily): SandboxProblem[] {
  return family.variants.flatMap((variant) =>
    family.tasks.map((task) => {
      const aiopslabId = `${family.prefix}-${task}-${variant.suffix}`;
      return {
        id: `sandbox-${aiopslabId}`,
        aiopslabId,
        task_type: task,
        app: family.app.id,
        description: `${family.title} in ${family.app.id} (${variant.target}); ${task}.`,
        appSpec: family.app,
        fault: { kind: family.kind, target: variant.target },
        expected: {
          detection: 'Yes',
          localization: variant.localization,
          analysis: family.analysis,
          mitigation: family.mitigation,
        },
      };
    }),
  );
}

function noopProblem(aiopslabId: string, app: AppSpec): SandboxProblem {
  return {
    id: `sandbox-${aiopslabId}`,
    aiopslabId,
    task_type: 'detection',
    app: app.id,
    description: `No fault injected in ${app.id} (false-positive check); detection.`,
    appSpec: app,
    fault: { kind: 'no_op', target: 'PLACEHOLDER' },
    expected: {
      detection: 'No',
      localization: [],
      analysis: { system_level: '', fault_type: '' },
      mitigation: 'pods_normal',
    },
  };
}

export const CATALOGUE: readonly SandboxProblem[] = [
  ...FAMILIES.flatMap(familyProblems),
  noopProblem('noop_detection_hotel_reservation-1', HOTEL_RESERVATION),
  noopProblem('noop_detection_social_network-1', SOCIAL_NETWORK),
];

export function findProblem(id: string): SandboxProblem | undefined {
  return CATALOGUE.find((problem) => problem.id === id);
}
