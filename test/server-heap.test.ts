import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const HEAP = fileURLToPath(new URL('../src/server/heap.ts', import.meta.url));

/** applyHeapGrowingPercent(percent) in a node of its own (the flag is process-wide). */
function applied(percent: number, nodeArgs: string[] = []): boolean {
  const script = `import { applyHeapGrowingPercent } from ${JSON.stringify(HEAP)};
    console.log(applyHeapGrowingPercent(${percent}));`;
  const out = execFileSync(
    process.execPath,
    [...nodeArgs, '--import', 'tsx', '--input-type=module', '-e', script],
    {
      encoding: 'utf8',
    },
  );
  return JSON.parse(out.trim()) as boolean;
}

describe('HEAP_GROWING_PERCENT', () => {
  it('sets V8’s heap growing factor unless 0 or node was given its own', () => {
    assert.equal(applied(60), true);
    assert.equal(applied(0), false);
    assert.equal(applied(60, ['--heap-growing-percent=30']), false);
    assert.equal(applied(60, ['--heap_growing_percent=30']), false);
  });
});
