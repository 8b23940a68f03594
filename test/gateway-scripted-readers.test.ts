/**
 * The scripted solver's parts, on real kubectl output shapes: the readers (tables, the policies'
 * custom columns, `-o json`),
 * the diagnosis of each symptom, the episode rebuilt from a stock client's messages, and the
 * shell-call quoting AIOpsLab's parser needs.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { scriptedAnswer } from '../src/gateway/scripted.ts';
import { analysisOf, culprit, diagnose, type Facts } from '../src/gateway/scripted-diagnose.ts';
import { commandOf, fenced, readEpisode, shellCall } from '../src/gateway/scripted-episode.ts';
import {
  DEPLOYMENT_COLUMNS,
  getDeployments,
  getServices,
  readDeployments,
  readJson,
  readLabelMap,
  readPods,
  readServices,
  readTable,
  SERVICE_COLUMNS,
} from '../src/gateway/scripted-kubectl-read.ts';
import { SOLVER_MAX_CHECKS } from '../src/gateway/scripted-solver.ts';

// --- Fixtures in kubectl's shapes -------------------------------------------------------------

const PODS_TABLE = [
  'NAME                       READY   STATUS             RESTARTS      AGE',
  'geo-84fbc958c7-mvkzb       0/1     CrashLoopBackOff   5 (30s ago)   4m12s',
  'profile-8b6dd7c6c-9jqlp    1/1     Running            0             4m12s',
  'rate-7bdc978679-bj5ss      0/1     Pending            0             12s',
].join('\n');

/**
 * `get deployments -o custom-columns=DEPLOYMENT_COLUMNS` as kubectl prints it: maps in Go's
 * `map[k:v]`, `[*]` values comma-joined, `<none>` for a missing field (no ready replica, no node
 * selector).
 */
const DEPLOYMENTS_COLUMNS_TABLE = [
  'NAME           REPLICAS   READY    LABELS                                                PORTS       NODE-SELECTOR',
  'user-service   1          <none>   map[app:user-service service:user-service]            9090        map[kubernetes.io/hostname:extra-node]',
  'text-service   0          <none>   map[app:text-service service:text-service]            9090        <none>',
  'jaeger         1          1        map[app:jaeger service:jaeger]                        14269,5778  <none>',
].join('\n');

/** `get services -o custom-columns=SERVICE_COLUMNS`; the sandbox spells maps as JSON. */
const SERVICES_COLUMNS_TABLE = [
  'NAME           SELECTOR                     PORTS        TARGET-PORTS',
  'user-service   {"service":"user-service"}   9090         9999',
  'jaeger         {"service":"jaeger"}         14269,5778   14269,http',
  'headless       <none>                       <none>       <none>',
].join('\n');

interface PodSpec {
  name: string;
  app: string;
  port?: number;
  state?: Record<string, unknown>;
  ready?: boolean;
  restarts?: number;
  phase?: string;
  unschedulable?: string;
}

function pod(s: PodSpec) {
  const rs = s.name.split('-').slice(0, -1).join('-');
  const statuses =
    s.phase === 'Pending'
      ? undefined
      : [
          {
            name: `hotel-reserv-${s.app}`,
            ready: s.ready ?? true,
            restartCount: s.restarts ?? 0,
            state: s.state ?? { running: { startedAt: '2025-01-01T00:00:00Z' } },
            image: 'yinfangchen/hotelreservation:latest',
          },
        ];
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: s.name,
      namespace: 'test-ns',
      labels: { 'io.kompose.service': s.app, 'pod-template-hash': rs.split('-').at(-1) },
      ownerReferences: [
        { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: rs, controller: true, blockOwnerDeletion: true },
      ],
    },
    spec: {
      containers: [
        {
          name: `hotel-reserv-${s.app}`,
          image: 'yinfangchen/hotelreservation:latest',
          ports: s.port ? [{ containerPort: s.port, protocol: 'TCP' }] : undefined,
        },
      ],
      ...(s.unschedulable ? { nodeSelector: { 'kubernetes.io/hostname': 'extra-node' } } : {}),
    },
    status: {
      phase: s.phase ?? 'Running',
      conditions: s.unschedulable
        ? [
            {
              type: 'PodScheduled',
              status: 'False',
              reason: 'Unschedulable',
              message: s.unschedulable,
            },
          ]
        : [{ type: 'PodScheduled', status: 'True' }],
      ...(statuses ? { containerStatuses: statuses } : {}),
    },
  };
}

