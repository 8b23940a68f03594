/**
 * PostgreSQL through a node-postgres pool. LISTEN needs a connection of its own that
 * outlives any query, so it gets a dedicated client which reconnects (with backoff) and
 * re-subscribes when the server goes away; NOTIFY is only a hint, so a missed one while
 * disconnected costs at most one poll interval.
 */
import pg from 'pg';
import type { Db, Queryable, QueryOptions, QueryResult, Unlisten } from './types.ts';

const INT8_OID = 20;
// Counts and log ids are int8; they stay far below 2^53, so numbers are safe and simpler than strings.
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID
      ? (v: string) => Number(v)
      : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

/** Server-side limits of every pooled connection, in milliseconds; 0 = none. */
export interface SessionLimits {
  statementTimeoutMs: number;
  lockTimeoutMs: number;
}

const NO_LIMITS: SessionLimits = { statementTimeoutMs: 0, lockTimeoutMs: 0 };

/**
 * The limits as startup options, so they hold from a connection's first statement with no
 * extra round trip: a stuck query or a lock wait then fails (57014 / 55P03, a 500 the caller
 * sees) instead of holding a pool connection forever. The LISTEN connection gets none (it
 * runs no long statements; it only waits). Migrations lift them for their transaction.
 */
export function sessionOptions(limits: SessionLimits): string | undefined {
  const opts: string[] = [];
  if (limits.statementTimeoutMs > 0)
    opts.push(`-c statement_timeout=${Math.trunc(limits.statementTimeoutMs)}`);
  if (limits.lockTimeoutMs > 0) opts.push(`-c lock_timeout=${Math.trunc(limits.lockTimeoutMs)}`);
  return opts.length > 0 ? opts.join(' ') : undefined;
}

/**
 * How long past statement_timeout the client itself waits for an answer. The server's limit
 * cannot fire when the server never got the query, or its answer is lost on the way back (a
 * half-open connection: a dead NAT entry, a partitioned link, a frozen peer): without a
 * client-side limit such a query — and the pool connection it holds — waits forever, and once
 * every pooled connection is stuck the API answers 503 for good, even after the path heals.
 * Past the limit the query fails (a 503 for the API) and its connection is destroyed, not
 * reused. 0 (no statement_timeout) means no client-side limit either.
 */
export const CLIENT_TIMEOUT_MARGIN_MS = 5000;

export function clientTimeoutMs(statementTimeoutMs: number): number {
  return statementTimeoutMs > 0 ? Math.trunc(statementTimeoutMs) + CLIENT_TIMEOUT_MARGIN_MS : 0;
}

/** `SET LOCAL statement_timeout = N` in a transaction (migrations lift the limit this way). */
const SET_LOCAL_STATEMENT_TIMEOUT = /\bSET\s+LOCAL\s+statement_timeout\s*(?:=|TO)\s*'?(\d+)'?/i;

/** The driver's error for a query the client gave up on (see clientTimeoutMs). */
export const CLIENT_TIMEOUT_MESSAGE = 'Query read timeout';

function isClientTimeout(err: unknown): boolean {
  return err instanceof Error && err.message === CLIENT_TIMEOUT_MESSAGE;
}

