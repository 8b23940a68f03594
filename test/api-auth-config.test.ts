/**
 * Token configuration and the start-up check: API_TOKENS and API_TOKENS_FILE formats, errors
 * that name the problem but never the token, constant-time lookup, loopback detection, and a
 * server that refuses to open on a reachable address without tokens (unless told to).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import {
  accessFor,
  checkAuthPlan,
  isLoopback,
  loadApiTokens,
  parseTokenFile,
  ROUTE_ACCESS,
  tokenTable,
} from '../src/api/auth.ts';
import { ConfigError, loadConfig } from '../src/config/index.ts';
import { startServer } from '../src/server/compose.ts';
import { createTestDb } from './helpers/db.ts';

const A = 'admin-secret-0123456789';
const C = 'client-secret-0123456789';
const K = 'worker-secret-0123456789';

function tmp(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'te-auth-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Asserts a ConfigError that matches `re` and does not quote any of `secrets`. */
function refuses(fn: () => unknown, re: RegExp, secrets: string[]): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ConfigError, String(err));
    assert.match(err.message, re);
    for (const s of secrets) assert.ok(!err.message.includes(s), `the error quotes a token: ${err.message}`);
    return true;
  });
}

describe('API_TOKENS', () => {
  it('reads comma-separated role:token pairs, several per role, spaces and a trailing comma allowed', () => {
    const cfg = loadConfig({ API_TOKENS: ` admin:${A}, client:${C},client:${C}x , worker:${K},` });
    assert.deepEqual(cfg.API_TOKENS, [
      { role: 'admin', token: A },
      { role: 'client', token: C },
      { role: 'client', token: `${C}x` },
      { role: 'worker', token: K },
    ]);
    assert.deepEqual(loadConfig({}).API_TOKENS, [], 'none by default');
  });

  it('refuses an unknown role, an empty, short or spaced token, or a missing role, without echoing it', () => {
    const cases: [string, RegExp][] = [
      [`root:${A}`, /entry 1: unknown role \(expected admin, client, worker\)/],
      [`admin:${A},client:`, /entry 2: empty token/],
      ['worker:short-token', /entry 1: token shorter than 16 characters/],
      [`admin:${A} ${A}`, /entry 1: the token contains whitespace/],
      [A, /entry 1 has no "role:"/],
    ];
    for (const [value, re] of cases)
      refuses(() => loadConfig({ API_TOKENS: value }), re, [A, 'short-token', 'root']);
    refuses(
      () => loadConfig({ API_TOKENS: `root:${A}` }),
      /^Invalid configuration:\n {2}API_TOKENS \(value not shown\)/,
      [A],
    );
  });
});

describe('API_TOKENS_FILE', () => {
  it('reads `role token` lines with comments, blank lines and CRLF, merged with API_TOKENS', (t) => {
    const file = join(tmp(t), 'tokens');
    writeFileSync(
      file,
      `# the fleet\r\n\r\nadmin   ${A}\r\n  client\t${C}  # the trainer\r\nworker ${K}\r\n`,
    );
    const cfg = loadConfig({ API_TOKENS_FILE: file, API_TOKENS: `client:${C}2` });
    const tokens = loadApiTokens(cfg);
    assert.deepEqual(
      tokens.map((x) => `${x.role}:${x.token}`).sort(),
      [`admin:${A}`, `client:${C}`, `client:${C}2`, `worker:${K}`].sort(),
    );
  });

  it('names the file and line of a bad entry, never the token', () => {
    const cases: [string, RegExp][] = [
      [`admin ${A}\nroot ${C}\n`, /f line 2: unknown role/],
      ['# c\nworker short-token\n', /f line 2: token shorter than 16 characters/],
      [`client\n`, /f line 1: empty token/],
      [`client ${C} extra\n`, /f line 1: expected "role token", found more fields/],
      ['# only comments\n\n', /f holds no tokens/],
    ];
    for (const [text, re] of cases) refuses(() => parseTokenFile(text, 'f'), re, [A, C, 'short-token']);
  });

  it('refuses a file it cannot read, and one token given to two roles', (t) => {
    const missing = join(tmp(t), 'nope');
    refuses(
      () => loadApiTokens(loadConfig({ API_TOKENS_FILE: missing })),
      /nope cannot be read \(ENOENT\)/,
      [],
    );
    const file = join(tmp(t), 'tokens');
    writeFileSync(file, `worker ${A}\n`);
    refuses(
      () => loadApiTokens(loadConfig({ API_TOKENS_FILE: file, API_TOKENS: `admin:${A}` })),
      /one token is listed for two roles \(admin and worker\)/,
      [A],
    );
  });
});

