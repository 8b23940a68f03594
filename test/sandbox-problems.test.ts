import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EnvironmentError } from '../src/backends/environment.ts';
import {
  createSandboxEnvironment,
  findSandboxProblem,
  SANDBOX_PROBLEMS,
} from '../src/backends/sandbox/index.ts';

const signal = new AbortController().signal;
const shell = (command: string) => `\`\`\`\nexec_shell("${command.replace(/"/g, '\\"')}")\n\`\`\``;
const call = (text: string) => `\`\`\`\n${text}\n\`\`\``;

const SOCIAL = '-n test-social-network';
const HOTEL = '-n test-hotel-reservation';

/** Replies that fix each fault family (what a competent agent would run). */
const FIXES: Record<string, (target: string) => string[]> = {
  'k8s_target_port-misconfig': (t) => [
    shell(`kubectl get svc ${t} ${SOCIAL} -o yaml`),
    shell(`kubectl patch svc ${t} ${SOCIAL} -p '{"spec":{"ports":[{"port":9090,"targetPort":9090}]}}'`),
  ],
  scale_pod_zero_social_net: (t) => [shell(`kubectl scale deployment/${t} --replicas=1 ${SOCIAL}`)],
  assign_to_non_existent_node_social_net: (t) => [
    shell(
      `kubectl patch deploy ${t} ${SOCIAL} --type=json -p '[{"op":"remove","path":"/spec/template/spec/nodeSelector"}]'`,
    ),
  ],
  misconfig_app_hotel_res: () => [
    shell(`kubectl set image deploy/geo hotel-reserv-geo=yinfangchen/hotelreservation:latest ${HOTEL}`),
  ],
  revoke_auth_mongodb: (t) => {
    const db = t === 'mongodb-geo' ? 'geo-db' : 'rate-db';
    return [
      shell(
        `kubectl exec deploy/${t} ${HOTEL} -- mongo admin -u admin -p admin --authenticationDatabase admin --eval "db.grantRolesToUser('admin', [{role: 'readWrite', db: '${db}'}]);"`,
      ),
    ];
  },
};

const TARGETS: Record<string, string> = {
  'k8s_target_port-misconfig-1': 'user-service',
  'k8s_target_port-misconfig-2': 'text-service',
  'k8s_target_port-misconfig-3': 'post-storage-service',
  'scale_pod_zero_social_net-1': 'user-service',
  'assign_to_non_existent_node_social_net-1': 'user-service',
  'misconfig_app_hotel_res-1': 'geo',
  'revoke_auth_mongodb-1': 'mongodb-geo',
  'revoke_auth_mongodb-2': 'mongodb-rate',
};

const ANALYSIS: Record<string, [string, string]> = {
  'k8s_target_port-misconfig': ['Virtualization', 'Misconfiguration'],
  scale_pod_zero_social_net: ['Virtualization', 'Operation Error'],
  assign_to_non_existent_node_social_net: ['Virtualization', 'Dependency Problem'],
  misconfig_app_hotel_res: ['Application', 'Misconfiguration'],
  revoke_auth_mongodb: ['Application', 'Authentication Issue'],
};

function describeId(id: string): { family: string; task: string; variant: string } {
  if (id.includes('noop_')) return { family: id.slice('sandbox-'.length), task: 'detection', variant: '1' };
  const m = /^sandbox-(.+)-(detection|localization|analysis|mitigation)-(\d+)$/.exec(id)!;
  return { family: m[1]!, task: m[2]!, variant: m[3]! };
}

