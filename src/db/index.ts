/** Opens the configured database: PostgreSQL when DATABASE_URL is set, else embedded PGlite in DATA_DIR. */
import { join } from 'node:path';
import { createPgliteDb } from './pglite.ts';
import { createPostgresDb } from './postgres.ts';
import type { Db } from './types.ts';

export { isDatabaseUnavailable } from './errors.ts';
export { migrate } from './migrate.ts';
export type { Db, Queryable, QueryResult } from './types.ts';

export interface DbSettings {
  DATABASE_URL: string;
  DATA_DIR: string;
  DATABASE_POOL_SIZE: number;
}

export async function openDb(settings: DbSettings): Promise<Db> {
  if (settings.DATABASE_URL) return createPostgresDb(settings.DATABASE_URL, settings.DATABASE_POOL_SIZE);
  return createPgliteDb(join(settings.DATA_DIR, 'pgdata'));
}
