/**
 * Which upstream answers a model, and under what name. In order:
 *   1. `scripted:*` → the built-in scripted upstream (no network, no key);
 *   2. LLM_MODEL_ROUTES, first matching pattern;
 *   3. an LLM_UPSTREAMS entry whose `models` match;
 *   4. a `provider/model` name → OpenRouter (when OPENROUTER_API_KEY is set);
 *   5. a bare name → OpenAI when OPENAI_API_KEY is set, else OpenRouter under its
 *      `provider/model` name (gpt-4o → openai/gpt-4o), the seed's fallback.
 * Anything else is refused with the variable to set, before any byte leaves the server.
 */
import type { Config } from '../config/index.ts';
import type { UpstreamSetting } from '../config/llm.ts';
import { createHttpUpstream, type HttpUpstream } from './http-upstream.ts';
import type { Upstream } from './upstream-types.ts';

/** What the gateway asks of a vLLM upstream on every call (per upstream configuration). */
export interface Capture {
  returnTokenIds: boolean;
  /** false: none; true: logprobs of the sampled tokens; n: also the n top alternatives. */
  logprobs: boolean | number;
}

export interface Route {
  upstream: Upstream;
  /** The model name sent upstream (may differ from the one the client asked for). */
  model: string;
  capture: Capture;
  timeoutMs: number | null;
}

export class ModelNotRouted extends Error {
  override name = 'ModelNotRouted';
}

const NO_CAPTURE: Capture = { returnTokenIds: false, logprobs: false };

/** Bare model names OpenRouter knows under a provider prefix. */
const OPENROUTER_PREFIXES: [RegExp, string][] = [
  [/^(gpt-|o1|o3|o4|chatgpt-)/, 'openai/'],
  [/^claude-/, 'anthropic/'],
  [/^gemini-/, 'google/'],
  [/^deepseek-/, 'deepseek/'],
  [/^(llama-|meta-llama)/, 'meta-llama/'],
  [/^qwen/i, 'qwen/'],
  [/^(mistral|mixtral|codestral)/, 'mistralai/'],
];

export function openRouterName(model: string): string {
  if (model.includes('/')) return model;
  const hit = OPENROUTER_PREFIXES.find(([re]) => re.test(model));
  return hit ? `${hit[1]}${model}` : model;
}

/** A glob with `*` as "any run of characters"; everything else literal. */
export function globMatcher(pattern: string): (s: string) => boolean {
  if (!pattern.includes('*')) return (s) => s === pattern;
  const re = new RegExp(`^${pattern.split('*').map(escapeRe).join('.*')}$`);
  return (s) => re.test(s);
}
const escapeRe = (s: string) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&');

interface Named {
  upstream: Upstream;
  capture: Capture;
  timeoutMs: number | null;
  patterns: string[];
}

export interface Router {
  resolve(model: string): Route;
  /** Model names worth listing in /llm/v1/models: exact names from routes and upstreams. */
  listed(): { id: string; owned_by: string }[];
  /** Every key the upstreams use, to scrub from anything that leaves the server. */
  secrets(): string[];
  close(): void;
}

