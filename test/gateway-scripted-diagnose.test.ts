/**
 * The scripted solver's decisions: the diagnosis of each symptom, the episode rebuilt from a
 * stock client's messages, the shell-call quoting AIOpsLab's parser needs, and both policies
 * played on canned observations.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { scriptedAnswer } from '../src/gateway/scripted.ts';
import { analysisOf, culprit, diagnose } from '../src/gateway/scripted-diagnose.ts';
import { commandOf, fenced, readEpisode, shellCall } from '../src/gateway/scripted-episode.ts';
import {
  getDeployments,
  getServices,
  readDeployments,
  readPods,
  readServices,
} from '../src/gateway/scripted-kubectl-read.ts';
import { SOLVER_MAX_CHECKS } from '../src/gateway/scripted-solver.ts';

// --- Fixtures in kubectl's shapes -------------------------------------------------------------
import {
  CRASH,
  DEPLOYMENTS_COLUMNS_TABLE,
  deployment,
  facts,
  list,
  PODS_TABLE,
  pod,
  SERVICES_COLUMNS_TABLE,
  service,
} from './helpers/kubectl-shapes.ts';

test('diagnose: a Service targetPort no selected container declares, from the custom columns', () => {
  const d = diagnose(
    facts({
      deployments: readDeployments(DEPLOYMENTS_COLUMNS_TABLE),
      services: readServices(SERVICES_COLUMNS_TABLE),
    }),
  );
  // text-service's 0 replicas come first; without it, user-service's port is the finding.
  assert.deepEqual(d, { kind: 'scaled-to-zero', deployment: 'text-service' });
  const ports = diagnose(
    facts({
      deployments: readDeployments(DEPLOYMENTS_COLUMNS_TABLE).filter((x) => x.replicas > 0),
      services: readServices(SERVICES_COLUMNS_TABLE),
    }),
  );
  assert.deepEqual(ports, {
    kind: 'target-port',
    service: 'user-service',
    portIndex: 0,
    from: 9999,
    to: 9090,
  });
});

test('diagnose: a Service targetPort no selected container declares, from -o json', () => {
  const d = diagnose(
    facts({
      pods: readPods(list([pod({ name: 'user-service-5b549cc8dc-4wfmd', app: 'user-service', port: 9090 })])),
      deployments: readDeployments(list([deployment('user-service', 1, 9090)])),
      services: readServices(
        list([service('user-service', 9090, 9999), service('text-service', 9090, 9090)]),
      ),
    }),
  );
  assert.deepEqual(d, { kind: 'target-port', service: 'user-service', portIndex: 0, from: 9999, to: 9090 });
  assert.equal(culprit(d), 'user-service');
  assert.deepEqual(analysisOf(d), { system_level: 'Virtualization', fault_type: 'Misconfiguration' });
});

test('diagnose: a deployment scaled to zero', () => {
  const d = diagnose(facts({ deployments: readDeployments(list([deployment('user-service', 0, 9090)])) }));
  assert.deepEqual(d, { kind: 'scaled-to-zero', deployment: 'user-service' });
  assert.deepEqual(analysisOf(d), { system_level: 'Virtualization', fault_type: 'Operation Error' });
});

test('diagnose: not authorized on <db> → the mongodb it talks to', () => {
  const pods = readPods(
    list([
      pod({ name: 'geo-84fbc958c7-mvkzb', app: 'geo', state: CRASH, ready: false, restarts: 3 }),
      pod({ name: 'mongodb-geo-5ff578bcb8-x2w4n', app: 'mongodb-geo' }),
    ]),
  );
  const deployments = readDeployments(list([deployment('geo', 1), deployment('mongodb-geo', 1)]));
  const logs = new Map([
    [
      'geo-84fbc958c7-mvkzb',
      '{"level":"info","message":"Read database URL: mongodb-geo:27017"}\n' +
        '{"level":"fatal","message":"not authorized on geo-db to execute command { count: \\"geo\\" }"}',
    ],
  ]);
  const d = diagnose(facts({ pods, deployments, logs }));
  assert.equal(d.kind, 'revoked-auth');
  assert.equal(culprit(d), 'mongodb-geo');
  if (d.kind === 'revoked-auth') {
    assert.equal(d.db, 'geo-db');
    assert.equal(d.client, 'geo');
    assert.equal(d.mongoPod, 'mongodb-geo-5ff578bcb8-x2w4n');
  }
  assert.deepEqual(analysisOf(d), { system_level: 'Application', fault_type: 'Authentication Issue' });
  // Without the URL in the logs, the database's name points at the same mongodb.
  const byDb = diagnose(
    facts({ pods, deployments, logs: new Map([['geo-84fbc958c7-mvkzb', 'not authorized on geo-db']]) }),
  );
  assert.equal(culprit(byDb), 'mongodb-geo');
});

test('diagnose: any other crash loop is the app misconfigured', () => {
  const pods = readPods(PODS_TABLE.split('\n').slice(0, 3).join('\n'));
  const logs = 'Read database URL: mongodb-geo:27777\npanic: no reachable servers';
  const services = readServices(list([service('mongodb-geo', 27017, 27017)]));
  const d = diagnose(facts({ pods, services, logs: new Map([['geo-84fbc958c7-mvkzb', logs]]) }));
  assert.equal(d.kind, 'app-misconfig');
  if (d.kind === 'app-misconfig')
    assert.match(d.detail ?? '', /mongodb-geo:27777, but mongodb-geo serves 27017/);
  assert.equal(culprit(d), 'geo');
  assert.deepEqual(analysisOf(d), { system_level: 'Application', fault_type: 'Misconfiguration' });
});

test('diagnose: a Pending pod the scheduler cannot place, from its condition or its events', () => {
  const pending = pod({
    name: 'user-service-5b549cc8dc-4wfmd',
    app: 'user-service',
    phase: 'Pending',
    unschedulable: "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector.",
  });
  const d = diagnose(facts({ pods: readPods(list([pending])) }));
  assert.equal(d.kind, 'unschedulable');
  assert.equal(culprit(d), 'user-service');
  assert.deepEqual(analysisOf(d), { system_level: 'Virtualization', fault_type: 'Dependency Problem' });
  const fromTable = readPods(
    'NAME                            READY   STATUS    RESTARTS   AGE\nuser-service-5b549cc8dc-4wfmd   0/1     Pending   0          30s',
  );
  const events =
    "Events:\n  Type     Reason            Age   From               Message\n  ----     ------            ----  ----               -------\n  Warning  FailedScheduling  30s   default-scheduler  0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector.";
  const described = diagnose(
    facts({ pods: fromTable, descriptions: new Map([['user-service-5b549cc8dc-4wfmd', events]]) }),
  );
  assert.equal(described.kind, 'unschedulable');
});

test('diagnose: all ready and consistent is healthy', () => {
  const d = diagnose(
    facts({
      pods: readPods(list([pod({ name: 'geo-84fbc958c7-mvkzb', app: 'geo', port: 8083 })])),
      deployments: readDeployments(list([deployment('geo', 1, 8083)])),
      services: readServices(list([service('geo', 8083, 8083)])),
    }),
  );
  assert.deepEqual(d, { kind: 'healthy' });
  assert.equal(culprit(d), undefined);
});

// --- Episode and quoting ----------------------------------------------------------------------

test('shellCall quotes for AIOpsLab’s parser and commandOf reads it back', () => {
  const cmd = `kubectl patch service a -n b --type=json -p '[{"op":"replace","value":9090}]'`;
  const call = shellCall(cmd);
  assert.equal(
    call,
    `exec_shell("kubectl patch service a -n b --type=json -p '[{\\"op\\":\\"replace\\",\\"value\\":9090}]'")`,
  );
  assert.equal(commandOf(fenced('thought', call)), cmd);
  assert.throws(() => shellCall('echo "x"'), /mangle/);
  assert.throws(() => shellCall('echo a\\b'), /mangle/);
  assert.equal(commandOf('no block'), null);
  assert.equal(commandOf('```\nsubmit("Yes")\n```'), null);
});

test('readEpisode pairs each reply with the observation after it', () => {
  const msg = (role: string, text: string) => ({ role, text, toolCalls: undefined });
  const e = readEpisode([
    msg(
      'system',
      'You are an expert DevOps engineer assigned to localize faults.\nNamespace: test-social-network\n',
    ),
    msg('user', 'instructions'),
    msg('user', 'Please take the next action'),
    msg('assistant', fenced('a', shellCall('kubectl get pods -n test-social-network'))),
    msg('user', 'No resources found\nPlease take the next action'),
    msg('assistant', 'garbage'),
    msg('user', 'Error parsing response: ...\nPlease take the next action'),
  ]);
  assert.equal(e.type, 'localization');
  assert.equal(e.namespace, 'test-social-network');
  assert.deepEqual(e.steps, [
    { command: 'kubectl get pods -n test-social-network', output: 'No resources found' },
    { command: null, output: 'Error parsing response: ...' },
  ]);
});

// --- The solver on canned observations --------------------------------------------------------

const BRIEF = (task: string) =>
  `You are an expert DevOps engineer assigned to ${task} in a deployed service.\n\nService Details:\nService Name: Social Network\nNamespace: test-ns\n`;

/** Plays a policy against `observe` (command → output) until it submits; returns the calls made. */
function playCanned(
  task: string,
  observe: (command: string, step: number) => string,
  model = 'scripted:solver',
): string[] {
  const messages = [
    { role: 'system', content: BRIEF(task) },
    { role: 'user', content: 'instructions' },
    { role: 'user', content: 'Please take the next action' },
  ];
  const calls: string[] = [];
  for (let step = 0; step < 30; step++) {
    const { parts } = scriptedAnswer({ model, messages } as never);
    const content = JSON.parse(parts.join('')).choices[0].message.content as string;
    const call = /```\n(.*)\n```/s.exec(content)?.[1] ?? '';
    calls.push(call);
    if (call.startsWith('submit(')) break;
    const command = commandOf(content) ?? '';
    messages.push(
      { role: 'assistant', content },
      { role: 'user', content: `${observe(command, step)}\nPlease take the next action` },
    );
  }
  return calls;
}

