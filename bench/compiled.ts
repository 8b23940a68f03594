/**
 * A bench script compiled to JavaScript, for child processes whose memory is measured: under
 * tsx, Node runs the TypeScript loader's hooks on a thread of their own with its own V8 heap
 * (~50 MB of resident memory that no export of ours allocates), while the product runs
 * compiled code (`npm start` builds dist/). tsc compiles the script and what it imports into
 * node_modules/.cache (so its packages resolve as from the repository), keeping the tree's
 * shape: src/ modules that read ../../../package.json find a copy of it.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const OUT = join(ROOT, 'node_modules', '.cache', 'task-executor-bench');

/** Compiles `script` (a path under the repository) and returns the compiled file's path. */
export function compileBenchScript(script: string): string {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(OUT, { recursive: true });
  const config = join(OUT, 'tsconfig.json');
  writeFileSync(
    config,
    JSON.stringify({
      extends: join(ROOT, 'tsconfig.build.json'),
      compilerOptions: { rootDir: ROOT, outDir: OUT, sourceMap: false },
      include: [],
      files: [script],
    }),
  );
  const r = spawnSync(process.execPath, [tsc, '-p', config], { cwd: ROOT, stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`tsc could not compile ${script} (exit ${r.status ?? r.signal})`);
  copyFileSync(join(ROOT, 'package.json'), join(OUT, 'package.json'));
  return join(OUT, relative(ROOT, script)).replace(/\.ts$/, '.js');
}
