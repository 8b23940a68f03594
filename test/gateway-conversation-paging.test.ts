/**
 * A conversation's messages come in pages (`limit`, default and most 1000; `after_seq` cursor
 * with `next_after_seq`), on the messages endpoint and embedded in the conversation, so no
 * answer grows with the conversation. Recorded through the gateway with the scripted echo model.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { converse, snapshot, system, user } from './helpers/conversation-store.ts';
import { dbModes } from './helpers/db.ts';
import {
  claimTask,
  type GatewayHarness,
  getJson,
  getStatus,
  type Rows,
  startHarness,
} from './helpers/gateway.ts';

for (const mode of dbModes()) {
  describe(`conversation message paging (${mode})`, () => {
    let h: GatewayHarness;
    let id: string;
    let all: Rows;
    before(async () => {
      h = await startHarness(mode);
      const c = await claimTask(h.t);
      await converse(c, [system('s'), user('u 1')], 6, 'u');
      const s = await snapshot(h.t, c.task.id, 6);
      id = s.conversation.id;
      all = s.messages;
    });
    after(() => h.close());

    /** Follows next_after_seq from the start; returns the seqs seen and the pages' sizes. */
    async function follow(path: string, limit: number) {
      const seqs: number[] = [];
      const sizes: number[] = [];
      let cursor: number | null | undefined;
      while (cursor !== null) {
        const sep = path.includes('?') ? '&' : '?';
        const after = cursor === undefined ? '' : `&after_seq=${cursor}`;
        const page = await getJson(h.t, `${path}${sep}limit=${limit}${after}`);
        seqs.push(...(page.messages as Rows).map((m) => m.seq));
        sizes.push(page.messages.length);
        cursor = page.next_after_seq as number | null;
        assert.ok(sizes.length < 100, 'the cursor ends');
      }
      return { seqs, sizes };
    }

    it('serves everything in one page by default, with next_after_seq null', async () => {
      assert.ok(all.length >= 12, `${all.length} messages recorded`);
      const page = await getJson(h.t, `/api/v1/llm-conversations/${id}/messages`);
      assert.equal(page.conversation_id, id);
      assert.deepEqual(
        page.messages.map((m: { seq: number }) => m.seq),
        all.map((m) => m.seq),
      );
      assert.equal(page.next_after_seq, null);
    });

    it('pages the messages endpoint with limit and after_seq, in order, without gaps', async () => {
      const { seqs, sizes } = await follow(`/api/v1/llm-conversations/${id}/messages`, 5);
      assert.deepEqual(
        seqs,
        all.map((m) => m.seq),
      );
      assert.ok(sizes.slice(0, -1).every((n) => n === 5));
      const users = all.filter((m) => m.role === 'user').map((m) => m.seq);
      assert.deepEqual((await follow(`/api/v1/llm-conversations/${id}/messages?role=user`, 2)).seqs, users);
    });

    it('pages the messages embedded in the conversation, keeping its fields', async () => {
      const first = await getJson(h.t, `/api/v1/llm-conversations/${id}?limit=4`);
      assert.equal(first.id, id);
      assert.equal(first.message_count, all.length, 'message_count stays the total');
      assert.equal(first.messages.length, 4);
      assert.equal(first.next_after_seq, first.messages[3].seq);
      const { seqs } = await follow(`/api/v1/llm-conversations/${id}`, 4);
      assert.deepEqual(
        seqs,
        all.map((m) => m.seq),
      );
      const whole = await getJson(h.t, `/api/v1/llm-conversations/${id}`);
      assert.equal(whole.messages.length, all.length);
      assert.equal(whole.next_after_seq, null);
    });

    it('refuses a limit over 1000 or a negative cursor with 422', async () => {
      for (const q of ['limit=1001', 'limit=0', 'after_seq=-1', 'after_seq=x']) {
        for (const path of [`/api/v1/llm-conversations/${id}/messages`, `/api/v1/llm-conversations/${id}`]) {
          const r = await getStatus(`${h.t.url}${path}?${q}`);
          assert.equal(r.status, 422, `${path}?${q}: ${r.text}`);
        }
      }
    });
  });
}
