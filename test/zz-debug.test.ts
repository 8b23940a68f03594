import { it } from 'node:test';
import { toStoredMessage } from '../src/gateway/messages.ts';
import { createRecorder } from '../src/gateway/recorder.ts';
import { summarize } from '../src/gateway/summary.ts';
import { claimTask, startHarness, viaGateway } from './helpers/gateway.ts';

it('debug', async () => {
  const h = await startHarness('postgres');
  const c = await claimTask(h.t);
  const messages = [
    { role: 'system', content: 's' },
    { role: 'user', content: 'u1' },
  ];
  const r = await viaGateway(c, { model: 'scripted:echo', messages });
  const conv = await h.t.db.query<{ id: string }>('SELECT id FROM llm_conversations');
  const rec = createRecorder(h.t.db);
  try {
    const out = await rec.record({
      conversationId: conv.rows[0]!.id,
      taskId: c.task.id,
      attempt: 1,
      upstream: 'scripted',
      modelRequested: 'scripted:echo',
      stream: false,
      request: {},
      injected: [],
      prompt: messages.map(toStoredMessage),
      response: JSON.parse(r.text),
      summary: summarize(JSON.parse(r.text)),
      status: 200,
      endReason: 'done',
      error: null,
      cost: 0,
      latencyMs: 1,
      ttftMs: null,
      startedAt: new Date(),
      completedAt: new Date(),
    });
    console.log(out);
  } catch (e) {
    console.log('ERR', e);
  }
  await h.close();
});
