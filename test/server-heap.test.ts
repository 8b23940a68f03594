import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const HEAP = fileURLToPath(new URL('../src/server/heap.ts', import.meta.url));

/**
 * Runs `body` in a node of its own (the flag is process-wide) with heap.ts imported as `heap`
 * and V8's setFlagsFromString recording its calls in `flags`; prints what `body` returns.
 */
function run(body: string, nodeArgs: string[] = []): unknown {
  const script = `import v8 from 'node:v8';
    const flags = [];
    const set = v8.setFlagsFromString;
    v8.setFlagsFromString = (f) => { flags.push(f); set(f); };
    const heap = await import(${JSON.stringify(HEAP)});
    console.log(JSON.stringify((() => { ${body} })()));`;
  const out = execFileSync(
    process.execPath,
    [...nodeArgs, '--import', 'tsx', '--input-type=module', '-e', script],
    { encoding: 'utf8' },
  );
  return JSON.parse(out.trim());
}

describe('serve’s heap policy', () => {
  it('sets the base factor, tightens it while exports stream, restores it after the last', () => {
    const flags = run(`
      heap.applyHeapPolicy(100, 60);
      const a = heap.heapWhileExporting();
      const b = heap.heapWhileExporting();
      a(); a();
      const during = flags.length;
      b();
      return { flags, during };`);
    assert.deepEqual(flags, {
      flags: ['--heap-growing-percent=100', '--heap-growing-percent=60', '--heap-growing-percent=100'],
      during: 2,
    });
  });

  it('changes nothing where serve did not take it, or where node was given the flag', () => {
    assert.deepEqual(run('heap.heapWhileExporting()(); return flags;'), []);
    const given = run(
      'const taken = heap.applyHeapPolicy(100, 60); heap.heapWhileExporting()(); return { taken, flags };',
      ['--heap-growing-percent=30'],
    );
    assert.deepEqual(given, { taken: false, flags: [] });
    assert.deepEqual(run('heap.applyHeapPolicy(100, 100); heap.heapWhileExporting()(); return flags;'), [
      '--heap-growing-percent=100',
    ]);
  });
});
