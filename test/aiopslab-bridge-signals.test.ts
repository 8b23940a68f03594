/**
 * The AIOpsLab bridge under cancels and signals (a parent's cancel, the worker's SIGTERM, a
 * second SIGTERM, AIOpsLab code that ignores it), against the fake AIOpsLab
 * (test/helpers/aiopslab-bridge.ts).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { block, DETECTION, type Msg, run, startBridge } from './helpers/aiopslab-bridge.ts';

test('cancel while the parent holds a step: the orchestrator recovers the fault, failed cancelled', async (t) => {
  const b = startBridge(t, run(DETECTION));
  await b.next('action_request');
  b.send({ type: 'cancel' });
  const final = await b.next('final');
  assert.equal(final.status, 'failed');
  assert.deepEqual(final.error, { code: 'cancelled', message: 'cancelled (cancel)', reason: 'cancel' });
  assert.equal(final.fault_recovered, true);
  assert.equal((await b.exit).code, 3);
  assert.deepEqual(
    b.events().map((e) => e.event),
    ['deploy', 'inject', 'recover'],
  );
  assert.match(b.stderr(), /Some exception happened\. Recovering the injected fault/);
});

test('cancel during a hung init_problem interrupts it; nothing was injected, nothing to recover', async (t) => {
  const b = startBridge(t, run(DETECTION), { FAKE_AIOPSLAB_HANG: 'init' });
  await b.next('phase');
  while (!b.events().some((e) => e.event === 'hang')) await new Promise((r) => setTimeout(r, 50));
  b.send({ type: 'cancel' });
  const final = await b.next('final');
  assert.equal((final.error as Msg).code, 'cancelled');
  assert.equal(final.fault_injected, false);
  assert.equal((await b.exit).code, 3);
});

test('SIGTERM during a step: the fault is recovered, then the bridge exits', async (t) => {
  const b = startBridge(t, run(DETECTION));
  await b.next('action_request');
  b.child.kill('SIGTERM');
  const final = await b.next('final');
  assert.deepEqual(final.error, { code: 'cancelled', message: 'cancelled (sigterm)', reason: 'sigterm' });
  assert.equal(final.fault_recovered, true);
  assert.equal((await b.exit).code, 3);
  assert.ok(b.events().some((e) => e.event === 'recover'));
});

/** Signal numbers a thread of `pid` blocks, by thread id (SigBlk in /proc/<pid>/task/<tid>/status). */
function blockedSignals(pid: number): Map<number, Set<number>> {
  const out = new Map<number, Set<number>>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const hex = /SigBlk:\s+([0-9a-f]+)/.exec(readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'))![1]!;
    const mask = BigInt(`0x${hex}`);
    const blocked = new Set<number>();
    for (let sig = 1; sig <= 64; sig++) if ((mask >> BigInt(sig - 1)) & 1n) blocked.add(sig);
    out.set(Number(tid), blocked);
  }
  return out;
}

test('only the main thread can take SIGTERM or SIGUSR1, so one sent while it writes a line still wakes it', async (t) => {
  // Output.send blocks both in the main thread while it writes; a signal sent then went to any
  // thread not blocking it (the stdin thread), and a main thread asleep in the event loop never
  // ran the handler: SIGTERM right after an action_request was lost now and then.
  const b = startBridge(t, run(DETECTION));
  await b.next('action_request');
  const threads = blockedSignals(b.child.pid!);
  assert.ok(threads.size >= 2, 'the main and the stdin thread');
  for (const [tid, blocked] of threads) {
    if (tid === b.child.pid) continue;
    assert.ok(blocked.has(15) && blocked.has(10), `thread ${tid} blocks SIGTERM and SIGUSR1`);
  }
  // The main thread may still be inside the write that sent the action_request: it takes them
  // once that ends.
  const deadline = Date.now() + 5000;
  let main = threads.get(b.child.pid!)!;
  while ((main.has(15) || main.has(10)) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    main = blockedSignals(b.child.pid!).get(b.child.pid!)!;
  }
  assert.ok(!main.has(15) && !main.has(10), 'the main thread takes them');
  b.child.kill('SIGTERM');
  assert.equal((await b.next('final')).fault_recovered, true);
});

test('a second SIGTERM while a step hangs ends the bridge at once with its own code', async (t) => {
  const b = startBridge(t, run(DETECTION), { FAKE_AIOPSLAB_HANG: 'step:1' });
  const req = await b.next('action_request');
  b.send({ type: 'reply', step: req.step, content: block('exec_shell("ls")') });
  while (!b.events().some((e) => e.event === 'hang')) await new Promise((r) => setTimeout(r, 50));
  b.child.kill('SIGTERM');
  // The first one only asks: the hung step keeps the bridge (and its fault) alive.
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(b.child.exitCode, null);
  b.child.kill('SIGTERM');
  assert.equal((await b.exit).code, 4);
  const final = await b.next('final');
  assert.equal((final.error as Msg).code, 'killed');
  assert.equal(final.cluster_dirty, true);
  assert.ok(!b.events().some((e) => e.event === 'recover'));
});

test('with SIGTERM ignored by AIOpsLab code the episode goes on (the worker must SIGKILL)', async (t) => {
  const b = startBridge(t, run(DETECTION), { FAKE_AIOPSLAB_IGNORE_SIGTERM: '1' });
  const req = await b.next('action_request');
  b.child.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 300));
  b.send({ type: 'reply', step: req.step, content: block('submit("Yes")') });
  assert.equal((await b.next('final')).status, 'completed');
});

test('SIGTERM during a hung init_problem: interrupted, failed cancelled, nothing left injected', async (t) => {
  const b = startBridge(t, run(DETECTION), { FAKE_AIOPSLAB_HANG: 'init' });
  while (!b.events().some((e) => e.event === 'hang')) await new Promise((r) => setTimeout(r, 50));
  b.child.kill('SIGTERM');
  const final = await b.next('final');
  assert.deepEqual(final.error, { code: 'cancelled', message: 'cancelled (sigterm)', reason: 'sigterm' });
  assert.equal((await b.exit).code, 3);
});
