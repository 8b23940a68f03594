/**
 * The price book (reported cost, exact, glob, prefixed and dated names, cached tokens) and task
 * tokens (mint, verify, tampering).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createPriceBook } from '../src/gateway/prices.ts';
import { createTokenIssuer } from '../src/gateway/tokens.ts';

const close = (actual: number | null, expected: number, what: string) => {
  assert.ok(actual !== null && Math.abs(actual - expected) < 1e-12, `${what}: ${actual} ≈ ${expected}`);
};
const M = 1_000_000;

describe('price book', () => {
  const price = createPriceBook({
    'my-*': { input: 1, output: 2 },
    'gpt-4o': { input: 3, output: 6, cached_input: 1 },
    'no-cache-price': { input: 4, output: 8 },
  });

  it('believes a reported cost first', () => {
    assert.equal(price(['unknown-model'], { prompt: 10, completion: 5, cached: null }, 0.0123), 0.0123);
    assert.equal(price(['gpt-4o'], { prompt: M, completion: M, cached: 0 }, 0), 0, 'a reported 0 is 0');
    close(price(['gpt-4o'], { prompt: M, completion: 0, cached: 0 }, Number.NaN), 3, 'NaN reported: table');
    close(price(['gpt-4o'], { prompt: M, completion: 0, cached: 0 }, '0.5'), 3, 'a string is not a cost');
  });

  it('finds exact, glob, provider-prefixed and dated names; overrides win over built-ins', () => {
    const t = { prompt: M, completion: M, cached: 0 };
    close(price(['gpt-4o'], t, undefined), 9, 'override of a built-in');
    close(price(['gpt-4.1-mini'], t, undefined), 2, 'built-in');
    close(price(['my-model'], t, undefined), 3, 'glob');
    close(price(['openai/gpt-4.1-mini'], t, undefined), 2, 'provider prefix');
    close(price(['gpt-4.1-mini-2025-04-14'], t, undefined), 2, 'dated');
    close(price(['openai/gpt-4.1-mini-2025-04-14'], t, undefined), 2, 'prefixed and dated');
    close(
      price(['unknown-alias', 'gpt-4.1-mini'], t, undefined),
      2,
      'the answering model when the asked one is unknown',
    );
    close(price([null, 'gpt-4.1-mini'], t, undefined), 2, 'a missing name is skipped');
  });

  it('prices cached prompt tokens at cached_input (input when none), never more than the prompt', () => {
    close(
      price(['gpt-4o'], { prompt: 1000, completion: 100, cached: 400 }, undefined),
      (600 * 3 + 400 * 1 + 100 * 6) / M,
      'cached',
    );
    close(
      price(['gpt-4o'], { prompt: 1000, completion: 0, cached: 5000 }, undefined),
      (1000 * 1) / M,
      'cached capped',
    );
    close(
      price(['no-cache-price'], { prompt: 1000, completion: 0, cached: 400 }, undefined),
      (1000 * 4) / M,
      'no cached price',
    );
    close(
      price(['gpt-4.1'], { prompt: 1000, completion: 0, cached: 1000 }, undefined),
      (1000 * 0.5) / M,
      'built-in cached',
    );
  });

  it('does not know unknown models or missing counts (null, never 0), and scripted models are free', () => {
    assert.equal(price(['mystery-model'], { prompt: 10, completion: 10, cached: 0 }, undefined), null);
    assert.equal(price([null, null], { prompt: 10, completion: 10, cached: 0 }, undefined), null);
    assert.equal(price(['gpt-4o'], { prompt: null, completion: 10, cached: 0 }, undefined), null);
    assert.equal(price(['gpt-4o'], { prompt: 10, completion: null, cached: 0 }, undefined), null);
    assert.equal(price(['scripted:echo'], { prompt: 1000, completion: 1000, cached: 0 }, undefined), 0);
    assert.equal(
      createPriceBook({})(['scripted:tools'], { prompt: 5, completion: 5, cached: null }, null),
      0,
    );
  });
});

// ---------------------------------------------------------------------------------------------
// tokens.ts

describe('task tokens', () => {
  const SECRET = 'a-signing-key-of-32-characters!!';
  const TASK = '0f8fad5b-d9cb-469f-a165-70867728950e';
  const issuer = createTokenIssuer(SECRET);

  it('verifies what it minted', () => {
    const token = issuer.mint(TASK, 3);
    assert.match(token, /^te1\.[0-9a-f-]{36}\.3\.[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(issuer.verify(token), { taskId: TASK, attempt: 3 });
    assert.deepEqual(
      createTokenIssuer(SECRET).verify(token),
      { taskId: TASK, attempt: 3 },
      'same key, other instance',
    );
  });

  it('rejects tampered, foreign and malformed tokens', () => {
    const token = issuer.mint(TASK, 3);
    const [prefix, task, attempt, signature] = token.split('.') as [string, string, string, string];
    const flip = (s: string, i: number) => s.slice(0, i) + (s[i] === 'a' ? 'b' : 'a') + s.slice(i + 1);
    const bad: [string, string][] = [
      ['another task id', [prefix, flip(task, 0), attempt, signature].join('.')],
      ['another attempt', [prefix, task, '4', signature].join('.')],
      ['attempt with a leading zero', [prefix, task, '03', signature].join('.')],
      ['signature changed', [prefix, task, attempt, flip(signature, 5)].join('.')],
      ['signature cut', [prefix, task, attempt, signature.slice(0, -1)].join('.')],
      ['another prefix', ['te2', task, attempt, signature].join('.')],
      ['a part more', `${token}.x`],
      ['no signature', [prefix, task, attempt].join('.')],
      ['empty', ''],
      ['another key', createTokenIssuer('another-signing-key-of-32-chars!').mint(TASK, 3)],
    ];
    assert.deepEqual(
      bad.map(([what, t]) => [what, issuer.verify(t)]),
      bad.map(([what]) => [what, null]),
    );
  });

  it('refuses a signing key shorter than 16 characters', () => {
    assert.throws(() => createTokenIssuer('fifteen-chars!!'), /at least 16 characters/);
    assert.doesNotThrow(() => createTokenIssuer('sixteen-chars!!!'));
  });
});
