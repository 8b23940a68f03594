/**
 * Secrets the server generates once and every replica shares (`server_secrets`): the first
 * replica to start inserts a random value, later ones (and restarts) read that same value,
 * so whatever one replica signed, every other one can check.
 */
import { randomBytes } from 'node:crypto';
import type { Queryable } from './types.ts';

/** The secret stored under `name`, created (32 random bytes, base64url) when there is none yet. */
export async function loadOrCreateServerSecret(db: Queryable, name: string): Promise<string> {
  const fresh = randomBytes(32).toString('base64url');
  // DO NOTHING: when two replicas race, the first insert wins and both read its value.
  await db.query(`INSERT INTO server_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`, [
    name,
    fresh,
  ]);
  const { rows } = await db.query<{ value: string }>(`SELECT value FROM server_secrets WHERE name = $1`, [
    name,
  ]);
  return rows[0]!.value;
}
