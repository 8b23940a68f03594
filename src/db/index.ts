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
  /** statement_timeout / lock_timeout of pooled PostgreSQL connections (0 or absent: none). */
  DATABASE_STATEMENT_TIMEOUT_MS?: number;
  DATABASE_LOCK_TIMEOUT_MS?: number;
}

export async function openDb(settings: DbSettings): Promise<Db> {
  if (settings.DATABASE_URL)
    return createPostgresDb(settings.DATABASE_URL, settings.DATABASE_POOL_SIZE, {
      statementTimeoutMs: settings.DATABASE_STATEMENT_TIMEOUT_MS ?? 0,
      lockTimeoutMs: settings.DATABASE_LOCK_TIMEOUT_MS ?? 0,
    });
  return createPgliteDb(join(settings.DATA_DIR, 'pgdata'));
}