function plan(id: string, correct: boolean): string[] {
  const { family, task, variant } = describeId(id);
  if (family.startsWith('noop_')) return [call(`submit("${correct ? 'No' : 'Yes'}")`)];
  const target = TARGETS[`${family}-${variant}`]!;
  const investigate = shell(
    `kubectl get pods ${family.includes('hotel') || family.includes('revoke') ? HOTEL : SOCIAL}`,
  );
  if (task === 'detection') return [investigate, call(`submit("${correct ? 'Yes' : 'No'}")`)];
  if (task === 'localization') return [investigate, call(`submit(["${correct ? target : 'nginx-thrift'}"])`)];
  if (task === 'analysis') {
    const [system, fault] = correct ? ANALYSIS[family]! : ['Hardware', 'Code Defect'];
    return [investigate, call(`submit({"system_level": "${system}", "fault_type": "${fault}"})`)];
  }
  return [investigate, ...(correct ? FIXES[family]!(target) : []), call('submit()')];
}

async function run(id: string, replies: string[]) {
  let clock = 1_000;
  const env = createSandboxEnvironment(id, { now: () => (clock += 500) });
  const start = await env.start(signal);
  const steps = [];
  for (const reply of replies) steps.push(await env.step(reply, signal));
  const evaluation = await env.finish(signal);
  return { start, steps, evaluation };
}

function scoredCorrect(task: string, results: Record<string, unknown>): boolean {
  if (task === 'detection') return results['Detection Accuracy'] === 'Correct';
  return results.success === true;
}

describe('sandbox catalogue', () => {
  it('offers at least 12 problems over all four task types, ids prefixed sandbox-', () => {
    assert.ok(SANDBOX_PROBLEMS.length >= 12);
    assert.deepEqual(
      new Set(SANDBOX_PROBLEMS.map((p) => p.task_type)),
      new Set(['detection', 'localization', 'analysis', 'mitigation']),
    );
    for (const problem of SANDBOX_PROBLEMS) assert.ok(problem.id.startsWith('sandbox-'));
    assert.ok(findSandboxProblem('sandbox-noop_detection_social_network-1'));
    assert.throws(
      () => createSandboxEnvironment('sandbox-nope'),
      (e) => e instanceof EnvironmentError && e.code === 'unknown_problem',
    );
  });

  for (const problem of SANDBOX_PROBLEMS) {
    const { task } = describeId(problem.id);
    it(`${problem.id}: a correct episode scores correct, a wrong one does not`, async () => {
      const good = await run(problem.id, plan(problem.id, true));
      assert.equal(good.steps.at(-1)!.submitted, true);
      assert.equal(good.steps.at(-1)!.observation, '1');
      assert.ok(scoredCorrect(task, good.evaluation.results), JSON.stringify(good.evaluation.results));
      const bad = await run(problem.id, plan(problem.id, false));
      assert.ok(!scoredCorrect(task, bad.evaluation.results), JSON.stringify(bad.evaluation.results));
      assert.equal(good.evaluation.results.steps, plan(problem.id, true).length);
    });
  }
});

