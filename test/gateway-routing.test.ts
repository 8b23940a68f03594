/**
 * Model routing (createRouter) and validation of the gateway's JSON settings (LLM_UPSTREAMS,
 * LLM_MODEL_ROUTES).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { type Config, ConfigError, loadConfig } from '../src/config/index.ts';
import { createRouter, ModelNotRouted, openRouterName, type Router } from '../src/gateway/routing.ts';
import { createScriptedUpstream } from '../src/gateway/scripted.ts';

const scripted = createScriptedUpstream();
const messages = [{ role: 'user', content: 'Hi' }];

function router(env: Record<string, string>, processEnv: Record<string, string | undefined> = {}): Router {
  return createRouter(loadConfig(env), scripted, processEnv);
}

/** Runs `fn` with a router and closes the router afterwards, whatever happens. */
function withRouter(env: Record<string, string>, fn: (r: Router) => void, processEnv = {}): void {
  const r = router(env, processEnv);
  try {
    fn(r);
  } finally {
    r.close();
  }
}

const resolved = (r: Router, model: string) => {
  const route = r.resolve(model);
  return { upstream: route.upstream.name, model: route.model };
};

describe('createRouter', () => {
  const VLLM_UPSTREAM = JSON.stringify({
    vllm: {
      base_url: 'http://127.0.0.1:1/v1',
      kind: 'vllm',
      api_key: 'vllm-key-123456',
      models: ['Qwen/*', 'exact-model'],
      return_token_ids: true,
      logprobs: 3,
      timeout_seconds: 30,
    },
  });

  it('sends scripted:* to the built-in upstream, before any route', () => {
    withRouter(
      { LLM_MODEL_ROUTES: JSON.stringify({ '*': 'openai' }), OPENAI_API_KEY: 'sk-openai-123456' },
      (r) => {
        const route = r.resolve('scripted:echo');
        assert.equal(route.upstream, scripted);
        assert.equal(route.model, 'scripted:echo');
        assert.deepEqual(route.capture, { returnTokenIds: false, logprobs: false });
      },
    );
  });

  it('tries LLM_MODEL_ROUTES first (with renames), then LLM_UPSTREAMS models, then the defaults', () => {
    const env = {
      OPENAI_API_KEY: 'sk-openai-123456',
      OPENROUTER_API_KEY: 'sk-or-123456',
      LLM_UPSTREAMS: VLLM_UPSTREAM,
      LLM_MODEL_ROUTES: JSON.stringify({
        'gpt-4o': { upstream: 'vllm', model: 'served-name' },
        'Qwen/special': 'openai',
        'team-*': 'openrouter',
        'dry-run': { upstream: 'scripted', model: 'scripted:echo' },
      }),
    };
    withRouter(env, (r) => {
      assert.deepEqual(resolved(r, 'gpt-4o'), { upstream: 'vllm', model: 'served-name' });
      assert.deepEqual(
        resolved(r, 'Qwen/special'),
        { upstream: 'openai', model: 'Qwen/special' },
        'route beats models',
      );
      assert.deepEqual(resolved(r, 'team-model'), { upstream: 'openrouter', model: 'team-model' });
      assert.equal(r.resolve('dry-run').upstream, scripted);
      assert.equal(r.resolve('dry-run').model, 'scripted:echo');
      assert.deepEqual(resolved(r, 'Qwen/Qwen3-8B'), { upstream: 'vllm', model: 'Qwen/Qwen3-8B' });
      assert.deepEqual(resolved(r, 'exact-model'), { upstream: 'vllm', model: 'exact-model' });
      assert.deepEqual(resolved(r, 'anthropic/claude-sonnet-4'), {
        upstream: 'openrouter',
        model: 'anthropic/claude-sonnet-4',
      });
      assert.deepEqual(resolved(r, 'gpt-4.1'), { upstream: 'openai', model: 'gpt-4.1' });

      const vllm = r.resolve('Qwen/Qwen3-8B');
      assert.deepEqual(vllm.capture, { returnTokenIds: true, logprobs: 3 });
      assert.equal(vllm.timeoutMs, 30_000);
      const openai = r.resolve('gpt-4.1');
      assert.deepEqual(openai.capture, { returnTokenIds: false, logprobs: false });
      assert.equal(openai.timeoutMs, null);
    });
  });

  it('captures nothing from an upstream that is not vLLM, whatever its flags', () => {
    const upstreams = JSON.stringify({
      other: { base_url: 'http://127.0.0.1:1/v1', models: ['m'], return_token_ids: true, logprobs: true },
    });
    withRouter({ LLM_UPSTREAMS: upstreams }, (r) => {
      assert.deepEqual(r.resolve('m').capture, { returnTokenIds: false, logprobs: false });
    });
  });

  it('falls back to OpenRouter for bare names without an OpenAI key, under provider/model names', () => {
    withRouter({ OPENROUTER_API_KEY: 'sk-or-123456' }, (r) => {
      assert.deepEqual(resolved(r, 'gpt-4o'), { upstream: 'openrouter', model: 'openai/gpt-4o' });
      assert.deepEqual(resolved(r, 'claude-3-5-sonnet'), {
        upstream: 'openrouter',
        model: 'anthropic/claude-3-5-sonnet',
      });
      assert.deepEqual(resolved(r, 'mystery'), { upstream: 'openrouter', model: 'mystery' });
    });
    assert.equal(openRouterName('o3-mini'), 'openai/o3-mini');
    assert.equal(openRouterName('gemini-2.5-pro'), 'google/gemini-2.5-pro');
    assert.equal(openRouterName('Qwen3-8B'), 'qwen/Qwen3-8B');
    assert.equal(openRouterName('meta-llama/llama-3'), 'meta-llama/llama-3', 'a provider/model name is kept');
  });

  it('refuses unroutable models naming the variable to set', () => {
    withRouter({}, (r) => {
      assert.throws(
        () => r.resolve('gpt-4o'),
        (e: unknown) => {
          assert.ok(e instanceof ModelNotRouted, String(e));
          assert.match(e.message, /OPENAI_API_KEY/);
          assert.match(e.message, /"gpt-4o"/);
          return true;
        },
      );
      assert.throws(
        () => r.resolve('anthropic/claude'),
        (e: unknown) => {
          assert.ok(e instanceof ModelNotRouted, String(e));
          assert.match(e.message, /OPENROUTER_API_KEY/);
          return true;
        },
      );
    });
    withRouter({ OPENAI_API_KEY: 'sk-openai-123456' }, (r) => {
      assert.throws(() => r.resolve('anthropic/claude'), /set OPENROUTER_API_KEY for provider\/model names/);
    });
  });

  it('refuses at creation a route to an upstream that is not configured', () => {
    assert.throws(
      () => router({ LLM_MODEL_ROUTES: JSON.stringify({ 'm-*': 'openrouter' }) }),
      /LLM_MODEL_ROUTES: "m-\*" goes to upstream "openrouter".*set OPENROUTER_API_KEY/,
    );
    assert.throws(
      () => router({ LLM_MODEL_ROUTES: JSON.stringify({ m: { upstream: 'nowhere' } }) }),
      /"nowhere", which is not configured \(add it to LLM_UPSTREAMS\)/,
    );
    assert.throws(
      () => router({ LLM_UPSTREAMS: JSON.stringify({ openai: { base_url: 'http://127.0.0.1:1' } }) }),
      /"openai" is a built-in upstream name/,
    );
  });

  it('reads api_key_env from the environment it is given, and refuses a missing one', async () => {
    const upstreams = JSON.stringify({
      local: { base_url: 'http://127.0.0.1:1/v1', api_key_env: 'LOCAL_LLM_KEY', models: ['local-*'] },
    });
    assert.throws(
      () => router({ LLM_UPSTREAMS: upstreams }, {}),
      /upstream "local" reads its key from LOCAL_LLM_KEY, which is not set/,
    );
    assert.throws(() => router({ LLM_UPSTREAMS: upstreams }, { LOCAL_LLM_KEY: '' }), /LOCAL_LLM_KEY/);

    // The key is what the upstream sends: check it on the wire.
    const seen: IncomingHttpHeaders[] = [];
    const server = createServer((req, res) => {
      seen.push(req.headers);
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as AddressInfo).port;
    const live = JSON.stringify({
      local: { base_url: `http://127.0.0.1:${port}/v1`, api_key_env: 'LOCAL_LLM_KEY', models: ['local-*'] },
    });
    const r = router({ LLM_UPSTREAMS: live }, { LOCAL_LLM_KEY: 'local-secret-key-42' });
    try {
      assert.ok(r.secrets().includes('local-secret-key-42'), `secrets: ${JSON.stringify(r.secrets())}`);
      const reply = await r
        .resolve('local-7b')
        .upstream.send({ model: 'local-7b', messages }, new AbortController().signal);
      for await (const _ of reply.body) {
        // drain
      }
      assert.equal(reply.status, 200);
      assert.equal(seen[0]?.authorization, 'Bearer local-secret-key-42');
    } finally {
      r.close();
      server.close();
    }
  });

  it('lists every key the upstreams use (long enough to scrub), and the exact model names', () => {
    const env = {
      OPENAI_API_KEY: 'sk-openai-123456',
      OPENROUTER_API_KEY: 'sk-or-abcdef',
      LLM_UPSTREAMS: JSON.stringify({
        a: { base_url: 'http://127.0.0.1:1', api_key: 'inline-key-1', models: ['a-exact', 'a-*'] },
        b: { base_url: 'http://127.0.0.1:1', api_key_env: 'B_KEY' },
        c: { base_url: 'http://127.0.0.1:1', api_key: 'short' },
        d: { base_url: 'http://127.0.0.1:1' },
      }),
      LLM_MODEL_ROUTES: JSON.stringify({ 'route-exact': 'a', 'route-*': 'b', 'a-exact': 'b' }),
    };
    withRouter(
      env,
      (r) => {
        assert.deepEqual(
          [...r.secrets()].sort(),
          ['env-key-b-123', 'inline-key-1', 'sk-openai-123456', 'sk-or-abcdef'].sort(),
        );
        const listed = r.listed();
        assert.deepEqual(
          listed.filter((m) => m.owned_by !== 'scripted'),
          [
            { id: 'route-exact', owned_by: 'a' },
            { id: 'a-exact', owned_by: 'b' },
          ],
          'exact names only, routes first, each once',
        );
      },
      { B_KEY: 'env-key-b-123' },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// LLM_UPSTREAMS / LLM_MODEL_ROUTES validation

function configError(env: Record<string, string>): string {
  let message = '';
  assert.throws(
    () => loadConfig(env),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError, `a ConfigError, not ${String(e)}`);
      message = e.message;
      return true;
    },
  );
  return message;
}

describe('gateway settings validation', () => {
  it('names LLM_UPSTREAMS and the path of a bad field', () => {
    const badUrl = configError({ LLM_UPSTREAMS: JSON.stringify({ vllm: { base_url: 'ftp://gpu-box/v1' } }) });
    assert.match(badUrl, /LLM_UPSTREAMS \(value not shown\)/);
    assert.match(badUrl, /\/vllm\/base_url: must match pattern/);

    const unknownKey = configError({
      LLM_UPSTREAMS: JSON.stringify({ vllm: { base_url: 'http://gpu-box/v1', return_tokens_ids: true } }),
    });
    assert.match(unknownKey, /LLM_UPSTREAMS \(value not shown\)/);
    assert.match(unknownKey, /\/vllm: must not have additional properties/);

    const badKind = configError({
      LLM_UPSTREAMS: JSON.stringify({ vllm: { base_url: 'http://x', kind: 'tgi' } }),
    });
    assert.match(badKind, /\/vllm\/kind/);

    const badLogprobs = configError({
      LLM_UPSTREAMS: JSON.stringify({ vllm: { base_url: 'http://x', logprobs: 21 } }),
    });
    assert.match(badLogprobs, /\/vllm\/logprobs/);

    const noUrl = configError({ LLM_UPSTREAMS: JSON.stringify({ vllm: { kind: 'vllm' } }) });
    assert.match(noUrl, /LLM_UPSTREAMS \(value not shown\).*\/vllm/);

    assert.match(
      configError({ LLM_UPSTREAMS: '{not json' }),
      /LLM_UPSTREAMS \(value not shown\).*valid JSON/,
    );
    assert.match(
      configError({ LLM_MODEL_ROUTES: JSON.stringify({ m: { upstream: 'bad name!' } }) }),
      /LLM_MODEL_ROUTES=.*\/m/,
    );
  });

  it('accepts a valid configuration as parsed JSON', () => {
    const upstreams = {
      vllm: { base_url: 'http://gpu-box:8000/v1', kind: 'vllm', logprobs: 5, models: ['Qwen/*'] },
    };
    const config: Config = loadConfig({ LLM_UPSTREAMS: JSON.stringify(upstreams) });
    assert.deepEqual(config.LLM_UPSTREAMS, upstreams);
  });

  it('validates an upstream whose name does not match the name pattern', () => {
    const message = configError({
      LLM_UPSTREAMS: JSON.stringify({ 'my vllm': { base_url: 'ftp://x', bogus: 1 } }),
    });
    assert.match(message, /LLM_UPSTREAMS/);
  });

  it('refuses a misspelt key in a route target', () => {
    const message = configError({
      LLM_MODEL_ROUTES: JSON.stringify({ m: { upstream: 'openai', modle: 'x' } }),
    });
    assert.match(message, /LLM_MODEL_ROUTES/);
  });
});
