import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig, settingSpecs } from '../src/config/index.ts';
import { checkWorkerPlan, internalWorkerPlan } from '../src/worker/manager.ts';

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

  it('reads INTERNAL_WORKER_BACKENDS as backend:count pairs, and refuses malformed ones', () => {
    const c = loadConfig({ INTERNAL_WORKER_BACKENDS: 'sandbox:2, command:1' });
    assert.deepEqual(c.INTERNAL_WORKER_BACKENDS, [
      { backend: 'sandbox', count: 2 },
      { backend: 'command', count: 1 },
    ]);
    assert.equal(c.INTERNAL_WORKER_BACKEND, 'sandbox', 'the sandbox is the default backend');
    for (const bad of ['sandbox:x', 'sandbox:2,sandbox:1', 'sandbox:51', ':3', 'Sandbox:1'])
      assert.throws(() => loadConfig({ INTERNAL_WORKER_BACKENDS: bad }), /INTERNAL_WORKER_BACKENDS=/, bad);
  });

  it('plans the in-process workers per backend, cycling on scale, and names an unknown backend', () => {
    const mixed = internalWorkerPlan(loadConfig({ INTERNAL_WORKER_BACKENDS: 'sandbox:2,command:1' }));
    assert.deepEqual(mixed, { slots: ['sandbox', 'sandbox', 'command'], workers: 3 });
    const plain = internalWorkerPlan(
      loadConfig({ NUM_INTERNAL_WORKERS: '4', INTERNAL_WORKER_BACKEND: 'command' }),
    );
    assert.deepEqual(plain, { slots: ['command'], workers: 4 });
    assert.throws(
      () =>
        checkWorkerPlan(
          internalWorkerPlan(loadConfig({ INTERNAL_WORKER_BACKENDS: 'sandbox:1,kind:1' })).slots,
        ),
      (err: Error) =>
        err instanceof ConfigError &&
        /unknown backend "kind"/.test(err.message) &&
        /known: sandbox, command/.test(err.message),
    );
  });

  it('never repeats the value of a secret setting in its error', () => {
    assert.throws(
      () =>
        loadConfig({
          LLM_UPSTREAMS: '{"vllm": {"base_url": "http://x", "api_key": "sk-inline-secret-123"',
          DATABASE_POOL_SIZE: '0',
        }),
      (err: Error) =>
        /LLM_UPSTREAMS \(value not shown\): expected valid JSON/.test(err.message) &&
        !err.message.includes('sk-inline-secret-123') &&
        /DATABASE_POOL_SIZE="0"/.test(err.message),
    );
  });
});