export function createPostgresDb(
  connectionString: string,
  poolSize: number,
  limits: SessionLimits = NO_LIMITS,
): Db {
  const pool = new pg.Pool({
    connectionString,
    max: poolSize,
    types,
    connectionTimeoutMillis: 5000,
    options: sessionOptions(limits),
  });
  // An idle client's error (server restart) must not crash the process; the pool drops that client.
  pool.on('error', () => {});
  const listeners = new ListenerConnection(connectionString);
  const guardMs = clientTimeoutMs(limits.statementTimeoutMs);
  /** A query config with the client-side limit (none when ms is 0). */
  const config = (
    text: string,
    params: readonly unknown[] | undefined,
    ms: number,
    opts?: QueryOptions,
  ): pg.QueryConfig =>
    ({
      text,
      values: params as unknown[] | undefined,
      ...(ms > 0 ? { query_timeout: ms } : {}),
      ...(opts?.prepared ? { name: opts.prepared } : {}),
    }) as pg.QueryConfig;

  // pool.query gives a client that failed back with its error, so the pool destroys it.
  const query = async <R>(
    sql: string,
    params?: readonly unknown[],
    opts?: QueryOptions,
  ): Promise<QueryResult<R>> => {
    const r = await pool.query(config(sql, params, guardMs, opts));
    return { rows: r.rows as R[], rowCount: r.rowCount ?? 0 };
  };

  return {
    kind: 'postgres',
    query,
    async exec(sql) {
      await pool.query(config(sql, undefined, guardMs));
    },
    async transaction(fn) {
      const client = await pool.connect();
      // The transaction's own limit follows a SET LOCAL statement_timeout (0 lifts it).
      let txGuardMs = guardMs;
      let broken: unknown;
      // A checked-out client has no listener of the pool's: a connection lost meanwhile (the
      // server restarted) is emitted as 'error' and, unheard, would crash the process. Heard,
      // it fails the transaction's next query and the client is destroyed on release.
      const onError = (err: Error) => {
        broken = err;
      };
      client.on('error', onError);
      const run = async (sql: string, params?: readonly unknown[], opts?: QueryOptions) => {
        try {
          return await client.query(config(sql, params, txGuardMs, opts));
        } catch (err) {
          // The connection is in an unknown state (a reply may still come): never reuse it.
          if (isClientTimeout(err)) broken = err;
          throw err;
        } finally {
          const set = SET_LOCAL_STATEMENT_TIMEOUT.exec(sql);
          if (set) txGuardMs = clientTimeoutMs(Number(set[1]));
        }
      };
      const tx: Queryable = {
        async query<R>(sql: string, params?: readonly unknown[], opts?: QueryOptions) {
          const r = await run(sql, params, opts);
          return { rows: r.rows as R[], rowCount: r.rowCount ?? 0 };
        },
        async exec(sql: string) {
          await run(sql);
        },
      };
      try {
        await run('BEGIN');
        const out = await fn(tx);
        await run('COMMIT');
        return out;
      } catch (err) {
        // After a client-side timeout a ROLLBACK would only queue behind the lost query;
        // destroying the connection ends the transaction on the server all the same.
        if (!broken)
          await run('ROLLBACK').catch((e) => {
            broken = e;
          });
        throw err;
      } finally {
        client.off('error', onError);
        client.release(broken instanceof Error ? broken : undefined);
      }
    },
    listen: (channel, onPayload) => listeners.subscribe(channel, onPayload),
    async close() {
      await listeners.close();
      await pool.end();
    },
  };
}

class ListenerConnection {
  private client: pg.Client | undefined;
  private connecting: Promise<void> | undefined;
  private readonly handlers = new Map<string, Set<(payload: string) => void>>();
  private closed = false;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(private readonly connectionString: string) {}

  async subscribe(channel: string, handler: (payload: string) => void): Promise<Unlisten> {
    let set = this.handlers.get(channel);
    const fresh = !set;
    if (!set) {
      set = new Set();
      this.handlers.set(channel, set);
    }
    set.add(handler);
    await this.ensureConnected();
    if (fresh && this.client) await this.client.query(`LISTEN ${quoteIdent(channel)}`);
    return async () => {
      set.delete(handler);
      if (set.size === 0) {
        this.handlers.delete(channel);
        await this.client?.query(`UNLISTEN ${quoteIdent(channel)}`).catch(() => {});
      }
    };
  }

  private ensureConnected(): Promise<void> {
    if (this.client || this.closed) return Promise.resolve();
    this.connecting ??= this.connect().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.connectionString, types });
    client.on('notification', (msg) => {
      for (const h of this.handlers.get(msg.channel) ?? []) h(msg.payload ?? '');
    });
    client.on('error', () => this.reconnectLater(client));
    client.on('end', () => this.reconnectLater(client));
    await client.connect();
    if (this.closed) {
      await client.end();
      return;
    }
    for (const channel of this.handlers.keys()) await client.query(`LISTEN ${quoteIdent(channel)}`);
    this.client = client;
  }

  private reconnectLater(dead: pg.Client, delayMs = 1000): void {
    if (this.client === dead) this.client = undefined;
    if (this.closed || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.ensureConnected().catch(() => this.reconnectLater(dead, Math.min(delayMs * 2, 30000)));
    }, delayMs);
    this.retryTimer.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    const c = this.client;
    this.client = undefined;
    await c?.end().catch(() => {});
  }
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
