/**
 * Fresh databases for the queue tests, fast enough to give every test its own.
 *
 * PostgreSQL: `createTestDb` (a new database per call, ~0.15 s). PGlite: a new in-memory
 * instance runs initdb, 2–6 s here, which across ~100 tests dominated the run. So each test
 * process migrates one on-disk PGlite template once and every test opens a copy of that data
 * folder through the real adapter (`createPgliteDb(dir)`), ~0.6 s. The copies and the
 * template live under one temporary folder removed when the process exits.
 */
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
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

function pgliteTemplate(): Promise<string> {
  template ??= (async () => {
    root = mkdtempSync(join(scratchRoot(), 'te-queue-tests-'));
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
