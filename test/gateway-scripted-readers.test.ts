/**
 * The scripted solver's readers on real kubectl output shapes: tables, the policies' custom
 * columns, `-o json`, and the quoting of the commands that ask for them.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { commandOf, fenced, shellCall } from '../src/gateway/scripted-episode.ts';
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

// --- Fixtures in kubectl's shapes -------------------------------------------------------------
import {
  CRASH,
  DEPLOYMENTS_COLUMNS_TABLE,
  deployment,
  list,
  PODS_TABLE,
  pod,
  SERVICES_COLUMNS_TABLE,
  service,
} from './helpers/kubectl-shapes.ts';

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
