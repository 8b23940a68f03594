/**
 * Fresh databases for tests. Every test file runs its suite once per mode: on in-memory
 * PGlite always, and on real PostgreSQL when TEST_DATABASE_URL is set (each call creates a
 * database of its own there, dropped afterwards).
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { migrate } from '../../src/db/index.ts';
import { listMigrations } from '../../src/db/migrate.ts';
import { createPgliteDb, wrapPglite } from '../../src/db/pglite.ts';
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

export async function createTestDb(mode: DbMode, poolSize = 10): Promise<TestDb> {
  if (mode === 'pglite') {
    const db = await freshPglite();
    return { db, url: undefined, drop: () => db.close() };
  }
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
    await migrate(db);
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

/**
 * A fresh in-memory PGlite takes 3–6 s to initialise; loading a dump of an already migrated
 * one takes about 1 s. The dump is cached in the temp folder, keyed by the migrations' text.
 */
async function freshPglite(): Promise<Db> {
  const hash = createHash('sha256')
    .update(
      listMigrations()
        .map((m) => m.sql)
        .join('\n'),
    )
    .digest('hex')
    .slice(0, 16);
  const file = join(tmpdir(), `task-executor-pglite-template-${hash}.tar`);
  const cached = await readFile(file).catch(() => undefined);
  if (cached) {
    const pg = new PGlite({ loadDataDir: new Blob([cached]) });
    await pg.waitReady;
    return wrapPglite(pg);
  }
  const db = await createPgliteDb();
  await migrate(db);
  const pgl = (db as unknown as { raw: PGlite }).raw;
  const dump = await pgl.dumpDataDir('none');
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, Buffer.from(await dump.arrayBuffer()));
  await rename(tmp, file);
  return db;
}
