/**
 * The shapes of the gateway's JSON settings (LLM_UPSTREAMS, LLM_MODEL_ROUTES, LLM_PRICES).
 * They are validated at start like every other variable, so a misspelt field fails loudly
 * instead of silently routing a model to the wrong place.
 */
import { type Static, Type } from 'typebox';

const Name = Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$' });
/** A model name, or a glob with `*` (e.g. `Qwen/*`). */
const ModelPattern = Type.String({ minLength: 1, maxLength: 200 });

export const UpstreamSetting = Type.Object(
  {
    base_url: Type.String({ pattern: '^https?://' }),
    /** `vllm` enables token-id and logprob capture; `openai` is any other compatible server. */
    kind: Type.Optional(Type.Union([Type.Literal('openai'), Type.Literal('vllm')])),
    /** Name of the environment variable holding the key (preferred: keeps it out of this JSON). */
    api_key_env: Type.Optional(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$' })),
    api_key: Type.Optional(Type.String()),
    /** Models this upstream serves; globs allowed. */
    models: Type.Optional(Type.Array(ModelPattern)),
    /** vLLM only: ask for token ids (`return_token_ids`) on every call. */
    return_token_ids: Type.Optional(Type.Boolean()),
    /** vLLM only: ask for logprobs on every call (a number also asks for that many top_logprobs). */
    logprobs: Type.Optional(Type.Union([Type.Boolean(), Type.Integer({ minimum: 0, maximum: 20 })])),
    timeout_seconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 86400 })),
  },
  { additionalProperties: false },
);
export type UpstreamSetting = Static<typeof UpstreamSetting>;

// additionalProperties: false, or a key that misses the name pattern would escape validation.
export const UpstreamsSetting = Type.Record(Name, UpstreamSetting, { additionalProperties: false });
export type UpstreamsSetting = Static<typeof UpstreamsSetting>;

/** Model pattern → upstream name, or { upstream, model } to also rename the model sent upstream. */
export const ModelRoutesSetting = Type.Record(
  ModelPattern,
  Type.Union([
    Name,
    Type.Object(
      { upstream: Name, model: Type.Optional(Type.String({ minLength: 1 })) },
      { additionalProperties: false },
    ),
  ]),
);
export type ModelRoutesSetting = Static<typeof ModelRoutesSetting>;

/** USD per million tokens. `cached_input` defaults to `input`. */
export const PriceSetting = Type.Object(
  {
    input: Type.Number({ minimum: 0 }),
    output: Type.Number({ minimum: 0 }),
    cached_input: Type.Optional(Type.Number({ minimum: 0 })),
  },
  { additionalProperties: false },
);
export type PriceSetting = Static<typeof PriceSetting>;
export const PricesSetting = Type.Record(ModelPattern, PriceSetting);
export type PricesSetting = Static<typeof PricesSetting>;
