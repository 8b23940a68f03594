/**
 * One typed, frozen settings object built from the environment (and `.env`).
 * Variable names follow the seed so its deployments move over unchanged; every
 * variable is validated here, once, at start-up, and a bad value names itself.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { ModelRoutesSetting, PricesSetting, UpstreamsSetting } from './llm.ts';
import {
  backendCounts,
  bool,
  commandLine,
  hostAllowList,
  int,
  json,
  oneOf,
  pattern,
  postgresUrl,
  roleTokens,
  type Spec,
  secret,
  str,
  url,
} from './parse.ts';
import { relationProblems } from './relations.ts';

export type { BackendCount, Role, RoleToken } from './parse.ts';

export const settingSpecs = {
  HOST: str('127.0.0.1', 'Address the HTTP server binds to. Loopback by default; set 0.0.0.0 to expose it.'),
  PORT: int(8000, 'HTTP port.', 0, 65535),
  DATABASE_URL: secret(
    postgresUrl(
      'postgres:// (or postgresql://) URL of a PostgreSQL server. Empty: embedded PGlite under DATA_DIR.',
    ),
  ),
  DATA_DIR: str('./.task-executor', 'Folder for the embedded database and per-task working directories.'),
  DATABASE_POOL_SIZE: int(10, 'Connections in the PostgreSQL pool.', 1, 200),
  DATABASE_STATEMENT_TIMEOUT_MS: int(
    30000,
    'statement_timeout of every pooled PostgreSQL connection, in milliseconds (0: none).',
    0,
    3600000,
  ),
  DATABASE_LOCK_TIMEOUT_MS: int(
    10000,
    'lock_timeout of every pooled PostgreSQL connection, in milliseconds (0: none).',
    0,
    3600000,
  ),
  BODY_LIMIT_BYTES: int(1024 * 1024, 'Largest accepted request body, in bytes (larger: 413).', 1024, 1 << 30),
  LOG_LEVEL: oneOf('info', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], 'pino log level.'),
  LOG_FORMAT: oneOf<'auto' | 'json' | 'pretty'>(
    'auto',
    ['auto', 'json', 'pretty'],
    'How log lines look: json (one JSON object per line, for collectors), pretty (readable lines), auto (pretty when stdout is a terminal, else json).',
  ),
  HEAP_GROWING_PERCENT: int(
    100,
    "How far `serve`'s JavaScript heap may grow past its live objects before the next full garbage collection, in percent (V8's --heap-growing-percent). V8's own policy (0) lets it grow up to 4x: a streamed export then left 130-150 MB of dead objects in the server's resident memory; 100 (2x) keeps that to ~60-120 MB at the same speed.",
    0,
    400,
  ),
  EXPORT_HEAP_GROWING_PERCENT: int(
    60,
    'HEAP_GROWING_PERCENT while an export streams (exports make garbage that lives just long enough to be promoted: a tighter heap collects it early). Equal to HEAP_GROWING_PERCENT: no change during exports.',
    0,
    400,
  ),
  ENABLE_DOCS: bool(true, 'Serve /docs (Swagger UI). /openapi.json is always served.'),
  API_TOKENS: secret(
    roleTokens(
      'Bearer tokens by role, comma-separated role:token pairs (roles admin, client, worker). Empty: no authentication (refused off loopback unless ALLOW_UNAUTHENTICATED).',
    ),
  ),
  API_TOKENS_FILE: str(
    '',
    'A file with one `role token` pair per line (# comments); merged with API_TOKENS.',
  ),
  ALLOW_UNAUTHENTICATED: bool(
    false,
    'Start without API tokens even when HOST is not a loopback address (anyone who reaches the port can do anything).',
  ),

  NUM_INTERNAL_WORKERS: int(
    3,
    'In-process workers started with the server (when INTERNAL_WORKER_BACKENDS is unset).',
    0,
    50,
  ),
  AUTO_START_WORKERS: bool(true, 'Start the in-process workers when the server starts.'),
  INTERNAL_WORKER_BACKEND: str(
    'sandbox',
    'Backend the NUM_INTERNAL_WORKERS in-process workers drive: sandbox (built-in offline incidents), command or aiopslab (real AIOpsLab through the bridge).',
  ),
  INTERNAL_WORKER_BACKENDS: backendCounts(
    'In-process workers per backend, e.g. sandbox:2,command:1; overrides NUM_INTERNAL_WORKERS and INTERNAL_WORKER_BACKEND.',
    50,
  ),
  INTERNAL_WORKER_MAX_PARALLEL: int(1, 'Tasks each in-process worker runs at once.', 1, 1000),
  ENABLE_BACKGROUND_TASKS: bool(
    true,
    'Run the reaper (lease expiry, timeouts, offline workers) and callbacks.',
  ),

  DEFAULT_TIMEOUT_MINUTES: int(30, 'timeout_minutes when a task gives none.', 1, 180),
  DEFAULT_MAX_STEPS: int(30, 'max_steps when a task gives none.', 1, 1000),
  DEFAULT_PRIORITY: int(5, 'priority when a task gives none (0–10, higher first).', 0, 10),
  DEFAULT_MAX_ATTEMPTS: int(
    1,
    'max_attempts when a task gives none: claims allowed before a lost worker fails it.',
    1,
    100,
  ),
  DEFAULT_AGENT_MODEL: str('gpt-4o', 'agent_config.model when a task gives none.'),
  AGENT_LLM_RETRIES: int(
    3,
    'Retries of a built-in agent’s LLM call after a transient error (429, 5xx, dropped connection) before the task fails with llm_error.',
    0,
    20,
  ),
  AGENT_LLM_RETRY_BACKOFF_MS: int(
    1000,
    'First wait before such a retry, in milliseconds; doubles each retry (with jitter).',
    0,
    600000,
  ),

  TIMEOUT_CHECK_INTERVAL: int(5, 'Seconds between reaper passes.', 1, 3600),
  RETENTION_DAYS: int(
    0,
    'Delete finished tasks (with their logs and LLM conversations) that ended more than this many days ago, in small batches; 0 keeps everything. Export what you need first.',
    0,
    36500,
  ),
  UPKEEP_INTERVAL_SECONDS: int(
    300,
    'Seconds between history upkeep passes (spent counter rows pruned; RETENTION_DAYS applied).',
    10,
    86400,
  ),
  WORKER_POLL_INTERVAL: int(2, 'Seconds between claim polls when no wake-up arrives (the backstop).', 1, 600),
  WORKER_HEARTBEAT_TIMEOUT: int(
    60,
    'Seconds without a heartbeat before a worker is marked offline.',
    5,
    86400,
  ),
  LEASE_SECONDS: int(60, 'Lease a claim grants; every heartbeat extends it by this much.', 5, 86400),
  HEARTBEAT_INTERVAL: int(
    10,
    'Seconds between a worker’s heartbeats; must be less than LEASE_SECONDS (keep it at most a third).',
    1,
    3600,
  ),
  WORKER_SHUTDOWN_GRACE: int(
    30,
    'Seconds running tasks get to finish on SIGTERM before they are given back.',
    0,
    86400,
  ),
  WORKER_ID_PATTERN: pattern('^worker-\\d{3}-(kind|internal)$', 'Regular expression a worker id must match.'),

  COMMAND_BACKEND_CMD: commandLine(
    'Command the `command` backend runs per task: a JSON argv array (placeholders {task_id} {problem_id} {max_steps} {attempt} {result_file} {workdir}) or a shell line (use $PROBLEM_ID etc.).',
  ),
  COMMAND_KILL_GRACE_MS: int(
    5000,
    'Milliseconds between SIGTERM and SIGKILL when a command is stopped.',
    0,
    600000,
  ),

  AIOPSLAB_DIR: str(
    '',
    'AIOpsLab checkout for the `aiopslab` backend: the folder holding the `aiopslab` package, put first on the bridge’s PYTHONPATH. Empty: the interpreter must find the package itself.',
  ),
  AIOPSLAB_PYTHON: str(
    'python3',
    'Python interpreter that runs the AIOpsLab bridge (3.11+, with AIOpsLab installed), e.g. the checkout’s .venv/bin/python.',
  ),
  AIOPSLAB_KUBECONFIG: str(
    '',
    'Kubeconfig of an existing cluster the `aiopslab` worker uses as is (nothing is created or reset). Empty: the worker’s own kind cluster aiopslab-<worker id>, kubeconfig under DATA_DIR/clusters/.',
  ),
  AIOPSLAB_ENSURE_CLUSTER: bool(
    false,
    'Create the worker’s kind cluster when it is missing (and reset it after a run that left it dirty).',
  ),
  AIOPSLAB_KIND_CONFIG: str(
    '',
    'kind cluster config used when creating a worker’s cluster (e.g. <AIOpsLab>/kind/kind-config-x86.yaml). Empty: kind’s default.',
  ),
  AIOPSLAB_ALLOW_DOCKER_PROBLEMS: bool(
    false,
    'Advertise AIOpsLab’s docker-deployed problems (Flower) too; they share the host’s docker and cannot run in parallel.',
  ),
  AIOPSLAB_CANCEL_GRACE_SECONDS: int(
    600,
    'Seconds a cancelled AIOpsLab bridge gets to recover the injected fault after SIGTERM before SIGKILL (which leaves the cluster dirty).',
    0,
    86400,
  ),

  CALLBACK_MAX_ATTEMPTS: int(5, 'Delivery attempts for a task’s callback_url.', 1, 50),
  CALLBACK_TIMEOUT_MS: int(10000, 'Timeout of one callback POST, in milliseconds.', 100, 600000),
  CALLBACK_BACKOFF_MS: int(1000, 'First retry delay for callbacks; doubles each attempt.', 10, 3600000),
  CALLBACK_ALLOWED_HOSTS: hostAllowList(
    '',
    'Hosts, IP addresses or CIDR ranges callbacks may reach even though they are loopback, private, link-local or metadata addresses (comma-separated, e.g. 127.0.0.1,10.0.0.0/8).',
  ),
  CALLBACK_SIGNING_SECRET: secret(
    str(
      '',
      'Key that signs callback deliveries (HMAC-SHA256). Empty: one is generated and kept in the database, shared by all replicas.',
    ),
  ),

  FEED_POLL_MS: int(
    100,
    'Milliseconds between reads of new feed events while anyone follows a stream (the floor of event lag).',
    10,
    10000,
  ),
  FEED_HEARTBEAT_SECONDS: int(15, 'Seconds between keepalive comments on an idle event stream.', 1, 3600),
  FEED_SLOW_CLIENT_SECONDS: int(
    30,
    'A stream client whose unread data stays above FEED_BUFFER_BYTES this long is disconnected (with its cursor).',
    1,
    3600,
  ),
  FEED_BUFFER_BYTES: int(
    1048576,
    'Unread bytes one stream client may hold in the server before sending waits for it (then FEED_SLOW_CLIENT_SECONDS applies).',
    16384,
    268435456,
  ),
  NOTIFY_DEBOUNCE_MS: int(2, 'At most one wake-up NOTIFY per this many milliseconds.', 0, 10000),
  API_URL: url('', 'Base URL a remote worker or the CLI talks to (e.g. http://127.0.0.1:8000).'),

  OPENAI_API_KEY: secret(str('', 'Key for the OpenAI upstream of the LLM gateway (kept server-side).')),
  OPENAI_BASE_URL: url('https://api.openai.com/v1', 'Base URL of the OpenAI upstream.'),
  OPENROUTER_API_KEY: secret(
    str('', 'Key for the OpenRouter upstream of the LLM gateway (kept server-side).'),
  ),
  OPENROUTER_BASE_URL: url('https://openrouter.ai/api/v1', 'Base URL of the OpenRouter upstream.'),
  LLM_UPSTREAMS: secret(
    json<UpstreamsSetting>(
      {},
      'Named OpenAI-compatible upstreams, JSON: {"name": {"base_url", "kind": "openai"|"vllm", "api_key_env", "models": [globs], "return_token_ids", "logprobs", "timeout_seconds"}}.',
      UpstreamsSetting,
    ),
  ),
  LLM_MODEL_ROUTES: json<ModelRoutesSetting>(
    {},
    'Model → upstream, JSON: {"glob": "upstream"} or {"glob": {"upstream", "model"}}; checked before the defaults.',
    ModelRoutesSetting,
  ),
  LLM_PRICES: json<PricesSetting>(
    {},
    'Prices in USD per million tokens, JSON: {"model or glob": {"input", "output", "cached_input"}}; merged over the built-in table.',
    PricesSetting,
  ),
  LLM_GATEWAY_URL: url(
    '',
    'Gateway base URL handed to workers (…/llm/v1). Empty: derived from the address the worker reached the API at.',
  ),
  LLM_TIMEOUT_SECONDS: int(
    600,
    'Longest wait for an upstream answer (the whole body, or a stream’s headers).',
    1,
    86400,
  ),
  LLM_STREAM_IDLE_TIMEOUT_SECONDS: int(120, 'Longest silence inside an upstream stream.', 1, 86400),
  LLM_INFLIGHT_GRACE_SECONDS: int(
    10,
    'When a task’s worker reports it finished, how long its LLM calls still in flight may run before they are cut.',
    0,
    3600,
  ),
  LLM_INFLIGHT_STALE_SECONDS: int(
    60,
    'An LLM call whose API process has not renewed it for this long is taken for lost with its process, and recorded as interrupted.',
    5,
    3600,
  ),
  LLM_MAX_RESPONSE_BYTES: int(
    64 * 1024 * 1024,
    'Largest upstream answer the gateway reads for its record (a larger one is relayed, recorded cut, and ends upstream_error).',
    1024,
    1 << 30,
  ),
  LLM_MAX_REQUEST_BYTES: int(
    64 * 1024 * 1024,
    'Largest chat-completions request body the gateway accepts.',
    1024,
    1 << 30,
  ),
  GATEWAY_ATTEMPT_CACHE_MS: int(
    5000,
    'How long the LLM gateway trusts its last reading that a task token’s attempt is running (a report anywhere ends it sooner); 0 reads the task row on every call.',
    0,
    60_000,
  ),
  GATEWAY_TOKEN_SECRET: secret(
    str(
      '',
      'Key that signs per-task LLM tokens. Empty: one is generated and kept in the database, shared by all replicas.',
    ),
  ),
} satisfies Record<string, Spec<unknown>>;

type Specs = typeof settingSpecs;
export type Config = { readonly [K in keyof Specs]: Specs[K] extends Spec<infer T> ? T : never };

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Reads `.env` from the working directory (without overriding real variables) when it exists. */
export function loadDotEnv(file = resolve('.env')): void {
  if (existsSync(file)) process.loadEnvFile(file);
}

export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  overrides: Partial<Config> = {},
): Config {
  const out: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [name, spec] of Object.entries(settingSpecs) as [string, Spec<unknown>][]) {
    const raw = env[name];
    if (raw === undefined || raw === '') {
      out[name] = spec.default;
      continue;
    }
    const parsed = spec.parse(raw.trim());
    if (parsed.ok) out[name] = parsed.value;
    // A secret's value (a key, a DSN with a password, inline upstream keys) is never echoed.
    else if (spec.secret) problems.push(`${name} (value not shown): expected ${parsed.expected}`);
    else problems.push(`${name}=${JSON.stringify(raw)}: expected ${parsed.expected}`);
  }
  // Relations are checked only when every value parsed: a bad value is the problem to fix first.
  const config = { ...out, ...overrides } as Config;
  if (problems.length === 0) problems.push(...relationProblems(config));
  if (problems.length > 0) throw new ConfigError(`Invalid configuration:\n  ${problems.join('\n  ')}`);
  return Object.freeze(config);
}
