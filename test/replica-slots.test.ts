/**
 * Replica slots: every API replica names its in-process workers from its own block, so two
 * replicas on one database never share a worker row.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig } from '../src/config/index.ts';
import {
  NoFreeReplicaSlot,
  REPLICA_SLOTS,
  releaseReplicaSlot,
  renewReplicaSlot,
  takeReplicaSlot,
} from '../src/queue/index.ts';
import { startServer } from '../src/server/compose.ts';
import { createTestDb, dbModes } from './helpers/db.ts';

for (const mode of dbModes()) {
  describe(`replica slots (${mode})`, () => {
    it('hands out the lowest free slot, takes over a stale one, and refuses when all are held', async (t) => {
      const { db, drop } = await createTestDb(mode);
      t.after(drop);
      assert.equal(await takeReplicaSlot(db, 'a', 60), 0);
      assert.equal(await takeReplicaSlot(db, 'b', 60), 1);
      await releaseReplicaSlot(db, 0, 'a');
      assert.equal(await takeReplicaSlot(db, 'c', 60), 0, 'a released slot is reused');
      await db.query(`UPDATE replica_slots SET last_seen = now() - interval '1 hour' WHERE slot = 1`);
      assert.equal(await takeReplicaSlot(db, 'd', 60), 1, 'a slot nobody renewed is taken over');
      assert.equal(await renewReplicaSlot(db, 1, 'b'), false, 'its old owner learns it lost it');
      assert.equal(await renewReplicaSlot(db, 1, 'd'), true);
      for (let i = 2; i < REPLICA_SLOTS; i++) await takeReplicaSlot(db, `r${i}`, 60);
      await assert.rejects(takeReplicaSlot(db, 'one-too-many', 60), NoFreeReplicaSlot);
    });
  });
}

if (dbModes().includes('postgres')) {
  describe('two API replicas on one PostgreSQL database', () => {
    it('name their in-process workers from different blocks', async () => {
      const { url, drop } = await createTestDb('postgres');
      const dirs: string[] = [];
      const servers: Awaited<ReturnType<typeof startServer>>[] = [];
      const replica = async () => {
        const dir = mkdtempSync(join(tmpdir(), 'te-replica-'));
        dirs.push(dir);
        const server = await startServer(
          loadConfig({
            PORT: '0',
            LOG_LEVEL: 'silent',
            DATA_DIR: dir,
            DATABASE_URL: url!,
            NUM_INTERNAL_WORKERS: '2',
            ENABLE_BACKGROUND_TASKS: 'false',
          }),
        );
        servers.push(server);
        return server;
      };
      try {
        const a = await replica();
        const b = await replica();
        const ids = (s: typeof a) => s.pool.status().workers.map((w) => w.worker_id);
        assert.deepEqual(ids(a), ['worker-001-sandbox', 'worker-002-sandbox']);
        assert.deepEqual(ids(b), ['worker-051-sandbox', 'worker-052-sandbox']);
        const rows = await a.queue.listWorkers();
        assert.equal(rows.length, 4, 'four worker rows, none shared');
      } finally {
        for (const s of servers) await s.close();
        for (const d of dirs) rmSync(d, { recursive: true, force: true });
        await drop();
      }
    });
  });
}
