/**
 * Fresh databases for the queue tests, fast enough to give every test its own.
 *
 * PostgreSQL: `createTestDb` (a new database per call, ~0.15 s). PGlite: `createTestDb` loads a
 * cached dump into memory (~0.8 s here); across ~120 PGlite tests that dominated the run. So
 * each test process migrates one on-disk PGlite template once, and every test opens a copy of
 * that data folder (in RAM-backed /dev/shm when present) through the real adapter,
 * `createPgliteDb(dir)`: ~0.45 s, and the file-backed path the default deployment uses.
 * The folder is removed when the process exits; orphans of killed runs at the next start.
 */
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migrate } from '../../src/db/index.ts';
import { createPgliteDb } from '../../src/db/pglite.ts';
import { createTestDb, type DbMode, type TestDb } from './db.ts';

/** RAM-backed when the machine has /dev/shm: copying 40 MB of small files is the main cost. */
const scratchRoot = () => (existsSync('/dev/shm') ? '/dev/shm' : tmpdir());

let root: string | undefined;
let template: Promise<string> | undefined;
let copies = 0;

const PREFIX = 'te-queue-tests-';

/** Removes folders left by test processes that died without their exit hook (killed on timeout). */
function removeOrphans(base: string): void {
  for (const name of readdirSync(base)) {
    const pid = Number(new RegExp(`^${PREFIX}(\\d+)-`).exec(name)?.[1]);
    if (!pid || pid === process.pid) continue;
    try {
      process.kill(pid, 0);
    } catch (err) {
      // ESRCH: no such process. (EPERM means it lives under another user: leave it.)
      if ((err as NodeJS.ErrnoException).code === 'ESRCH')
        rmSync(join(base, name), { recursive: true, force: true });
    }
  }
}

function pgliteTemplate(): Promise<string> {
  template ??= (async () => {
    const base = scratchRoot();
    removeOrphans(base);
    root = mkdtempSync(join(base, `${PREFIX}${process.pid}-`));
    const dir = root;
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    const tpl = join(dir, 'template');
    const db = await createPgliteDb(tpl);
    await migrate(db);
    await db.close();
    return tpl;
  })();
  return template;
}

export async function createQueueTestDb(mode: DbMode, poolSize: number): Promise<TestDb> {
  if (mode === 'postgres') return createTestDb(mode, poolSize);
  const tpl = await pgliteTemplate();
  const dir = join(root!, `db-${++copies}`);
  cpSync(tpl, dir, { recursive: true });
  const db = await createPgliteDb(dir);
  return {
    db,
    url: undefined,
    async drop() {
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
