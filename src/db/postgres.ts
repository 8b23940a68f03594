/**
 * PostgreSQL through a node-postgres pool. LISTEN needs a connection of its own that
 * outlives any query, so it gets a dedicated client which reconnects (with backoff) and
 * re-subscribes when the server goes away; NOTIFY is only a hint, so a missed one while
 * disconnected costs at most one poll interval.
 */
import pg from 'pg';
import type { Db, Queryable, QueryResult, Unlisten } from './types.ts';

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

  const query = async <R>(sql: string, params?: readonly unknown[]): Promise<QueryResult<R>> => {
    const r = await pool.query(sql, params as unknown[] | undefined);
    return { rows: r.rows as R[], rowCount: r.rowCount ?? 0 };
  };

  return {
    kind: 'postgres',
    query,
    async exec(sql) {
      await pool.query(sql);
    },
    async transaction(fn) {
      const client = await pool.connect();
      const tx: Queryable = {
        async query<R>(sql: string, params?: readonly unknown[]) {
          const r = await client.query(sql, params as unknown[] | undefined);
          return { rows: r.rows as R[], rowCount: r.rowCount ?? 0 };
        },
        async exec(sql: string) {
          await client.query(sql);
        },
      };
      let broken: unknown;
      try {
        await client.query('BEGIN');
        const out = await fn(tx);
        await client.query('COMMIT');
        return out;
      } catch (err) {
        await client.query('ROLLBACK').catch((e) => {
          broken = e;
        });
        throw err;
      } finally {
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
