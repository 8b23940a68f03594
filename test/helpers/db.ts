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

/** Test databases are named te_test_<creation time in base 36>_<random>. */
const STALE_TEST_DB_MS = 6 * 3600_000;
let sweep: Promise<void> | undefined;

/**
 * Databases of test runs that ended without dropping theirs (a killed run, a test that never
 * reached its cleanup) are dropped by the next run, once they are hours old: never one a run
 * in progress could still be using.
 */
async function dropStaleTestDatabases(admin: pg.Client): Promise<void> {
  const { rows } = await admin.query<{ datname: string }>(
    "SELECT datname FROM pg_database WHERE datname ~ '^te_test_[0-9a-z]+_[0-9a-f]+$'",
  );
  for (const { datname } of rows) {
    const created = Number.parseInt(datname.split('_')[2]!, 36);
    if (Date.now() - created > STALE_TEST_DB_MS)
      await admin.query(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`);
  }
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
  sweep ??= dropStaleTestDatabases(admin).catch(() => {});
  await sweep;
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(base);
  url.pathname = `/${name}`;
  const db = createPostgresDb(url.toString(), poolSize);
  const dropDb = async () => {
    // A pool that fails to close (a test killed its connections) must not keep the database.
    await db.close().catch(() => {});
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
