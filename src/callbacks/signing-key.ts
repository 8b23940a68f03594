/** The key that signs callback deliveries: configured, or generated once and shared by replicas. */
import { loadOrCreateServerSecret } from '../db/secrets.ts';
import type { Queryable } from '../db/types.ts';

/** Shorter keys are guessable offline from one captured delivery. */
export const MIN_SIGNING_KEY_LENGTH = 16;

/** Its row in server_secrets when CALLBACK_SIGNING_SECRET is empty. */
export const SIGNING_KEY_NAME = 'callback_signing_key';

/** Refuses a configured key too short to be safe; called at start so the error is seen at once. */
export function checkSigningKey(configured: string): void {
  if (configured !== '' && configured.length < MIN_SIGNING_KEY_LENGTH)
    throw new Error(`CALLBACK_SIGNING_SECRET must be at least ${MIN_SIGNING_KEY_LENGTH} characters`);
}

export async function loadSigningKey(db: Queryable, configured: string): Promise<string> {
  return configured || loadOrCreateServerSecret(db, SIGNING_KEY_NAME);
}
