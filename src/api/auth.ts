/**
 * Optional bearer-token authentication with three roles. Tokens come from API_TOKENS and
 * API_TOKENS_FILE; with none, the API is open (allowed only on loopback, or with
 * ALLOW_UNAUTHENTICATED). With some, every route is decided by ROUTE_ACCESS below, the one
 * table of who may call what, keyed by the matched route pattern (never the raw URL, so
 * `/api/v1/tasks/x/../..` tricks and query strings cannot change the decision).
 *
 * - `admin` may call everything, including internal worker control.
 * - `client` submits, reads, cancels, exports and watches.
 * - `worker` registers, heartbeats, claims and reports. A worker token may act for any worker
 *   id: one token per fleet is the common case, and fencing (worker id + attempt) still keeps
 *   one worker from settling another's attempt by accident.
 *
 * Routes missing from the table are admin-only (fail closed) and logged at start. The LLM
 * gateway (`/llm/v1/*`) is not judged here: its bearer is the per-attempt task token.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { type Config, ConfigError, type Role, type RoleToken } from '../config/index.ts';
import { ROLES, roleTokenProblem } from '../config/parse.ts';
import { ApiError, errorBody } from './errors.ts';
import type { Api } from './types.ts';

/** Who may call a route: anyone, the gateway's own token check, or these roles (admin always may). */
export type Access = 'public' | 'gateway' | readonly Role[];

const CLIENT: readonly Role[] = ['client'];
const WORKER: readonly Role[] = ['worker'];
const ADMIN: readonly Role[] = [];

/** `METHOD /route/pattern` → access. HEAD follows GET. Keep in step with src/api/routes. */
export const ROUTE_ACCESS: Readonly<Record<string, Access>> = {
  // Liveness and discovery stay open so load balancers and browsers can reach them.
  'GET /': 'public',
  'GET /health': 'public',
  'GET /ready': 'public',
  'GET /openapi.json': 'public',
  'GET /redoc': 'public',
  // Monitoring reads: a Prometheus scrape job sends a client token (`authorization` in its config).
  'GET /queue/stats': CLIENT,
  'GET /metrics': CLIENT,

  'POST /api/v1/tasks': CLIENT,
  'POST /api/v1/tasks/batch': CLIENT,
  'GET /api/v1/tasks': CLIENT,
  'GET /api/v1/tasks/stats': CLIENT,
  'GET /api/v1/tasks/activity': CLIENT,
  'GET /api/v1/tasks/:id': CLIENT,
  'POST /api/v1/tasks/:id/cancel': CLIENT,
  'DELETE /api/v1/tasks/:id': CLIENT,
  'GET /api/v1/tasks/:id/logs': CLIENT,
  'GET /api/v1/tasks/:id/logs/stream': CLIENT,
  'GET /api/v1/tasks/:id/rewards': CLIENT,
  'POST /api/v1/tasks/:id/rewards': CLIENT,
  'POST /api/v1/experiments': CLIENT,
  'GET /api/v1/experiments': CLIENT,
  'GET /api/v1/experiments/:id': CLIENT,
  'GET /api/v1/experiments/:id/groups': CLIENT,
  'POST /api/v1/experiments/:id/cancel': CLIENT,
  'GET /api/v1/events': CLIENT,
  'GET /api/v1/trajectories/stream': CLIENT,
  'GET /api/v1/export': CLIENT,
  'GET /api/v1/export/schema': 'public',
  'GET /api/v1/problems': CLIENT,

  'GET /api/v1/llm-conversations': CLIENT,
  'GET /api/v1/llm-conversations/stats/summary': CLIENT,
  'GET /api/v1/llm-conversations/task/:task_id/conversations': CLIENT,
  'GET /api/v1/llm-conversations/:id': CLIENT,
  'GET /api/v1/llm-conversations/:id/messages': CLIENT,
  'GET /api/v1/llm-conversations/:id/calls': CLIENT,

  // Reading the fleet is a client's business; acting as a worker is the worker role's.
  'GET /api/v1/workers': CLIENT,
  'GET /api/v1/workers/:id': CLIENT,
  'GET /api/v1/workers/:id/stats': CLIENT,
  'POST /api/v1/workers/register': WORKER,
  'POST /api/v1/workers/heartbeat': WORKER,
  'POST /api/v1/workers/:id/heartbeat': WORKER,
  'POST /api/v1/workers/:id/claim': WORKER,
  'POST /api/v1/workers/:id/tasks/:task_id/logs': WORKER,
  'POST /api/v1/workers/:id/tasks/:task_id/complete': WORKER,
  'POST /api/v1/workers/:id/tasks/:task_id/fail': WORKER,
  'POST /api/v1/workers/:id/tasks/:task_id/release': WORKER,
  'POST /api/v1/workers/:id/reports': WORKER,

  // Scaling the in-process pool changes what the server spends: admin only.
  'GET /api/v1/workers/internal/status': ADMIN,
  'POST /api/v1/workers/internal/scale': ADMIN,
  'POST /api/v1/workers/internal/start': ADMIN,
  'POST /api/v1/workers/internal/stop': ADMIN,
};

