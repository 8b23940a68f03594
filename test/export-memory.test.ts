/**
 * An export larger than the server's whole JavaScript heap: the server runs as a child process
 * under --max-old-space-size and streams a dataset several times that size. Memory must hold a
 * page of tasks at a time, never the export.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openDb } from '../src/db/index.ts';
import { migrate } from '../src/db/migrate.ts';
import type { Db } from '../src/db/types.ts';
import { createTestDb, dbModes } from './helpers/db.ts';
import { startCli } from './helpers/process.ts';

/** The server's heap at rest is about 50–60 MB (the TypeScript loader, Fastify, PGlite's glue). */
const HEAP_MB = 96;
const TASKS = 800;
const MESSAGES = 20;
/** Each message is 500 × 32 characters: about 320 KB of content a task, 250 MB in all. */
const REPEAT = 500;

async function seed(db: Db): Promise<void> {
  await db.query(
    `INSERT INTO tasks (problem_id, status, attempt, worker_id, started_at, completed_at, result)
     SELECT 'mem-' || i, 'completed', 1, 'worker-001', now(), now(),
            '{"task_type": "detection", "results": {"Detection Accuracy": "Correct"}}'::jsonb
     FROM generate_series(1, $1::int) i`,
    [TASKS],
  );
  await db.query(
    `INSERT INTO llm_conversations (task_id, attempt, conversation_key, model_name)
     SELECT id, 1, 'main', 'model-m' FROM tasks`,
  );
  await db.query(
    `INSERT INTO llm_messages (conversation_id, seq, parent_seq, role, content)
     SELECT c.id, s, NULLIF(s - 1, 0), CASE WHEN s % 2 = 1 THEN 'user' ELSE 'assistant' END,
            to_jsonb(repeat(md5(c.id::text || s), $2::int))
     FROM llm_conversations c, generate_series(1, $1::int) s`,
    [MESSAGES, REPEAT],
  );
}

/** The server's database, seeded before it starts: a PGlite folder or a PostgreSQL database. */
async function seededDatabase(mode: 'pglite' | 'postgres') {
  const dataDir = mkdtempSync(join(tmpdir(), 'te-export-mem-'));
  if (mode === 'pglite') {
    const db = await openDb({ DATABASE_URL: '', DATA_DIR: dataDir, DATABASE_POOL_SIZE: 1 });
    await migrate(db);
    await seed(db);
    await db.close();
    return { dataDir, url: '', drop: async () => rmSync(dataDir, { recursive: true, force: true }) };
  }
  const test = await createTestDb('postgres');
  await seed(test.db);
  return {
    dataDir,
    url: test.url ?? '',
    drop: async () => {
      rmSync(dataDir, { recursive: true, force: true });
      await test.drop();
    },
  };
}

for (const mode of dbModes()) {
  describe(`export under a small heap (${mode})`, () => {
    it(`streams ${TASKS} trajectories, several times the ${HEAP_MB} MB heap, to the end`, async () => {
      const database = await seededDatabase(mode);
      const server = startCli(['serve'], {
        PORT: '0',
        DATA_DIR: database.dataDir,
        DATABASE_URL: database.url,
        NUM_INTERNAL_WORKERS: '0',
        NODE_OPTIONS: `--max-old-space-size=${HEAP_MB}`,
      });
      try {
        const line = await server.waitForLine(/Task Executor listening/, 60_000);
        const base = (JSON.parse(line) as { url: string }).url;
        const res = await fetch(`${base}/api/v1/export?format=trajectories`);
        assert.equal(res.status, 200);
        assert.equal(res.headers.get('x-export-total'), String(TASKS));
        let bytes = 0;
        let lines = 0;
        let tail = '';
        const decoder = new TextDecoder();
        for await (const chunk of res.body!) {
          bytes += chunk.byteLength;
          const text = tail + decoder.decode(chunk, { stream: true });
          const parts = text.split('\n');
          tail = parts.pop()!;
          lines += parts.length;
          if (lines === parts.length && parts[0]) {
            const first = JSON.parse(parts[0]) as { conversations: { messages: unknown[] }[] };
            assert.equal(first.conversations[0]!.messages.length, MESSAGES);
          }
        }
        assert.equal(tail, '', 'the export ends with a whole line');
        assert.equal(lines, TASKS);
        assert.ok(bytes > 2 * HEAP_MB * 1024 * 1024, `exported ${bytes} bytes`);
        const health = await fetch(`${base}/health`);
        assert.equal(health.status, 200, 'the server is still up');
      } finally {
        await server.stop();
        await database.drop();
      }
    });
  });
}
