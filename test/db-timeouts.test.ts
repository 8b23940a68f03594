/**
 * statement_timeout and lock_timeout on every pooled PostgreSQL connection
 * (DATABASE_STATEMENT_TIMEOUT_MS / DATABASE_LOCK_TIMEOUT_MS, 0 = none): a stuck statement or
 * lock wait fails instead of holding a connection, while LISTEN keeps working and migrations
 * (which may rewrite big tables, or wait for another replica's) run without them.
 * PostgreSQL only (PGlite is one in-process connection).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { migrate, openDb } from '../src/db/index.ts';
import { createPostgresDb, sessionOptions } from '../src/db/postgres.ts';
import { createTestDb } from './helpers/db.ts';

const base = process.env.TEST_DATABASE_URL;

describe('session limits of pooled PostgreSQL connections', {
  skip: !base && 'needs TEST_DATABASE_URL',
}, () => {
  it('turns the settings into startup options; 0 means none', () => {
    assert.equal(sessionOptions({ statementTimeoutMs: 0, lockTimeoutMs: 0 }), undefined);
    assert.equal(
      sessionOptions({ statementTimeoutMs: 30000, lockTimeoutMs: 0 }),
      '-c statement_timeout=30000',
    );
    assert.equal(
      sessionOptions({ statementTimeoutMs: 5, lockTimeoutMs: 7 }),
      '-c statement_timeout=5 -c lock_timeout=7',
    );
  });

  it('applies both from the configuration, cuts a stuck statement and a lock wait', async () => {
    const scratch = await createTestDb('postgres');
    const db = await openDb({
      DATABASE_URL: scratch.url!,
      DATA_DIR: '',
      DATABASE_POOL_SIZE: 2,
      DATABASE_STATEMENT_TIMEOUT_MS: 300,
      DATABASE_LOCK_TIMEOUT_MS: 100,
    });
    try {
      const show = async (name: string) =>
        (await db.query<Record<string, string>>(`SHOW ${name}`)).rows[0]?.[name];
      assert.equal(await show('statement_timeout'), '300ms');
      assert.equal(await show('lock_timeout'), '100ms');
      await assert.rejects(db.query('SELECT pg_sleep(2)'), { code: '57014' });
      // Inside a transaction too (the same pooled connections).
      await assert.rejects(
        db.transaction((tx) => tx.query('SELECT pg_sleep(2)')),
        { code: '57014' },
      );

      // A row locked elsewhere: the wait is cut by lock_timeout (well before statement_timeout).
      await db.query(`CREATE TABLE t (id int PRIMARY KEY)`);
      await db.query(`INSERT INTO t VALUES (1)`);
      const holder = new pg.Client({ connectionString: scratch.url });
      await holder.connect();
      try {
        await holder.query('BEGIN');
        await holder.query('SELECT * FROM t WHERE id = 1 FOR UPDATE');
        const started = Date.now();
        await assert.rejects(db.query('UPDATE t SET id = 2 WHERE id = 1'), { code: '55P03' });
        assert.ok(Date.now() - started < 280, 'cut by lock_timeout');
      } finally {
        await holder.query('ROLLBACK');
        await holder.end();
      }
    } finally {
      await db.close();
      await scratch.drop();
    }
  });

  it('keeps LISTEN working past the statement timeout', async () => {
    const scratch = await createTestDb('postgres');
    const db = createPostgresDb(scratch.url!, 2, { statementTimeoutMs: 50, lockTimeoutMs: 50 });
    try {
      const got: string[] = [];
      await db.listen('te_timeouts', (p) => got.push(p));
      await sleep(300);
      await db.query(`SELECT pg_notify('te_timeouts', 'late')`);
      for (let i = 0; i < 100 && got.length === 0; i++) await sleep(20);
      assert.deepEqual(got, ['late']);
    } finally {
      await db.close();
      await scratch.drop();
    }
  });

  it('runs migrations without the limits: slow steps and a wait for the migration lock', async () => {
    const scratch = await createTestDb('postgres');
    // A second database, empty: every migration runs on connections limited to 5 ms statements.
    const admin = new pg.Client({ connectionString: base });
    await admin.connect();
    const name = `${new URL(scratch.url!).pathname.slice(1)}_m`;
    await admin.query(`CREATE DATABASE ${name}`);
    const url = new URL(scratch.url!);
    url.pathname = `/${name}`;
    const db = createPostgresDb(url.toString(), 2, { statementTimeoutMs: 5, lockTimeoutMs: 1 });
    const other = new pg.Client({ connectionString: url.toString() });
    await other.connect();
    try {
      // Another replica holds the migration lock for a while: this one waits, then migrates.
      await other.query('BEGIN');
      await other.query('SELECT pg_advisory_xact_lock(7413001)');
      const release = sleep(300).then(() => other.query('COMMIT'));
      const applied = await migrate(db);
      await release;
      assert.ok(applied.length > 0, 'the migrations ran');
      const { rows } = await other.query<{ n: number }>('SELECT count(*)::int AS n FROM schema_migrations');
      assert.equal(rows[0]?.n, applied.length);
    } finally {
      await other.end();
      await db.close();
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
      await scratch.drop();
    }
  });
});