/**
 * Whole subtrees: Swagger UI's assets, the dashboard's static files (no data: the page asks
 * for a token when the API it calls says 401), and the gateway with its own per-task tokens.
 */
const PREFIX_ACCESS: readonly (readonly [string, Access])[] = [
  ['/docs', 'public'],
  ['/ui', 'public'],
  ['/llm/v1', 'gateway'],
];

/** The access for a matched route pattern; `listed` is false when the admin-only default applied. */
export function accessFor(method: string, url: string): { access: Access; listed: boolean } {
  const m = method === 'HEAD' ? 'GET' : method;
  const exact = ROUTE_ACCESS[`${m} ${url}`];
  if (exact) return { access: exact, listed: true };
  for (const [prefix, access] of PREFIX_ACCESS)
    if (url === prefix || url.startsWith(`${prefix}/`)) return { access, listed: true };
  return { access: ADMIN, listed: false };
}

export function allows(access: Access, role: Role): boolean {
  return typeof access === 'string' || role === 'admin' || access.includes(role);
}

// --- tokens -------------------------------------------------------------------------------

export interface TokenTable {
  readonly size: number;
  /** The role a presented token carries, or undefined. Constant time in the token. */
  roleOf(token: string | undefined): Role | undefined;
}

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/**
 * Tokens are kept as SHA-256 digests and compared with timingSafeEqual: equal-length inputs
 * whatever the token's length, and every entry is compared, so timing reveals neither a prefix
 * nor which entry matched.
 */
export function tokenTable(tokens: readonly RoleToken[]): TokenTable {
  const entries = tokens.map((t) => ({ role: t.role, digest: sha256(t.token) }));
  return {
    size: entries.length,
    roleOf(token) {
      if (!token) return undefined;
      const digest = sha256(token);
      let role: Role | undefined;
      for (const e of entries) if (timingSafeEqual(e.digest, digest)) role ??= e.role;
      return role;
    },
  };
}

/** `role token` per line; `#` starts a comment (a whole line, or after the token). */
export function parseTokenFile(text: string, name: string): RoleToken[] {
  const out: RoleToken[] = [];
  for (const [i, line] of text.split(/\r?\n/).entries()) {
    const fields = line.trim().split(/\s+/);
    const hash = fields.findIndex((f) => f.startsWith('#'));
    const [role = '', token = '', ...extra] = hash < 0 ? fields : fields.slice(0, hash);
    if (role === '') continue;
    const where = `API_TOKENS_FILE ${name} line ${i + 1}`;
    if (extra.length > 0) throw new ConfigError(`${where}: expected "role token", found more fields`);
    const problem = roleTokenProblem(role, token);
    if (problem) throw new ConfigError(`${where}: ${problem}`);
    out.push({ role: role as Role, token });
  }
  if (out.length === 0)
    // Fail closed: an empty file must not silently switch authentication off.
    throw new ConfigError(`API_TOKENS_FILE ${name} holds no tokens`);
  return out;
}

function readTokenFile(path: string): RoleToken[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new ConfigError(`API_TOKENS_FILE ${path} cannot be read (${code})`);
  }
  return parseTokenFile(text, path);
}

