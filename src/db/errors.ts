/** Classifies driver errors once, so the API can answer 503 for an unreachable database. */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EPIPE',
  'EHOSTUNREACH',
]);

export function isDatabaseUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (CONNECTION_CODES.has(code)) return true;
    // SQLSTATE class 08 = connection exception; 57P01-03 = admin shutdown, crash shutdown, cannot connect now.
    if (/^08/.test(code) || /^57P0[1-3]$/.test(code)) return true;
  }
  // The driver's words for a lost connection, for a query the client stopped waiting for (no
  // answer within statement_timeout and a margin: a half-open connection), and for a handle
  // closed under us (PGlite after close(), a pg pool after end()): to a client all mean the
  // same, no database right now.
  return /Connection terminated|connection timeout|Query read timeout|Client has encountered a connection error|timeout exceeded when trying to connect|PGlite is closed|Cannot use a pool after calling end/i.test(
    err.message,
  );
}

/** Unique-violation on a named constraint (SQLSTATE 23505). */
export function isUniqueViolation(err: unknown, constraint?: string): boolean {
  const e = err as { code?: unknown; constraint?: unknown };
  return e?.code === '23505' && (constraint === undefined || e.constraint === constraint);
}

/** claim_tasks() was called for a worker that is not registered (migration 0014). */
export function isUnknownWorker(err: unknown): boolean {
  return (err as { code?: unknown })?.code === 'P0002';
}
