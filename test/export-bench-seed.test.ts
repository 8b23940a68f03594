/**
 * The export benchmark's seeded database (bench/export-db.ts) must export what the generator
 * made: otherwise the endpoint figures would measure a different dataset from the writers'.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { generateTrajectories } from '../bench/export-data.ts';
import { seedExportDataset } from '../bench/export-db.ts';
import { exportRange, readTrajectories } from '../src/datasets/export/reader.ts';
import type { TrajectoryRecord } from '../src/datasets/export/record.ts';
import { createTestDb, dbModes, type TestDb } from './helpers/db.ts';

const TRAJECTORIES = 12;

/** Fields the seed stores as generated (status, result and rewards differ by design). */
const SAME = [
  'task_id',
  'attempt',
  'problem_id',
  'task_type',
  'worker_id',
  'experiment_id',
  'group_id',
  'repetition',
  'policy_version',
  'labels',
  'agent_config',
  'created_at',
  'started_at',
  'completed_at',
  'reward_history',
  'conversations',
  'steps',
] as const;

for (const mode of dbModes()) {
  describe(`export bench seed (${mode})`, () => {
    const dbs: TestDb[] = [];
    after(async () => {
      for (const t of dbs) await t.drop();
    });

    it('exports the generated trajectories, in order, with every tenth one failed', async () => {
      const t = await createTestDb(mode);
      dbs.push(t);
      // Batches of 5: two full ones and a partial last one.
      const seed = await seedExportDataset(t.db, TRAJECTORIES, 5);
      assert.equal(seed.trajectories, TRAJECTORIES);
      const got: TrajectoryRecord[] = [];
      for await (const r of readTrajectories(t.db, {}, await exportRange(t.db))) got.push(r);
      const want = [...generateTrajectories({ trajectories: TRAJECTORIES })];
      assert.equal(got.length, want.length);
      for (const [i, w] of want.entries()) {
        const g = got[i]!;
        for (const field of SAME) assert.deepEqual(g[field], w[field], `record ${i}: ${field}`);
        assert.equal(g.status, i % 10 === 9 ? 'failed' : 'completed', `record ${i}: status`);
        assert.deepEqual(g.results, i % 10 === 9 ? null : w.results, `record ${i}: results`);
      }
      // Half the calls carry token ids and logprobs: the seed must have filed them where the export reads them.
      const withIds = got.flatMap((r) => r.conversations[0]!.calls).filter((c) => c.prompt_token_ids);
      assert.ok(withIds.length > 0 && withIds.every((c) => c.completion_logprobs?.length));
    });
  });
}
