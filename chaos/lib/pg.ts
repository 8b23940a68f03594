/**
 * A private PostgreSQL 15 cluster for the suite, never the machine's shared server: initdb in
 * a temporary folder, its own port and socket folder, stopped `-m immediate` to simulate a
 * crash. initdb refuses to run as root, so as root every pg_ctl/initdb runs as the `postgres`
 * user (runuser), in a folder it owns.
 */
import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from './util.ts';

const run = promisify(execFile);

function binDir(): string {
  for (const v of [process.env.CHAOS_PG_BIN, '/usr/lib/postgresql/15/bin', '/usr/lib/postgresql/16/bin'])
    if (v && existsSync(join(v, 'initdb'))) return v;
  throw new Error('PostgreSQL server binaries not found (set CHAOS_PG_BIN to the folder holding initdb)');
}

export class PgCluster {
  private constructor(
    readonly dir: string,
    readonly port: number,
    private readonly bin: string,
    private readonly asUser: string | null,
  ) {}

  static async create(): Promise<PgCluster> {
    const bin = binDir();
    const root = userInfo().uid === 0;
    const dir = mkdtempSync(join(tmpdir(), 'chaos-pg-'));
    const asUser = root ? 'postgres' : null;
    if (root) {
      const { stdout } = await run('id', ['-u', 'postgres']);
      const { stdout: g } = await run('id', ['-g', 'postgres']);
      chownSync(dir, Number(stdout.trim()), Number(g.trim()));
    }
    const port = await freePort();
    const c = new PgCluster(dir, port, bin, asUser);
    await c.cmd('initdb', [
      '-D',
      join(dir, 'data'),
      '-A',
      'trust',
      '-U',
      'postgres',
      '-E',
      'UTF8',
      '--no-sync',
    ]);
    await c.start();
    return c;
  }

  private cmd(tool: string, args: string[], timeoutMs = 60_000) {
    const file = join(this.bin, tool);
    return this.asUser
      ? run('runuser', ['-u', this.asUser, '--', file, ...args], { timeout: timeoutMs })
      : run(file, args, { timeout: timeoutMs });
  }

  url(database = 'postgres'): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  async start(): Promise<void> {
    await this.cmd('pg_ctl', [
      '-D',
      join(this.dir, 'data'),
      '-l',
      join(this.dir, 'server.log'),
      '-w',
      '-t',
      '60',
      '-o',
      `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c max_connections=300`,
      'start',
    ]);
  }

  /** `immediate`: no checkpoint, every backend killed — what a crash looks like to clients. */
  async stop(mode: 'immediate' | 'fast' = 'immediate'): Promise<void> {
    await this.cmd('pg_ctl', ['-D', join(this.dir, 'data'), '-m', mode, '-w', '-t', '60', 'stop']);
  }

  async running(): Promise<boolean> {
    try {
      await this.cmd('pg_ctl', ['-D', join(this.dir, 'data'), 'status']);
      return true;
    } catch {
      return false;
    }
  }

  /** A fresh database for one scenario; returns its URL. */
  async createDatabase(name: string): Promise<string> {
    const c = new pg.Client({ connectionString: this.url() });
    await c.connect();
    try {
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.query(`CREATE DATABASE ${name}`);
    } finally {
      await c.end();
    }
    return this.url(name);
  }

  log(): string {
    try {
      return readFileSync(join(this.dir, 'server.log'), 'utf8');
    } catch {
      return '';
    }
  }

  async destroy(): Promise<void> {
    if (await this.running()) await this.stop('immediate').catch(() => {});
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A short-lived client for checks: one query, then closed. */
export async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end().catch(() => {});
  }
}
