/**
 * Applies the numbered `.sql` files in ./migrations in order, each once, inside one
 * transaction holding an advisory lock, so concurrent starters (several API replicas)
 * never race. A database migrated by newer code is refused rather than misread.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Db } from './types.ts';

const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'migrations');
const MIGRATION_LOCK = 7_413_001; // arbitrary, fixed: the advisory-lock key for migrations

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export function listMigrations(dir = MIGRATIONS_DIR): Migration[] {
  return readdirSync(dir)
    .filter((f) => /^\d{4}_[\w-]+\.sql$/.test(f))
    .sort()
    .map((f) => ({ version: Number(f.slice(0, 4)), name: f, sql: readFileSync(join(dir, f), 'utf8') }));
}

export class SchemaTooNewError extends Error {
  override name = 'SchemaTooNewError';
}

/** Returns the names of the migrations it applied. */
export async function migrate(db: Db, migrations = listMigrations()): Promise<string[]> {
  const latest = migrations.at(-1)?.version ?? 0;
  return db.transaction(async (tx) => {
    // A migration may rewrite a large table, and a replica starting meanwhile waits here for
    // the lock: the pool's statement/lock timeouts do not apply (for this transaction only).
    await tx.exec('SET LOCAL statement_timeout = 0; SET LOCAL lock_timeout = 0');
    await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await tx.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const { rows } = await tx.query<{ version: number }>('SELECT version FROM schema_migrations');
    const applied = new Set(rows.map((r) => r.version));
    const newest = Math.max(0, ...applied);
    if (newest > latest) {
      throw new SchemaTooNewError(
        `Database schema is at version ${newest} but this build knows only up to ${latest}: upgrade Task Executor.`,
      );
    }
    const done: string[] = [];
    for (const m of migrations) {
      if (applied.has(m.version)) continue;
      await tx.exec(m.sql);
      await tx.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
      done.push(m.name);
    }
    return done;
  });
}
