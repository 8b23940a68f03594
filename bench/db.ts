/**
 * The benchmark's database: a scratch database created on the server DATABASE_URL points at
 * (dropped afterwards, so the bench never touches real data), or in-memory PGlite without it.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { migrate } from '../src/db/index.ts';
import { createPgliteDb } from '../src/db/pglite.ts';
import { createPostgresDb } from '../src/db/postgres.ts';
import type { Db } from '../src/db/types.ts';

export interface BenchDb {
  db: Db;
  label: string;
  /** The scratch database's URL (PostgreSQL only), for a server started in another process. */
  url?: string;
  drop(): Promise<void>;
}

export async function openBenchDb(databaseUrl: string | undefined, poolSize: number): Promise<BenchDb> {
  if (!databaseUrl) {
    const db = await createPgliteDb();
    await migrate(db);
    return { db, label: 'PGlite (in memory)', drop: () => db.close() };
  }
  const name = `te_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: databaseUrl });
  await admin.connect();
  const version = (await admin.query<{ server_version: string }>('SHOW server_version')).rows[0]
    ?.server_version;
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(databaseUrl);
  url.pathname = `/${name}`;
  const db = createPostgresDb(url.toString(), poolSize);
  await migrate(db);
  return {
    db,
    label: `PostgreSQL ${version} (${url.host})`,
    url: url.toString(),
    async drop() {
      await db.close();
      const a = new pg.Client({ connectionString: databaseUrl });
      await a.connect();
      await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await a.end();
    },
  };
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export function median(values: readonly number[]): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    50,
  );
}
