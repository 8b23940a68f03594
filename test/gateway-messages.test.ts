/**
 * Message identity and the prefix hashes that make prefix-delta storage possible.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BadMessage, identity, PrefixHasher, toStoredMessage } from '../src/gateway/messages.ts';

const id = (m: unknown) => identity(toStoredMessage(m, 0));

describe('message identity and prefix hashes', () => {
  const call = { id: 'call_1', type: 'function', function: { name: 'f', arguments: '{"a":1}' } };

  it('gives the same identity whatever the key order', () => {
    assert.equal(
      id({ role: 'tool', content: 'out', tool_call_id: 'call_1', name: 'f' }),
      id({ name: 'f', tool_call_id: 'call_1', content: 'out', role: 'tool' }),
    );
  });

  it('treats tool_calls [] and absent alike, and null content like absent content', () => {
    assert.equal(
      id({ role: 'assistant', content: 'x', tool_calls: [] }),
      id({ role: 'assistant', content: 'x' }),
    );
    assert.equal(
      id({ role: 'assistant', content: 'x', tool_calls: null }),
      id({ role: 'assistant', content: 'x' }),
    );
    assert.equal(
      id({ role: 'assistant', content: null, tool_calls: [call] }),
      id({ role: 'assistant', tool_calls: [call] }),
    );
  });

  it('reduces tool calls to id, type, name and arguments (SDKs reorder keys and add index)', () => {
    const rebuilt = {
      index: 0,
      function: { arguments: '{"a":1}', name: 'f' },
      type: 'function',
      id: 'call_1',
    };
    assert.equal(
      id({ role: 'assistant', tool_calls: [call] }),
      id({ role: 'assistant', tool_calls: [rebuilt] }),
    );
    const noType = { id: 'call_1', function: { name: 'f', arguments: '{"a":1}' } };
    assert.equal(
      id({ role: 'assistant', tool_calls: [call] }),
      id({ role: 'assistant', tool_calls: [noType] }),
    );
    const otherArgs = { ...call, function: { name: 'f', arguments: '{"a":2}' } };
    assert.notEqual(
      id({ role: 'assistant', tool_calls: [call] }),
      id({ role: 'assistant', tool_calls: [otherArgs] }),
    );
    const otherId = { ...call, id: 'call_2' };
    assert.notEqual(
      id({ role: 'assistant', tool_calls: [call] }),
      id({ role: 'assistant', tool_calls: [otherId] }),
    );
  });

  it('tells different messages apart', () => {
    const base = { role: 'user', content: 'hello' };
    const variants = [
      { role: 'user', content: 'hello!' },
      { role: 'system', content: 'hello' },
      { role: 'user', content: 'hello', name: 'bob' },
      { role: 'user', content: [{ type: 'text', text: 'hello' }] },
      { role: 'tool', content: 'hello', tool_call_id: 'c' },
    ];
    for (const v of variants) assert.notEqual(id(v), id(base), JSON.stringify(v));
  });

  it('keeps keys outside the identity as metadata, without changing the identity', () => {
    const m = toStoredMessage(
      { role: 'assistant', content: 'x', refusal: null, cache_control: { type: 'ephemeral' } },
      0,
    );
    assert.deepEqual(m.metadata, { extra: { refusal: null, cache_control: { type: 'ephemeral' } } });
    assert.equal(identity(m), id({ role: 'assistant', content: 'x' }));
    assert.deepEqual(toStoredMessage({ role: 'user', content: 'x' }, 0).metadata, {});
  });

  it('refuses a message that is not an object or has no role', () => {
    for (const bad of [null, 'hi', [], { content: 'x' }, { role: '' }, { role: 3 }])
      assert.throws(() => toStoredMessage(bad, 4), BadMessage, JSON.stringify(bad));
    assert.throws(() => toStoredMessage({ content: 'x' }, 4), /messages\[4\]\.role/);
  });

  it('chains hashes over the prefix: order matters, and reading one does not disturb the next', () => {
    const a = toStoredMessage({ role: 'user', content: 'a' }, 0);
    const b = toStoredMessage({ role: 'assistant', content: 'b' }, 1);
    const hashOf = (ms: (typeof a)[], peek = false) => {
      const h = new PrefixHasher();
      for (const m of ms) {
        h.push(m);
        if (peek) h.current();
      }
      return h.current();
    };
    assert.notEqual(hashOf([a, b]), hashOf([b, a]), 'order is part of the hash');
    assert.notEqual(hashOf([a, b]), hashOf([a]), 'a prefix hashes differently from the whole');
    assert.equal(hashOf([a, b], true), hashOf([a, b]), 'current() leaves the running hash as it was');

    const h = new PrefixHasher();
    assert.equal(h.depth, 0);
    h.push(a);
    const afterA = h.current();
    assert.equal(h.current(), afterA, 'current() can be read twice');
    h.push(b);
    assert.equal(h.depth, 2);
    assert.equal(afterA, hashOf([a]), 'the hash after message 1 is message 1’s prefix hash');
    assert.equal(h.current(), hashOf([a, b]));
    // Messages are framed: two messages never hash like one with both texts.
    const ab = toStoredMessage({ role: 'user', content: 'ab' }, 0);
    const aThenB = [
      toStoredMessage({ role: 'user', content: 'a' }, 0),
      toStoredMessage({ role: 'user', content: 'b' }, 1),
    ];
    assert.notEqual(hashOf([ab]), hashOf(aThenB));
  });
});
