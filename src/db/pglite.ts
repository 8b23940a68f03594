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

async function yieldIfBusy(): Promise<void> {
  if (performance.now() - lastYield < YIELD_EVERY_MS) return;
  await new Promise((resolve) => setImmediate(resolve));
  lastYield = performance.now();
}

/** dataDir undefined = in memory (tests). */
export async function createPgliteDb(dataDir?: string): Promise<Db> {
  if (dataDir) mkdirSync(dataDir, { recursive: true });
  const pg = new PGlite(dataDir);
  await pg.waitReady;
  return {
    kind: 'pglite',
    async query<R>(sql: string, params?: readonly unknown[]): Promise<QueryResult<R>> {
      await yieldIfBusy();
      const r = await pg.query<R>(sql, params as unknown[] | undefined);
      return { rows: r.rows, rowCount: r.affectedRows || r.rows.length };
    },
    async exec(sql) {
      await pg.exec(sql);
    },
    transaction: (fn) =>
      pg.transaction((tx) =>
        fn({
          async query<R>(sql: string, params?: readonly unknown[]) {
            await yieldIfBusy();
            const r = await tx.query<R>(sql, params as unknown[] | undefined);
            return { rows: r.rows, rowCount: r.affectedRows || r.rows.length };
          },
          async exec(sql: string) {
            await tx.exec(sql);
          },
        }),
      ),
    listen: (channel, onPayload) => pg.listen(channel, onPayload),
    close: () => pg.close(),
  };
}
