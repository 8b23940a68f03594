/**
 * Embedded PostgreSQL (PGlite, WebAssembly) for the zero-setup default. It is a single
 * connection: PGlite serialises queries and holds an exclusive lock for a transaction, so
 * SKIP LOCKED and advisory locks behave as on a one-connection server.
 */
import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import type { Db, QueryResult } from './types.ts';

/**
 * PGlite runs each query synchronously in WebAssembly and resolves it through microtasks, so a
 * chain of queries never lets the event loop in: sockets do not drain, timers do not fire (a
 * feed with fifty subscribers stalled the server for over a minute). Every query first yields
 * to the event loop once this much time has passed since the last yield.
 */
const YIELD_EVERY_MS = 10;
let lastYield = performance.now();
let gate: Promise<void> | undefined;

/**
 * The turn a query must wait for before it enters PGlite, or undefined to go at once. Every
 * caller that arrives while a yield is pending waits on the same promise, so queries still
 * enter PGlite in the order they were issued (a race test depends on it, and so do callers
 * that fire a statement and then a transaction without awaiting the first).
 */
function yieldTurn(): Promise<void> | undefined {
  if (gate) return gate;
  if (performance.now() - lastYield < YIELD_EVERY_MS) return undefined;
  gate = new Promise((resolve) =>
    setImmediate(() => {
      lastYield = performance.now();
      gate = undefined;
      resolve();
    }),
  );
  return gate;
}

/** dataDir undefined = in memory (tests). */
export async function createPgliteDb(dataDir?: string): Promise<Db> {
  if (dataDir) mkdirSync(dataDir, { recursive: true });
  const pg = new PGlite(dataDir);
  await pg.waitReady;
  return {
    kind: 'pglite',
    async query<R>(sql: string, params?: readonly unknown[]): Promise<QueryResult<R>> {
      const turn = yieldTurn();
      if (turn) await turn;
      const r = await pg.query<R>(sql, params as unknown[] | undefined);
      return { rows: r.rows, rowCount: r.affectedRows || r.rows.length };
    },
    async exec(sql) {
      await pg.exec(sql);
    },
    transaction: async (fn) => {
      const turn = yieldTurn();
      if (turn) await turn;
      return pg.transaction((tx) =>
        fn({
          async query<R>(sql: string, params?: readonly unknown[]) {
            const turn = yieldTurn();
            if (turn) await turn;
            const r = await tx.query<R>(sql, params as unknown[] | undefined);
            return { rows: r.rows, rowCount: r.affectedRows || r.rows.length };
          },
          async exec(sql: string) {
            await tx.exec(sql);
          },
        }),
      );
    },
    listen: (channel, onPayload) => pg.listen(channel, onPayload),
    close: () => pg.close(),
  };
}
