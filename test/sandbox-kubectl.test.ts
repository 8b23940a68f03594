import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createSandboxEnvironment } from '../src/backends/sandbox/index.ts';

const signal = new AbortController().signal;

async function shellSession(problemId: string) {
  const env = createSandboxEnvironment(problemId, { now: () => 0 });
  await env.start(signal);
  return async (command: string) => {
    const reply = `\`\`\`\nexec_shell("${command.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}")\n\`\`\``;
    return (await env.step(reply, signal)).observation;
  };
}

describe('sandbox kubectl', () => {
  it('lists pods in kubectl table shape, sorted, with -o wide and -A', async () => {
    const sh = await shellSession('sandbox-misconfig_app_hotel_res-detection-1');
    const pods = await sh('kubectl get pods -n test-hotel-reservation');
    const lines = pods.trimEnd().split('\n');
    assert.match(lines[0]!, /^NAME {3,}READY {3}STATUS {13}RESTARTS {6}AGE$/);
    assert.match(pods, /\ngeo-\w+-\w{5} +0\/1 +CrashLoopBackOff +\d+ \(\d+s ago\) +\dm\d+s\n/);
    const names = lines.slice(1).map((l) => l.split(' ')[0]!);
    assert.deepEqual(names, [...names].sort());
    assert.match(
      await sh('kubectl get po -n test-hotel-reservation -o wide'),
      /IP +NODE +NOMINATED NODE +READINESS GATES/,
    );
    assert.match(await sh('kubectl get pods -A'), /^NAMESPACE +NAME/);
    assert.equal(await sh('kubectl get pods'), 'No resources found in default namespace.\n');
  });

  it('shows the target-port fault in svc json/yaml/jsonpath, describe and endpoints', async () => {
    const sh = await shellSession('sandbox-k8s_target_port-misconfig-analysis-2');
    const json = JSON.parse(await sh('kubectl get svc text-service -n test-social-network -o json'));
    assert.equal(json.spec.ports[0].targetPort, 9999);
    assert.equal(json.kind, 'Service');
    assert.match(
      await sh('kubectl get svc text-service -n test-social-network -o yaml'),
      /\n {2}- name: "9090"\n {4}port: 9090\n {4}protocol: TCP\n {4}targetPort: 9999\n/,
    );
    assert.equal(
      await sh(
        "kubectl get svc text-service -n test-social-network -o jsonpath='{.spec.ports[0].targetPort}'",
      ),
      '9999',
    );
    assert.match(
      await sh('kubectl describe svc text-service -n test-social-network'),
      /TargetPort: +9999\/TCP\nEndpoints: +10\.244\.1\.\d+:9999\n/,
    );
    assert.match(
      await sh('kubectl get ep -n test-social-network | grep text-service'),
      /text-service +10\.244\.1\.\d+:9999/,
    );
    const pod = JSON.parse(await sh('kubectl get pods -n test-social-network -l app=text-service -o json'));
    assert.equal(pod.items[0].spec.containers[0].ports[0].containerPort, 9090);
    assert.match(
      await sh('kubectl logs deploy/compose-post-service -n test-social-network --tail=2'),
      /Host: text-service Port: 9090>: Connection refused|Failed to connect text-service-client/,
    );
  });

  it('answers errors like kubectl and the shell, framed like Shell.local_exec', async () => {
    const sh = await shellSession('sandbox-noop_detection_social_network-1');
    assert.equal(
      await sh('kubectl foo'),
      '[ERROR] Command execution failed: error: unknown command "foo" for "kubectl"\n',
    );
    assert.equal(
      await sh('foo --bar'),
      '[ERROR] Command execution failed: bash: line 1: foo: command not found\n',
    );
    assert.equal(
      await sh('kubectl get pod nope -n test-social-network'),
      '[ERROR] Command execution failed: Error from server (NotFound): pods "nope" not found\n',
    );
    assert.equal(
      await sh('kubectl edit svc user-service'),
      'Error: Cannot use `kubectl edit`. Use `kubectl patch` instead.',
    );
    assert.equal(
      await sh('kubectl logs -f user-service'),
      'Error: Cannot use `kubectl logs -f`. Use `kubectl logs` instead.',
    );
    assert.match(
      await sh('kubectl get pods -w -n test-social-network'),
      /^Failed to execute command: .*\nError: Command '.*' timed out after 30 seconds$/,
    );
    assert.equal(await sh('echo hello'), 'hello\n');
    assert.equal(await sh('kubectl get deploy -n test-social-network --no-headers | wc -l'), '27\n');
    assert.equal(
      await sh(
        'kubectl patch svc user-service -n test-social-network -p \'{"spec":{"ports":[{"port":9090,"targetPort":"9090"}]}}\'',
      ),
      '[ERROR] Command execution failed: The Service "user-service" is invalid: spec.ports[0].targetPort: Invalid value: "9090": must contain at least one letter (a-z)\n',
    );
  });

  it('applies fixes: scale, delete pod (recreated), rollout undo', async () => {
    const sh = await shellSession('sandbox-misconfig_app_hotel_res-mitigation-1');
    assert.equal(
      await sh('kubectl rollout undo deployment/geo -n test-hotel-reservation'),
      'deployment.apps/geo rolled back\n',
    );
    assert.match(await sh('kubectl get deploy geo -n test-hotel-reservation'), /geo +1\/1 +1 +1/);
    const before = await sh(
      'kubectl get pods -n test-hotel-reservation -l io.kompose.service=search -o name',
    );
    const name = before.trim().replace('pod/', '');
    assert.equal(await sh(`kubectl delete pod ${name} -n test-hotel-reservation`), `pod "${name}" deleted\n`);
    const after = await sh('kubectl get pods -n test-hotel-reservation -l io.kompose.service=search -o name');
    assert.notEqual(after, before);
    assert.equal(
      await sh('kubectl scale deploy search --replicas=2 -n test-hotel-reservation'),
      'deployment.apps/search scaled\n',
    );
    assert.equal(
      (await sh('kubectl get pods -n test-hotel-reservation -l io.kompose.service=search --no-headers'))
        .trim()
        .split('\n').length,
      2,
    );
  });

  it('never throws on junk commands (deterministic fuzz)', async () => {
    const sh = await shellSession('sandbox-revoke_auth_mongodb-detection-1');
    const words = [
      'kubectl',
      'get',
      'describe',
      'logs',
      'patch',
      'exec',
      'scale',
      'rollout',
      'pods',
      'svc',
      'deploy/geo',
      '-n',
      'test-hotel-reservation',
      '-o',
      'json',
      'yaml',
      'jsonpath={.items[*]}',
      '--',
      'mongo',
      '--eval',
      "'",
      '"',
      '|',
      'grep',
      '-p',
      '{',
      '}',
      '[',
      ']',
      '&&',
      ';',
      'x=1',
      '--replicas=-1',
      '-l',
      'a=b',
      '\\',
      'set',
      'env',
      'image',
      'top',
      'delete',
      'all',
      'geo',
      'mongodb-geo',
      '2>&1',
      '--type=json',
      'undo',
      'restart',
      'status',
    ];
    let seed = 42;
    const next = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed;
    };
    for (let i = 0; i < 300; i++) {
      const length = 1 + (next() % 8);
      const command = Array.from({ length }, () => words[next() % words.length]).join(' ');
      const output = await sh(command);
      assert.equal(typeof output, 'string', command);
    }
  });
});
