#!/usr/bin/env node
// `npm start`: the CLI (`serve` by default) from dist/, src compiled to JavaScript by tsc
// (tsconfig.build.json), so the server runs without the TypeScript loader: tsx's module hooks
// run on a thread of their own with its own V8 heap, ~70 MB of the API's resident memory.
// dist/ is rebuilt when anything under src/ changed since it was built (a few seconds); without
// TypeScript installed (npm install --omit=dev) the sources run through tsx as before.
//   node scripts/start.mjs [command and options]   (what `npm start -- …` runs)
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const SRC = join(ROOT, 'src');
const DIST = join(ROOT, 'dist');
const STAMP = join(DIST, '.source-fingerprint');
const CONFIG = join(ROOT, 'tsconfig.build.json');

function files(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)],
  );
}

/** Every source file's path, size and modification time, and the build's configuration. */
function fingerprint(sources) {
  const hash = createHash('sha256');
  for (const f of [...sources].sort()) {
    const s = statSync(f);
    hash.update(`${relative(ROOT, f)}\0${s.size}\0${s.mtimeMs}\n`);
  }
  for (const f of [CONFIG, join(ROOT, 'tsconfig.json')]) hash.update(readFileSync(f));
  return hash.digest('hex');
}

function tscPath() {
  try {
    return createRequire(import.meta.url).resolve('typescript/bin/tsc');
  } catch {
    return null;
  }
}

/** Builds dist/ when it is missing or older than src/; false when TypeScript is not installed. */
function build() {
  const sources = files(SRC);
  const current = fingerprint(sources);
  if (existsSync(STAMP) && readFileSync(STAMP, 'utf8') === current) return true;
  const tsc = tscPath();
  if (!tsc) return false;
  process.stderr.write('Compiling src/ to dist/ (tsc; once after each change) …\n');
  // From scratch, in a folder of its own, then swapped in: a file deleted from src (a
  // migration, a module) must not linger in dist, and a server already running from dist
  // never sees it half built.
  const next = `${DIST}.${process.pid}`;
  rmSync(next, { recursive: true, force: true });
  const r = spawnSync(process.execPath, [tsc, '-p', CONFIG, '--outDir', next], {
    cwd: ROOT,
    stdio: 'inherit',
  });
  if (r.status !== 0) {
    rmSync(next, { recursive: true, force: true });
    throw new Error(`tsc -p tsconfig.build.json failed (exit ${r.status ?? r.signal})`);
  }
  // What tsc does not emit (SQL migrations, the dashboard's files, .mjs helpers), where the
  // compiled modules look for it: the same place relative to them as in src/.
  for (const f of sources) if (!f.endsWith('.ts')) cpSync(f, join(next, relative(SRC, f)));
  writeFileSync(join(next, '.source-fingerprint'), current);
  rmSync(DIST, { recursive: true, force: true });
  renameSync(next, DIST);
  return true;
}

if (build()) {
  await import(pathToFileURL(join(DIST, 'cli', 'main.js')).href);
} else {
  process.stderr.write('TypeScript is not installed: running src/ through tsx\n');
  const { register } = await import('tsx/esm/api');
  register();
  await import(pathToFileURL(join(SRC, 'cli', 'main.ts')).href);
}