/** API_TOKENS merged with API_TOKENS_FILE; a ConfigError (never quoting a token) when wrong. */
export function loadApiTokens(config: Config): RoleToken[] {
  const all = [
    ...config.API_TOKENS,
    ...(config.API_TOKENS_FILE ? readTokenFile(config.API_TOKENS_FILE) : []),
  ];
  const roleByToken = new Map<string, Role>();
  for (const { role, token } of all) {
    const other = roleByToken.get(token);
    // One token, two roles: which one it carries would depend on list order.
    if (other && other !== role)
      throw new ConfigError(`API tokens: one token is listed for two roles (${other} and ${role})`);
    roleByToken.set(token, role);
  }
  return [...roleByToken].map(([token, role]) => ({ role, token }));
}

// --- exposure -----------------------------------------------------------------------------

/** 127.0.0.0/8, ::1 (also IPv4-mapped) and localhost: only this machine can connect. */
export function isLoopback(host: string): boolean {
  const h = host
    .trim()
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || /^(0{0,4}:){5}ffff:127\./.test(h) || /^::ffff:127\./.test(h);
  return false;
}

/**
 * Start-up check (before anything opens): tokens are valid, and an API reachable from other
 * machines is not left open unless the operator said so with ALLOW_UNAUTHENTICATED.
 */
export function checkAuthPlan(config: Config): void {
  const tokens = loadApiTokens(config);
  if (tokens.length > 0 || isLoopback(config.HOST) || config.ALLOW_UNAUTHENTICATED) return;
  throw new ConfigError(
    `HOST=${config.HOST} is not a loopback address and no API tokens are configured: anyone who can reach the port could submit, claim and complete tasks, spend the LLM upstream key and scale workers. Set API_TOKENS or API_TOKENS_FILE (roles ${ROLES.join(', ')}), bind HOST=127.0.0.1, or set ALLOW_UNAUTHENTICATED=true to run open on purpose.`,
  );
}

// --- the hook -----------------------------------------------------------------------------

/** The role each authenticated request was admitted with (who wrote a reward, made an experiment). */
const CALLER_ROLE = new WeakMap<FastifyRequest, Role>();

/** The caller's role, or `anonymous` when the API runs without tokens. */
export function callerRole(req: FastifyRequest): string {
  return CALLER_ROLE.get(req) ?? 'anonymous';
}

function bearer(header: string | undefined): string | undefined {
  return header ? /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header)?.[1] : undefined;
}

function refuse(req: FastifyRequest, reply: FastifyReply, err: ApiError, challenge?: string) {
  req.log.info({ code: err.code, route: req.routeOptions.url, details: err.details }, 'request refused');
  if (challenge) reply.header('www-authenticate', challenge);
  return reply.code(err.status).send(errorBody(err));
}

/**
 * Installs the role check when tokens are configured (call before any route is registered,
 * so the unlisted-route warning sees them all). Without tokens it adds nothing at all.
 */
export function installAuth(app: Api, config: Config): void {
  const tokens = tokenTable(loadApiTokens(config));
  if (tokens.size === 0) return;
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat())
      if (method !== 'HEAD' && !accessFor(method, route.url).listed)
        app.log.warn({ method, route: route.url }, 'route missing from the auth table: admin only');
  });
  app.addHook('onRequest', async (req, reply) => {
    const url = req.routeOptions.url;
    // No route matched: the 404 handler answers and there is nothing to guard.
    if (url === undefined) return;
    const { access } = accessFor(req.method, url);
    if (typeof access === 'string') return;
    const presented = bearer(req.headers.authorization);
    const role = tokens.roleOf(presented);
    if (role === undefined) {
      const err = new ApiError('UNAUTHORIZED', undefined, {
        reason: presented ? 'unknown token' : 'no token',
      });
      // RFC 6750: a bare challenge when nothing was sent, invalid_token when it was wrong.
      return refuse(req, reply, err, presented ? 'Bearer error="invalid_token"' : 'Bearer');
    }
    CALLER_ROLE.set(req, role);
    if (allows(access, role)) return;
    const allowed = ['admin', ...access];
    const err = new ApiError('FORBIDDEN', `The ${role} role may not call ${req.method} ${url}`, {
      role,
      allowed_roles: allowed,
    });
    return refuse(req, reply, err);
  });
}
