/**
 * Cost of a call, in USD. An upstream that reports the cost itself (OpenRouter's
 * `usage.cost`) is believed; otherwise the price table is used; a model it does not know
 * costs null, not zero, so unknown spend never looks free.
 *
 * The built-in table holds list prices (USD per million tokens) of common OpenAI models as
 * published when this was written; LLM_PRICES overrides or extends it. Scripted models are free.
 */
import type { PriceSetting, PricesSetting } from '../config/llm.ts';
import { globMatcher } from './routing.ts';

export const BUILT_IN_PRICES: PricesSetting = {
  'scripted:*': { input: 0, output: 0 },
  'gpt-4o': { input: 2.5, output: 10, cached_input: 1.25 },
  'gpt-4o-mini': { input: 0.15, output: 0.6, cached_input: 0.075 },
  'gpt-4.1': { input: 2, output: 8, cached_input: 0.5 },
  'gpt-4.1-mini': { input: 0.4, output: 1.6, cached_input: 0.1 },
  'gpt-4.1-nano': { input: 0.1, output: 0.4, cached_input: 0.025 },
  'o4-mini': { input: 1.1, output: 4.4, cached_input: 0.275 },
  'gpt-5': { input: 1.25, output: 10, cached_input: 0.125 },
  'gpt-5-mini': { input: 0.25, output: 2, cached_input: 0.025 },
  'gpt-5-nano': { input: 0.05, output: 0.4, cached_input: 0.005 },
};

export interface TokenCounts {
  prompt: number | null;
  completion: number | null;
  cached: number | null;
}

export type PriceBook = (models: (string | null)[], tokens: TokenCounts, reported: unknown) => number | null;

/**
 * Looks a model up by exact name, then by glob, then without its provider prefix
 * (openai/gpt-4o) and dated suffix (gpt-4o-2024-08-06), trying each name given in turn
 * (the model asked for, then the one that answered).
 */
export function createPriceBook(overrides: PricesSetting): PriceBook {
  const table = { ...BUILT_IN_PRICES, ...overrides };
  const globs = Object.entries(table)
    .filter(([k]) => k.includes('*'))
    .map(([k, p]) => ({ matches: globMatcher(k), p }));
  const lookup = (name: string): PriceSetting | undefined =>
    table[name] ?? globs.find((g) => g.matches(name))?.p;
  const find = (name: string): PriceSetting | undefined => {
    const bare = name.includes('/') ? name.slice(name.lastIndexOf('/') + 1) : name;
    const undated = bare.replace(/-\d{4}-\d{2}-\d{2}$/, '');
    return lookup(name) ?? lookup(bare) ?? lookup(undated);
  };
  return (models, t, reported) => {
    if (typeof reported === 'number' && Number.isFinite(reported)) return reported;
    const price = models.flatMap((m) => (m ? [find(m)] : [])).find((p) => p !== undefined);
    if (!price || t.prompt === null || t.completion === null) return null;
    const cached = Math.min(t.cached ?? 0, t.prompt);
    const usd =
      (t.prompt - cached) * price.input +
      cached * (price.cached_input ?? price.input) +
      t.completion * price.output;
    return usd / 1e6;
  };
}
