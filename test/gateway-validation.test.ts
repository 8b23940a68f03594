/**
 * The gateway checks chat requests as OpenAI does: a role outside OpenAI's set, content that is
 * not a string, null (an assistant turn carried by tool calls) or typed parts, a tool message
 * without tool_call_id are a 400 invalid_request_error naming the message, and nothing of a
 * refused call is recorded. What OpenAI accepts stays accepted.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { BadMessage, toRequestMessages, toStoredMessage } from '../src/gateway/messages.ts';
import { dbModes } from './helpers/db.ts';
import {
  assertOpenAiError,
  claimTask,
  type GatewayHarness,
  recorded,
  startHarness,
  user,
  viaGateway,
  waitForCalls,
} from './helpers/gateway.ts';

const ECHO = 'scripted:echo';
const CALL = {
  id: 'call_1',
  type: 'function',
  function: { name: 'exec_shell', arguments: '{"command":"ls"}' },
};

/** [messages, the param OpenAI would name] */
const REFUSED: [unknown[], string][] = [
  [[user('a'), user('b'), { role: 'bogus', content: 'c' }], 'messages[2].role'],
  [[{ role: 'User', content: 'a' }], 'messages[0].role'],
  [[{ role: 'user', content: 42 }], 'messages[0].content'],
  [[{ role: 'user', content: { text: 'a' } }], 'messages[0].content'],
  [[{ role: 'user', content: [] }], 'messages[0].content'],
  [[{ role: 'user', content: [{ text: 'a' }] }], 'messages[0].content[0].type'],
  [[{ role: 'user', content: ['a'] }], 'messages[0].content[0].type'],
  [[{ role: 'user' }], 'messages[0].content'],
  [[{ role: 'system', content: null }], 'messages[0].content'],
  [[user('a'), { role: 'assistant', content: null }], 'messages[1].content'],
  [
    [user('a'), { role: 'assistant', content: null, tool_calls: [CALL] }, { role: 'tool', content: 'x' }],
    'messages[2].tool_call_id',
  ],
  [[{ role: 'function', content: 'x' }], 'messages[0].name'],
  [[{ role: 'user', content: 'a', name: 7 }], 'messages[0].name'],
  [[user('a'), { role: 'assistant', content: 'b', tool_calls: 'ls' }], 'messages[1].tool_calls'],
];

const ACCEPTED: unknown[][] = [
  [{ role: 'system', content: 's' }, { role: 'developer', content: 'd' }, user('u')],
  [
    {
      role: 'user',
      content: [
        { type: 'text', text: 'a' },
        { type: 'image_url', image_url: { url: 'data:,' } },
      ],
    },
  ],
  [
    user('list pods'),
    { role: 'assistant', content: null, tool_calls: [CALL] },
    { role: 'tool', tool_call_id: 'call_1', content: 'pod-a Running' },
  ],
  [user('a'), { role: 'assistant', content: '' }, user('b')],
  [user('a'), { role: 'assistant', content: null, refusal: 'no' }, user('b')],
  [
    user('a'),
    { role: 'assistant', content: null, function_call: { name: 'f', arguments: '{}' } },
    { role: 'function', name: 'f', content: 'r' },
  ],
];

describe('request messages, checked as OpenAI checks them', () => {
  it('names the offending param', () => {
    for (const [messages, param] of REFUSED) {
      const err = (() => {
        try {
          toRequestMessages(messages);
        } catch (e) {
          return e;
        }
      })();
      assert.ok(err instanceof BadMessage, `${JSON.stringify(messages)} refused`);
      assert.equal(err.param, param, JSON.stringify(messages));
      assert.ok(err.message.startsWith(param.replace(/\.type$/, '')), err.message);
    }
    for (const messages of ACCEPTED) assert.equal(toRequestMessages(messages).length, messages.length);
  });

  it('the gateway’s own map over a request checks too; an upstream reply is only converted', () => {
    const request = [{ role: 'bogus', content: 'x' }];
    assert.throws(() => request.map(toStoredMessage), BadMessage);
    assert.equal(toStoredMessage({ role: 'assistant', content: { odd: true } }, 0).role, 'assistant');
  });
});

for (const mode of dbModes()) {
  describe(`gateway request validation (${mode})`, () => {
    let h: GatewayHarness;
    before(async () => {
      h = await startHarness(mode);
    });
    after(() => h.close());

    it('refuses each with 400 invalid_request_error naming the message, and records nothing', async () => {
      const c = await claimTask(h.t);
      for (const [messages, param] of REFUSED) {
        const r = await viaGateway(c, { model: ECHO, messages });
        const err = assertOpenAiError(r, 400, 'invalid_request');
        assert.equal(err.type, 'invalid_request_error');
        assert.ok(err.message.includes(param.replace(/\.type$/, '')), `${param} in ${err.message}`);
        // The gateway names the exact param once it passes BadMessage.param on; `messages` until then.
        assert.ok(err.param === param || err.param === 'messages', r.text);
      }
      const { calls } = await recorded(h.t, c.task.id);
      assert.equal(calls.length, 0);
    });

    it('accepts what OpenAI accepts', async () => {
      const c = await claimTask(h.t);
      for (const messages of ACCEPTED) {
        const r = await viaGateway(c, { model: ECHO, messages });
        assert.equal(r.status, 200, `${JSON.stringify(messages)} → ${r.text}`);
      }
      await waitForCalls(h.t, c.task.id, ACCEPTED.length);
    });
  });
}
