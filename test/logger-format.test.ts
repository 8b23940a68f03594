/**
 * LOG_FORMAT: readable lines for a person at a terminal, JSON for machines, and `auto`
 * choosing by whether stdout is a terminal. The logger writes to a real stream here.
 */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { ConfigError, loadConfig } from '../src/config/index.ts';
import { createLogger, resolveLogFormat } from '../src/server/logger.ts';

/** A stream that collects what is written, posing as a terminal or a pipe. */
function sink(isTTY: boolean) {
  const stream = Object.assign(new PassThrough(), { isTTY });
  let text = '';
  stream.on('data', (d: Buffer) => {
    text += d.toString();
  });
  return { stream, text: () => text };
}

test('auto is pretty on a terminal and JSON on a pipe; json and pretty are taken as given', () => {
  assert.equal(resolveLogFormat('auto', { isTTY: true }), 'pretty');
  assert.equal(resolveLogFormat('auto', { isTTY: false }), 'json');
  assert.equal(resolveLogFormat('auto', {}), 'json');
  assert.equal(resolveLogFormat('json', { isTTY: true }), 'json');
  assert.equal(resolveLogFormat('pretty', { isTTY: false }), 'pretty');
});

test('a pipe gets one JSON object per line with the fields', () => {
  const out = sink(false);
  const log = createLogger(loadConfig({}, { LOG_FORMAT: 'auto' }), { stream: out.stream });
  log.info({ task_id: 't-1', worker_id: 'worker-001-sandbox' }, 'task claimed');
  const line = JSON.parse(out.text().trim()) as Record<string, unknown>;
  assert.equal(line.msg, 'task claimed');
  assert.equal(line.task_id, 't-1');
  assert.equal(line.level, 30);
});

test('pretty writes a readable line: time, level, message, then the fields; tokens stay redacted', () => {
  const out = sink(false);
  const log = createLogger(loadConfig({}, { LOG_FORMAT: 'pretty' }), { stream: out.stream });
  log.warn({ task_id: 't-2', req: { headers: { authorization: 'Bearer secret-token' } } }, 'task t-2 waits');
  const text = out.text();
  assert.match(text, /^\[\d\d:\d\d:\d\d\.\d{3}\] WARN: task t-2 waits /);
  assert.match(text, /"task_id":"t-2"/);
  assert.doesNotMatch(text, /secret-token/);
  assert.ok(!text.includes('\u001b['), 'no colour codes when the stream is not a terminal');
  assert.throws(() => JSON.parse(text), 'not JSON');
});

test('LOG_FORMAT accepts auto, json and pretty only', () => {
  assert.equal(loadConfig({}).LOG_FORMAT, 'auto');
  assert.throws(
    () => loadConfig({ LOG_FORMAT: 'fancy' }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /LOG_FORMAT.*auto, json, pretty/);
      return true;
    },
  );
});