export function createRouter(
  config: Pick<
    Config,
    | 'OPENAI_API_KEY'
    | 'OPENAI_BASE_URL'
    | 'OPENROUTER_API_KEY'
    | 'OPENROUTER_BASE_URL'
    | 'LLM_UPSTREAMS'
    | 'LLM_MODEL_ROUTES'
  >,
  scripted: Upstream & { models?: readonly string[] },
  env: Record<string, string | undefined> = process.env,
): Router {
  const https: HttpUpstream[] = [];
  const named = new Map<string, Named>();
  const add = (name: string, upstream: HttpUpstream, n: Omit<Named, 'upstream'>) => {
    https.push(upstream);
    named.set(name, { upstream, ...n });
  };
  // OpenAI and OpenRouter: no capture, the global timeout, reached by the default rules.
  const builtIn = { capture: NO_CAPTURE, timeoutMs: null, patterns: [] };
  if (config.OPENAI_API_KEY)
    add(
      'openai',
      createHttpUpstream({
        name: 'openai',
        kind: 'openai',
        baseUrl: config.OPENAI_BASE_URL,
        apiKey: config.OPENAI_API_KEY,
      }),
      builtIn,
    );
  if (config.OPENROUTER_API_KEY)
    add(
      'openrouter',
      createHttpUpstream({
        name: 'openrouter',
        kind: 'openrouter',
        baseUrl: config.OPENROUTER_BASE_URL,
        apiKey: config.OPENROUTER_API_KEY,
      }),
      builtIn,
    );
  const secrets = [config.OPENAI_API_KEY, config.OPENROUTER_API_KEY];
  for (const [name, s] of Object.entries(config.LLM_UPSTREAMS)) {
    if (name === 'openai' || name === 'openrouter' || name === 'scripted')
      throw new Error(`LLM_UPSTREAMS: "${name}" is a built-in upstream name; choose another`);
    const apiKey = upstreamKey(name, s, env);
    secrets.push(apiKey);
    add(name, createHttpUpstream({ name, kind: s.kind ?? 'openai', baseUrl: s.base_url, apiKey }), {
      capture: captureOf(s),
      timeoutMs: s.timeout_seconds ? s.timeout_seconds * 1000 : null,
      patterns: s.models ?? [],
    });
  }

  const routes = Object.entries(config.LLM_MODEL_ROUTES).map(([pattern, to]) => {
    const target = typeof to === 'string' ? { upstream: to } : to;
    if (target.upstream !== 'scripted' && !named.has(target.upstream))
      throw new Error(
        `LLM_MODEL_ROUTES: "${pattern}" goes to upstream "${target.upstream}", which is not configured (${configuredHint(target.upstream)})`,
      );
    return { pattern, matches: globMatcher(pattern), ...target };
  });
  const byModels = [...named.values()].flatMap((n) =>
    n.patterns.map((p) => ({ n, matches: globMatcher(p) })),
  );

  const routeTo = (name: string, model: string): Route => {
    if (name === 'scripted') return { upstream: scripted, model, capture: NO_CAPTURE, timeoutMs: null };
    const n = named.get(name)!;
    return { upstream: n.upstream, model, capture: n.capture, timeoutMs: n.timeoutMs };
  };

  return {
    resolve(model) {
      if (model.startsWith('scripted:')) return routeTo('scripted', model);
      const route = routes.find((r) => r.matches(model));
      if (route) return routeTo(route.upstream, route.model ?? model);
      const served = byModels.find((b) => b.matches(model));
      if (served) return routeTo(served.n.upstream.name, model);
      if (model.includes('/')) {
        if (named.has('openrouter')) return routeTo('openrouter', model);
        throw new ModelNotRouted(
          `No upstream serves model "${model}": set OPENROUTER_API_KEY for provider/model names, or route it to a server with LLM_UPSTREAMS / LLM_MODEL_ROUTES`,
        );
      }
      if (named.has('openai')) return routeTo('openai', model);
      if (named.has('openrouter')) return routeTo('openrouter', openRouterName(model));
      throw new ModelNotRouted(
        `No upstream serves model "${model}": set OPENAI_API_KEY (or OPENROUTER_API_KEY), or route it to a server with LLM_UPSTREAMS / LLM_MODEL_ROUTES; "scripted:*" models need no key`,
      );
    },
    listed() {
      const exact = [
        ...routes
          .filter((r) => !r.pattern.includes('*'))
          .map((r) => ({ id: r.pattern, owned_by: r.upstream })),
        ...[...named.values()].flatMap((n) =>
          n.patterns.filter((p) => !p.includes('*')).map((p) => ({ id: p, owned_by: n.upstream.name })),
        ),
        ...(scripted.models ?? []).map((id) => ({ id, owned_by: 'scripted' })),
      ];
      const seen = new Set<string>();
      return exact.filter((m) => !seen.has(m.id) && seen.add(m.id));
    },
    secrets: () => secrets.filter((s) => s.length >= 6),
    close() {
      for (const u of https) u.close();
    },
  };
}

function upstreamKey(name: string, s: UpstreamSetting, env: Record<string, string | undefined>): string {
  if (s.api_key_env) {
    const key = env[s.api_key_env];
    if (!key)
      throw new Error(
        `LLM_UPSTREAMS: upstream "${name}" reads its key from ${s.api_key_env}, which is not set`,
      );
    return key;
  }
  return s.api_key ?? '';
}

function captureOf(s: UpstreamSetting): Capture {
  if (s.kind !== 'vllm') return NO_CAPTURE;
  return { returnTokenIds: s.return_token_ids ?? false, logprobs: s.logprobs ?? false };
}

function configuredHint(name: string): string {
  if (name === 'openai') return 'set OPENAI_API_KEY';
  if (name === 'openrouter') return 'set OPENROUTER_API_KEY';
  return 'add it to LLM_UPSTREAMS';
}
