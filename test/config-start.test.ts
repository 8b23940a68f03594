/**
 * Values that parse on their own but cannot work are refused at start with the variable's
 * name (issue 16): a broken JSON argv for the command backend, a heartbeat that cannot keep a
 * lease, a DATABASE_URL that is not PostgreSQL (named, never echoed: it may hold a password).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../src/config/index.ts';

function refusal(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.message;
  }
  assert.fail(`accepted ${JSON.stringify(env)}`);
}

describe('configuration refused at start', () => {
  it('COMMAND_BACKEND_CMD starting with "[" must be a JSON array of strings', () => {
    assert.match(refusal({ COMMAND_BACKEND_CMD: '["node",' }), /COMMAND_BACKEND_CMD=.*not valid JSON/);
    assert.match(refusal({ COMMAND_BACKEND_CMD: '[]' }), /COMMAND_BACKEND_CMD=.*non-empty array/);
    assert.match(
      refusal({ COMMAND_BACKEND_CMD: '["node", 3]' }),
      /COMMAND_BACKEND_CMD=.*array of non-empty strings/,
    );
    assert.deepEqual(
      loadConfig({ COMMAND_BACKEND_CMD: '["node", "agent.js"]' }).COMMAND_BACKEND_CMD,
      '["node", "agent.js"]',
    );
    // Anything else is a shell line, as before.
    assert.equal(
      loadConfig({ COMMAND_BACKEND_CMD: 'python3 run.py "$PROBLEM_ID"' }).COMMAND_BACKEND_CMD,
      'python3 run.py "$PROBLEM_ID"',
    );
  });

  it('HEARTBEAT_INTERVAL must be less than LEASE_SECONDS', () => {
    assert.match(
      refusal({ HEARTBEAT_INTERVAL: '60', LEASE_SECONDS: '60' }),
      /HEARTBEAT_INTERVAL=60 must be less than LEASE_SECONDS=60/,
    );
    assert.match(refusal({ HEARTBEAT_INTERVAL: '90' }), /less than LEASE_SECONDS=60/);
    const ok = loadConfig({ HEARTBEAT_INTERVAL: '20', LEASE_SECONDS: '60' });
    assert.equal(ok.HEARTBEAT_INTERVAL, 20);
  });

  it('a bad value is reported alone, before any relation between values', () => {
    const message = refusal({ HEARTBEAT_INTERVAL: 'often', LEASE_SECONDS: '5' });
    assert.match(message, /HEARTBEAT_INTERVAL="often"/);
    assert.doesNotMatch(message, /less than LEASE_SECONDS/);
  });

  it('DATABASE_URL must be postgres:// or postgresql://, and its value is never shown', () => {
    for (const bad of ['mysql://root:hunter2@db/x', 'db.internal:5432', 'http://db/x']) {
      const message = refusal({ DATABASE_URL: bad });
      assert.match(
        message,
        /DATABASE_URL \(value not shown\): expected a postgres:\/\/ or postgresql:\/\/ URL/,
      );
      assert.ok(!message.includes(bad), message);
    }
    for (const good of [
      'postgres://u:p@h:5432/db',
      'postgresql://h/db',
      'postgresql:///db?host=/var/run/postgresql',
    ])
      assert.equal(loadConfig({ DATABASE_URL: good }).DATABASE_URL, good);
  });
});
