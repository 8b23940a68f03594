/**
 * Fresh databases for tests. Every test file runs its suite once per mode: on in-memory
 * PGlite always, and on real PostgreSQL when TEST_DATABASE_URL is set (each call creates a
 * database of its own there, dropped afterwards).
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { migrate } from '../../src/db/index.ts';
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

export async function createTestDb(mode: DbMode, poolSize = 10): Promise<TestDb> {
  if (mode === 'pglite') {
    const db = await createPgliteDb();
    await migrate(db);
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
  await migrate(db);
  return {
    db,
    url: url.toString(),
    async drop() {
      await db.close();
      const a = new pg.Client({ connectionString: base });
      await a.connect();
      await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await a.end();
    },
  };
}
