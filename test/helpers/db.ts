/**
 * Fresh databases for tests. Every test file runs its suite once per mode: on in-memory
 * PGlite always, and on real PostgreSQL when TEST_DATABASE_URL is set (each call creates a
 * database of its own there, dropped afterwards).
 */
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { migrate } from '../../src/db/index.ts';
import type { Migration } from '../../src/db/migrate.ts';
import { createPgliteDb } from '../../src/db/pglite.ts';
import { createPostgresDb } from '../../src/db/postgres.ts';
import type { Db } from '../../src/db/types.ts';

export type DbMode = 'pglite' | 'postgres';

export function dbModes(): DbMode[] {
  return process.env.TEST_DATABASE_URL ? ['pglite', 'postgres'] : ['pglite'];
}

export interface TestDb {
  db: Db;
  /** The URL of the scratch database (postgres mode only). */
  url: string | undefined;
  drop(): Promise<void>;
}

/**
 * `migrations` (default: all) lets a migration's test start from the schema before it; such a
 * PGlite database is initialised from scratch (seconds), not copied from the template.
 */
export async function createTestDb(mode: DbMode, poolSize = 10, migrations?: Migration[]): Promise<TestDb> {
  if (mode === 'pglite') return migrations ? scratchPglite(migrations) : freshPglite();
  const base = process.env.TEST_DATABASE_URL!;
  const name = `te_test_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(base);
  url.pathname = `/${name}`;
  const db = createPostgresDb(url.toString(), poolSize);
  const dropDb = async () => {
    await db.close();
    const a = new pg.Client({ connectionString: base });
    await a.connect();
    await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await a.end();
  };
  try {
    await migrate(db, migrations);
  } catch (err) {
    await dropDb().catch(() => {});
    throw err;
  }
  return {
    db,
    url: url.toString(),
    drop: dropDb,
  };
}

/*
 * PGlite: initialising a fresh instance takes 3–6 s; copying the data folder of one migrated
 * template (made once per test process, in RAM-backed /dev/shm when present) and opening the
 * copy through the real adapter, createPgliteDb(dir), takes ~0.45 s. The folder is removed
 * when the process exits; orphans of killed runs at the next start.
 */
/** RAM-backed when the machine has /dev/shm: copying 40 MB of small files is the main cost. */
const scratchRoot = () => (existsSync('/dev/shm') ? '/dev/shm' : tmpdir());

let root: string | undefined;
let template: Promise<string> | undefined;
let copies = 0;

const PREFIX = 'te-tests-';

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

async function freshPglite(): Promise<TestDb> {
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

async function scratchPglite(migrations: Migration[]): Promise<TestDb> {
  const dir = mkdtempSync(join(scratchRoot(), `${PREFIX}${process.pid}-scratch-`));
  const db = await createPgliteDb(dir);
  await migrate(db, migrations);
  return {
    db,
    url: undefined,
    async drop() {
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