test('solver: unreadable observations are passed over, and it still submits', () => {
  const calls = playCanned(
    'detect anomalies',
    () => 'error: You must be logged in to the server (Unauthorized)',
  );
  assert.deepEqual(calls, [
    'exec_shell("kubectl get pods -n test-ns")',
    `exec_shell("kubectl get deployments -n test-ns -o custom-columns='NAME:.metadata.name,REPLICAS:.spec.replicas,READY:.status.readyReplicas,LABELS:.spec.template.metadata.labels,PORTS:.spec.template.spec.containers[*].ports[*].containerPort,NODE-SELECTOR:.spec.template.spec.nodeSelector'")`,
    `exec_shell("kubectl get services -n test-ns -o custom-columns='NAME:.metadata.name,SELECTOR:.spec.selector,PORTS:.spec.ports[*].port,TARGET-PORTS:.spec.ports[*].targetPort'")`,
    'submit("No")',
  ]);
});

test('wrong: two looks whatever they print, then the opposite of what they show', () => {
  const unreadable = playCanned('detect anomalies', () => 'error: Unauthorized', 'scripted:wrong');
  assert.deepEqual(unreadable, [
    `exec_shell("${getDeployments('test-ns')}")`,
    `exec_shell("${getServices('test-ns')}")`,
    'submit("Yes")',
  ]);
  const faulty = playCanned(
    'detect anomalies',
    (command) => (command.includes('deployments') ? DEPLOYMENTS_COLUMNS_TABLE : SERVICES_COLUMNS_TABLE),
    'scripted:wrong',
  );
  assert.equal(faulty.at(-1), 'submit("No")');
});

test('solver: a fix that does not take is checked a few times, then it submits', () => {
  const calls = playCanned('mitigate anomalies', (command) => {
    if (command.includes('get deployments'))
      return DEPLOYMENTS_COLUMNS_TABLE.split('\n')
        .filter((l) => !/^(text-service|jaeger) /.test(l))
        .join('\n')
        .replace(/^user-service {3}1 /m, 'user-service   0 ');
    if (command.startsWith('kubectl scale')) return 'Error from server (Forbidden): nope';
    // user-service has no pod, before and after the failed fix.
    if (command === 'kubectl get pods -n test-ns')
      return PODS_TABLE.split('\n')
        .filter((l) => !/geo|rate/.test(l))
        .join('\n');
    return list([]);
  });
  assert.equal(calls[3], 'exec_shell("kubectl scale deployment user-service -n test-ns --replicas=1")');
  assert.deepEqual(calls.slice(4), [
    ...Array(SOLVER_MAX_CHECKS).fill('exec_shell("kubectl get pods -n test-ns")'),
    'submit()',
  ]);
});