function deployment(name: string, replicas: number, port?: number) {
  const labels = { 'io.kompose.service': name };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: 'test-ns', labels },
    spec: {
      replicas,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: { containers: [{ name, ports: port ? [{ containerPort: port, protocol: 'TCP' }] : [] }] },
      },
    },
    status: replicas > 0 ? { replicas, readyReplicas: replicas, availableReplicas: replicas } : {},
  };
}

function service(name: string, port: number, targetPort: number | string) {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: 'test-ns' },
    spec: {
      clusterIP: '10.96.0.12',
      ports: [{ name: String(port), port, protocol: 'TCP', targetPort }],
      selector: { 'io.kompose.service': name },
      type: 'ClusterIP',
    },
  };
}

const list = (items: unknown[]) =>
  JSON.stringify({ apiVersion: 'v1', items, kind: 'List', metadata: { resourceVersion: '' } }, null, 4);

const CRASH = {
  waiting: { reason: 'CrashLoopBackOff', message: 'back-off 40s restarting failed container' },
};

function facts(over: Partial<Facts>): Facts {
  return { pods: [], deployments: [], services: [], logs: new Map(), descriptions: new Map(), ...over };
}

// --- Readers ----------------------------------------------------------------------------------

test('readTable cuts cells at the header positions (cells may hold spaces)', () => {
  const rows = readTable(PODS_TABLE);
  assert.equal(rows.length, 3);
  assert.deepEqual(rows[0], {
    NAME: 'geo-84fbc958c7-mvkzb',
    READY: '0/1',
    STATUS: 'CrashLoopBackOff',
    RESTARTS: '5 (30s ago)',
    AGE: '4m12s',
  });
  assert.deepEqual(readTable('Error from server (NotFound): namespaces "x" not found'), []);
  assert.deepEqual(readTable('No resources found in test-ns namespace.'), []);
});

test('readPods reads the default table', () => {
  const pods = readPods(PODS_TABLE);
  assert.deepEqual(
    pods.map((p) => [p.name, p.status, p.ready, p.restarts]),
    [
      ['geo-84fbc958c7-mvkzb', 'CrashLoopBackOff', false, 5],
      ['profile-8b6dd7c6c-9jqlp', 'Running', true, 0],
      ['rate-7bdc978679-bj5ss', 'Pending', false, 0],
    ],
  );
});

test('readPods reads -o json: status like kubectl prints it, ports, owner, scheduling', () => {
  const out = list([
    pod({ name: 'geo-84fbc958c7-mvkzb', app: 'geo', port: 8083, state: CRASH, ready: false, restarts: 5 }),
    pod({ name: 'profile-8b6dd7c6c-9jqlp', app: 'profile', port: 8081 }),
    pod({
      name: 'rate-7bdc978679-bj5ss',
      app: 'rate',
      phase: 'Pending',
      unschedulable: "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector.",
    }),
  ]);
  const [geo, profile, rate] = readPods(out);
  assert.equal(geo?.status, 'CrashLoopBackOff');
  assert.equal(geo?.ready, false);
  assert.equal(geo?.restarts, 5);
  assert.deepEqual(geo?.containerPorts, [8083]);
  assert.equal(geo?.owner, 'geo-84fbc958c7');
  assert.equal(geo?.labels['io.kompose.service'], 'geo');
  assert.equal(profile?.status, 'Running');
  assert.equal(profile?.ready, true);
  assert.equal(rate?.status, 'Pending');
  assert.equal(rate?.ready, false);
  assert.match(rate?.unschedulable ?? '', /node affinity\/selector/);
  assert.deepEqual(rate?.nodeSelector, { 'kubernetes.io/hostname': 'extra-node' });
  // One pod (`kubectl get pod x -o json`) and a warning line before the document.
  assert.equal(
    readPods(`Warning: something\n${JSON.stringify(pod({ name: 'a-1234567-abcde', app: 'a' }))}`).length,
    1,
  );
});

test('readDeployments reads JSON (replicas default 1) and the table', () => {
  const ds = readDeployments(
    list([deployment('user-service', 0, 9090), deployment('text-service', 1, 9090)]),
  );
  assert.deepEqual(
    ds.map((d) => [d.name, d.replicas, d.readyReplicas, d.containerPorts]),
    [
      ['user-service', 0, 0, [9090]],
      ['text-service', 1, 1, [9090]],
    ],
  );
  const noReplicas = { ...deployment('x', 1), spec: { ...deployment('x', 1).spec, replicas: undefined } };
  assert.equal(readDeployments(JSON.stringify(noReplicas))[0]?.replicas, 1);
  const table = [
    'NAME           READY   UP-TO-DATE   AVAILABLE   AGE',
    'user-service   0/0     0            0           5m',
    'text-service   1/1     1            1           5m',
  ].join('\n');
  assert.deepEqual(
    readDeployments(table).map((d) => [d.name, d.replicas]),
    [
      ['user-service', 0],
      ['text-service', 1],
    ],
  );
});

