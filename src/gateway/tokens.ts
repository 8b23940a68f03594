/**
 * Per-task LLM tokens. A token names one attempt of one task and is signed with a server
 * key, so minting it at claim costs no database write and checking it needs no token table:
 * the signature proves the server issued it, and the task row (still running, same attempt)
 * says whether it is still valid. A token thus dies with its attempt — reaped, cancelled,
 * completed or re-claimed — with nothing to revoke.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { loadOrCreateServerSecret } from '../db/secrets.ts';
import type { Queryable } from '../db/types.ts';
import { BoundedMap } from './bounded-map.ts';

const PREFIX = 'te1';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface TokenClaims {
  taskId: string;
  attempt: number;
}

export interface TokenIssuer {
  mint(taskId: string, attempt: number): string;
  /** The claims of a token this server signed, or null (malformed, forged, another key). */
  verify(token: string): TokenClaims | null;
}

/** Tokens whose signature was checked, remembered so an agent's every call does not pay two HMACs. */
const VERIFIED_CAPACITY = 20_000;

export function createTokenIssuer(secret: string): TokenIssuer {
  if (secret.length < 16) throw new Error('the token signing key must be at least 16 characters');
  const sign = (body: string) => createHmac('sha256', secret).update(body).digest('base64url');
  const verified = new BoundedMap<string, TokenClaims>(VERIFIED_CAPACITY);
  return {
    mint(taskId, attempt) {
      const body = `${PREFIX}.${taskId}.${attempt}`;
      return `${body}.${sign(body)}`;
    },
    verify(token) {
      const known = verified.get(token);
      if (known) return known;
      const claims = checkSignature(token);
      if (claims) verified.set(token, claims);
      return claims;
    },
  };

  function checkSignature(token: string): TokenClaims | null {
    const parts = token.split('.');
    if (parts.length !== 4 || parts[0] !== PREFIX) return null;
    const [, taskId, attemptText, signature] = parts as [string, string, string, string];
    if (!UUID.test(taskId) || !/^[1-9]\d{0,8}$/.test(attemptText)) return null;
    const expected = Buffer.from(sign(`${PREFIX}.${taskId}.${attemptText}`));
    const given = Buffer.from(signature);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
    return { taskId, attempt: Number(attemptText) };
  }
}

/**
 * The signing key: GATEWAY_TOKEN_SECRET when set, else one generated on first start and kept
 * in the database, so every replica (and a restarted server) accepts the tokens the others
 * minted for workers that are still running.
 */
export async function loadTokenSecret(db: Queryable, configured: string): Promise<string> {
  return configured || loadOrCreateServerSecret(db, 'gateway_token_key');
}
