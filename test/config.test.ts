import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig, settingSpecs } from '../src/config/index.ts';

describe('configuration', () => {
  it('uses the documented defaults when the environment is empty', () => {
    const c = loadConfig({});
    assert.equal(c.HOST, '127.0.0.1');
    assert.equal(c.PORT, 8000);
    assert.equal(c.DATABASE_URL, '');
    assert.equal(c.NUM_INTERNAL_WORKERS, 3);
    assert.equal(c.WORKER_ID_PATTERN, '^worker-\\d{3}-(kind|internal)$');
    assert.ok(Object.isFrozen(c));
  });

  it('parses the seed variable names', () => {
    const c = loadConfig({ NUM_INTERNAL_WORKERS: '7', AUTO_START_WORKERS: 'false', DEFAULT_PRIORITY: '9' });
    assert.equal(c.NUM_INTERNAL_WORKERS, 7);
    assert.equal(c.AUTO_START_WORKERS, false);
    assert.equal(c.DEFAULT_PRIORITY, 9);
  });

  it('rejects every bad value at once, naming each variable and the expected form', () => {
    assert.throws(
      () =>
        loadConfig({
          PORT: 'eighty',
          NUM_INTERNAL_WORKERS: '51',
          AUTO_START_WORKERS: 'maybe',
          WORKER_ID_PATTERN: '(',
        }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.match(err.message, /PORT="eighty": expected an integer from 0 to 65535/);
        assert.match(err.message, /NUM_INTERNAL_WORKERS="51": expected an integer from 0 to 50/);
        assert.match(err.message, /AUTO_START_WORKERS="maybe": expected true or false/);
        assert.match(err.message, /WORKER_ID_PATTERN="\(": expected a valid regular expression/);
        return true;
      },
    );
  });

  it('documents every variable in the README', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const missing = Object.keys(settingSpecs).filter((name) => !readme.includes(`| \`${name}\` |`));
    assert.deepEqual(missing, []);
  });
});