describe('the token table and the route table', () => {
  it('maps a token to its role and nothing else to anything', () => {
    const table = tokenTable([
      { role: 'admin', token: A },
      { role: 'client', token: C },
    ]);
    assert.equal(table.roleOf(A), 'admin');
    assert.equal(table.roleOf(C), 'client');
    for (const other of [undefined, '', K, `${A} `, A.slice(0, -1), A.toUpperCase()])
      assert.equal(table.roleOf(other), undefined, String(other));
  });

  it('defaults an unlisted route to admin only, and keeps the gateway and docs out of it', () => {
    assert.deepEqual(accessFor('POST', '/api/v1/brand-new'), { access: [], listed: false });
    assert.equal(accessFor('POST', '/llm/v1/chat/completions').access, 'gateway');
    assert.equal(accessFor('GET', '/docs/static/*').access, 'public');
    assert.equal(accessFor('HEAD', '/health').access, 'public');
    assert.deepEqual(accessFor('GET', '/api/v1/workers/internal/status').access, []);
    // No route is given to both clients and workers: the roles do not overlap.
    for (const [route, access] of Object.entries(ROUTE_ACCESS))
      if (typeof access !== 'string') assert.ok(access.length <= 1, route);
  });
});

describe('exposure check at start', () => {
  it('knows loopback addresses', () => {
    for (const h of ['127.0.0.1', '127.8.9.10', '::1', '[::1]', 'localhost', 'LOCALHOST', '::ffff:127.0.0.1'])
      assert.ok(isLoopback(h), h);
    for (const h of ['0.0.0.0', '::', '', '10.0.0.5', '128.0.0.1', 'example.com', '127.0.0.1.nip.io', '::2'])
      assert.ok(!isLoopback(h), h);
  });

  it('refuses a reachable address without tokens unless ALLOW_UNAUTHENTICATED', () => {
    refuses(
      () => checkAuthPlan(loadConfig({ HOST: '0.0.0.0' })),
      /HOST=0\.0\.0\.0 is not a loopback address.*ALLOW_UNAUTHENTICATED=true/s,
      [],
    );
    checkAuthPlan(loadConfig({ HOST: '0.0.0.0', ALLOW_UNAUTHENTICATED: 'true' }));
    checkAuthPlan(loadConfig({ HOST: '0.0.0.0', API_TOKENS: `worker:${K}` }));
    checkAuthPlan(loadConfig({ HOST: '127.0.0.1' }));
    checkAuthPlan(loadConfig({}));
  });

  it('stops startServer before it opens the database', async (t) => {
    const dataDir = join(tmp(t), 'data');
    const config = loadConfig({ HOST: '0.0.0.0', PORT: '0', DATA_DIR: dataDir, LOG_LEVEL: 'silent' });
    await assert.rejects(startServer(config), ConfigError);
    assert.ok(!existsSync(dataDir), 'nothing was opened or created');
    const bad = loadConfig({
      API_TOKENS_FILE: join(dataDir, 'missing'),
      DATA_DIR: dataDir,
      LOG_LEVEL: 'silent',
    });
    await assert.rejects(startServer(bad), /cannot be read/);
    assert.ok(!existsSync(dataDir));
  });

  it('starts on 0.0.0.0 with ALLOW_UNAUTHENTICATED, and with tokens guards it over real HTTP', async (t) => {
    for (const env of [{ ALLOW_UNAUTHENTICATED: 'true' }, { API_TOKENS: `client:${C}` }]) {
      const testDb = await createTestDb('pglite');
      t.after(() => testDb.drop());
      const config = loadConfig({
        HOST: '0.0.0.0',
        PORT: '0',
        LOG_LEVEL: 'silent',
        NUM_INTERNAL_WORKERS: '0',
        ENABLE_BACKGROUND_TASKS: 'false',
        DATA_DIR: tmp(t),
        ...env,
      });
      const server = await startServer(config, { db: testDb.db });
      try {
        const port = new URL(server.url).port;
        const res = await fetch(`http://127.0.0.1:${port}/api/v1/tasks`);
        assert.equal(res.status, env.API_TOKENS ? 401 : 200);
        if (env.API_TOKENS) {
          assert.equal(res.headers.get('www-authenticate'), 'Bearer');
          const ok = await fetch(`http://127.0.0.1:${port}/api/v1/tasks`, {
            headers: { authorization: `Bearer ${C}` },
          });
          assert.equal(ok.status, 200);
        }
      } finally {
        await server.close();
      }
    }
  });
});