describe('sandbox episode protocol', () => {
  it('starts with AIOpsLab text and APIs in dir() order', async () => {
    const { start } = await run('sandbox-k8s_target_port-misconfig-localization-1', []);
    assert.equal(start.first_input, 'Please take the next action');
    assert.match(start.task_description, /^You are an expert DevOps engineer assigned to localize faults/);
    assert.match(start.task_description, /Service Name: Social Network\nNamespace: test-social-network/);
    assert.deepEqual(Object.keys(start.apis), [
      'exec_shell',
      'get_logs',
      'get_metrics',
      'get_traces',
      'read_metrics',
      'read_traces',
      'submit',
    ]);
    assert.ok(start.instructions.startsWith('            You will respond with one of the above APIs'));
  });

  it('frames observations, costs a step for a parse error, reports invalid actions and TypeErrors', async () => {
    const { steps, evaluation } = await run('sandbox-scale_pod_zero_social_net-detection-1', [
      '```bash\nexec_shell("ls")\n```',
      call('foo()'),
      call('submit()'),
      call('submit(has_anomaly="Yes")'),
    ]);
    assert.match(steps[0]!.observation, /^Error parsing response: \nFormat validation failure/);
    assert.equal(steps[0]!.next_input, `${steps[0]!.observation}\nPlease take the next action`);
    assert.equal(steps[1]!.observation, 'Invalid action: foo');
    assert.equal(
      steps[2]!.observation,
      "DetectionActions.submit() missing 1 required positional argument: 'has_anomaly'",
    );
    assert.equal(steps[3]!.done, true);
    assert.deepEqual(evaluation.solution, []);
    assert.equal(evaluation.results['Detection Accuracy'], 'Invalid Format');
    assert.equal(evaluation.results.steps, 4);
    assert.deepEqual(Object.keys(evaluation.results), [
      'Detection Accuracy',
      'TTD',
      'steps',
      'in_tokens',
      'out_tokens',
    ]);
  });

  it('evaluates with no solution after the step limit', async () => {
    const { evaluation } = await run('sandbox-revoke_auth_mongodb-localization-1', [
      shell('kubectl get pods -n test-hotel-reservation'),
    ]);
    assert.equal(evaluation.solution, null);
    assert.equal(evaluation.results['Localization Accuracy'], 0);
    assert.equal(evaluation.results.success, false);
  });

  it('accepts geo for revoke_auth localization, as AIOpsLab does', async () => {
    const { evaluation } = await run('sandbox-revoke_auth_mongodb-localization-1', [call('submit(["geo"])')]);
    assert.equal(evaluation.results.success, true);
    const partial = await run('sandbox-k8s_target_port-misconfig-localization-2', [
      call('submit(["text-service", "nginx-thrift"])'),
    ]);
    assert.equal(partial.evaluation.results['Localization Accuracy'], 50);
    assert.equal(partial.evaluation.results.is_subset, true);
    assert.equal(partial.evaluation.results.success, false);
  });

  it('rejects steps after cancel, idempotently', async () => {
    const env = createSandboxEnvironment('sandbox-noop_detection_hotel_reservation-1');
    await env.start(signal);
    await env.cancel();
    await env.cancel();
    await assert.rejects(
      env.step(call('submit("No")'), signal),
      (e) => e instanceof EnvironmentError && e.code === 'cancelled',
    );
  });

  it('is deterministic: the same replies give the same observations', async () => {
    const replies = [
      shell('kubectl get pods -n test-hotel-reservation -o wide'),
      shell('kubectl describe pod -n test-hotel-reservation geo'),
      call('get_logs("test-hotel-reservation", "geo")'),
      call('get_metrics("test-hotel-reservation", 5)'),
      call('get_traces("test-hotel-reservation", 5)'),
      shell('kubectl get events -n test-hotel-reservation'),
    ];
    const a = await run('sandbox-misconfig_app_hotel_res-detection-1', replies);
    const b = await run('sandbox-misconfig_app_hotel_res-detection-1', replies);
    assert.deepEqual(a.steps, b.steps);
    assert.match(a.steps[1]!.observation, /CrashLoopBackOff/);
    assert.match(a.steps[2]!.observation, /Read database URL: mongodb-geo:27777/);
  });

  it('reads exported metrics and traces back', async () => {
    const env = createSandboxEnvironment('sandbox-k8s_target_port-misconfig-detection-1');
    await env.start(signal);
    const metrics = await env.step(call('get_metrics("test-social-network", 1)'), signal);
    const dir = /directory: (\S+)/.exec(metrics.observation)![1]!;
    const cpu = await env.step(
      call(`read_metrics("${dir}/container/kpi_container_cpu_usage_seconds_total.csv")`),
      signal,
    );
    assert.match(cpu.observation, /timestamp\s+cmdb_id\s+kpi_name\s+value/);
    const traces = await env.step(call('get_traces("test-social-network", 2)'), signal);
    const path = /exported to: (\S+)/.exec(traces.observation)![1]!;
    const rows = await env.step(call(`read_traces("${path}")`), signal);
    assert.match(rows.observation, /trace_id\s+span_id/);
    assert.match(rows.observation, /True/);
    const missing = await env.step(call('read_metrics("/nope.csv")'), signal);
    assert.equal(missing.observation, "error: Metrics file '/nope.csv' not found.");
  });
});