test('readDeployments reads the custom columns: replicas, ready, template labels, ports, node selector', () => {
  const [user, text, jaeger] = readDeployments(DEPLOYMENTS_COLUMNS_TABLE);
  assert.deepEqual(user, {
    name: 'user-service',
    replicas: 1,
    readyReplicas: 0,
    selector: {},
    templateLabels: { app: 'user-service', service: 'user-service' },
    containerPorts: [9090],
    nodeSelector: { 'kubernetes.io/hostname': 'extra-node' },
  });
  assert.equal(text?.replicas, 0);
  assert.deepEqual(text?.nodeSelector, {});
  assert.deepEqual(jaeger?.containerPorts, [14269, 5778]);
  assert.equal(jaeger?.readyReplicas, 1);
  // The services' columns are not deployments.
  assert.deepEqual(readDeployments(SERVICES_COLUMNS_TABLE), []);
});

test('readServices reads the custom columns, pairing ports with targets by position', () => {
  const [user, jaeger, headless] = readServices(SERVICES_COLUMNS_TABLE);
  assert.deepEqual(user, {
    name: 'user-service',
    selector: { service: 'user-service' },
    ports: [{ port: 9090, targetPort: 9999 }],
  });
  assert.deepEqual(jaeger?.ports, [
    { port: 14269, targetPort: 14269 },
    { port: 5778, targetPort: 'http' },
  ]);
  assert.deepEqual(headless, { name: 'headless', selector: {}, ports: [] });
  // One service (the check after a fix): its selector's braces are not a JSON document.
  const one = SERVICES_COLUMNS_TABLE.split('\n').slice(0, 2).join('\n');
  assert.deepEqual(readServices(one), [user]);
  assert.deepEqual(readDeployments(DEPLOYMENTS_COLUMNS_TABLE.split('\n').slice(0, 2).join('\n')).length, 1);
});

test('readLabelMap reads the spellings of a map in a cell', () => {
  const labels = { app: 'geo', 'io.kompose.service': 'geo' };
  assert.deepEqual(readLabelMap('map[app:geo io.kompose.service:geo]'), labels);
  assert.deepEqual(readLabelMap('{"app":"geo","io.kompose.service":"geo"}'), labels);
  assert.deepEqual(readLabelMap('app=geo,io.kompose.service=geo'), labels);
  assert.deepEqual(readLabelMap('map[]'), {});
  assert.deepEqual(readLabelMap(''), {});
  assert.deepEqual(readLabelMap('{not json'), {});
});

test('the policies ask for their columns in quotes a shell and AIOpsLab’s parser leave alone', () => {
  assert.equal(
    getDeployments('test-ns'),
    `kubectl get deployments -n test-ns -o custom-columns='${DEPLOYMENT_COLUMNS}'`,
  );
  assert.equal(
    getServices('test-ns', 'user-service'),
    `kubectl get service user-service -n test-ns -o custom-columns='${SERVICE_COLUMNS}'`,
  );
  for (const command of [getDeployments('test-ns'), getServices('test-ns')]) {
    assert.doesNotMatch(command, /["\\]/);
    assert.equal(commandOf(fenced('look', shellCall(command))), command);
  }
});

test('readServices reads -o json; other tables and errors read as nothing', () => {
  const [s] = readServices(list([service('user-service', 9090, 9999)]));
  assert.deepEqual(s, {
    name: 'user-service',
    selector: { 'io.kompose.service': 'user-service' },
    ports: [{ port: 9090, targetPort: 9999 }],
  });
  assert.deepEqual(readServices('NAME   TYPE   CLUSTER-IP\nfoo    ClusterIP   10.0.0.1'), []);
  assert.deepEqual(readServices('error: the server doesn\'t have a resource type "servics"'), []);
  assert.equal(readJson('not json'), undefined);
});

test('a mixed List (get pods,deployments,services) is read per kind', () => {
  const out = list([
    pod({ name: 'geo-84fbc958c7-mvkzb', app: 'geo', port: 8083 }),
    deployment('geo', 1, 8083),
    service('geo', 8083, 8083),
  ]);
  assert.equal(readPods(out).length, 1);
  assert.equal(readDeployments(out).length, 1);
  assert.equal(readServices(out).length, 1);
});

// --- Diagnosis --------------------------------------------------------------------------------

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
