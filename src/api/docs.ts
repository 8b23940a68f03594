/**
 * The API's documentation: the OpenAPI document at /openapi.json, Swagger UI at /docs and
 * ReDoc at /redoc. The document is generated from the route schemas that validate requests;
 * this module adds what the schemas alone do not say: who may call each operation (from the
 * auth table), the names of shared schemas, and the gateway's exchange (documented, never
 * validated).
 */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifySchema, RouteOptions } from 'fastify';
import type { Config } from '../config/index.ts';
import { accessFor } from './auth.ts';
import { schemaNamer, shareErrorResponses } from './openapi-refs.ts';
import { NAMED_SCHEMAS } from './schemas/named.ts';
import type { Api } from './types.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * Schema parts shown in the OpenAPI document only. For routes that must not validate what
     * they document (the gateway relays OpenAI bodies as sent).
     */
    documented?: Pick<FastifySchema, 'body' | 'headers' | 'response'>;
  }
}

const OPENAPI_DOCUMENT = {
  description: 'The OpenAPI 3.1 document of this server.',
  type: 'object',
  additionalProperties: true,
};

export const DOCS_TITLE = 'Task Executor API';

const DESCRIPTION =
  'Runs LLM agents on AIOpsLab incidents over a fenced PostgreSQL task queue.\n\n' +
  'Authentication: when the server has API tokens (API_TOKENS / API_TOKENS_FILE), every ' +
  'operation declaring `bearerAuth` needs `Authorization: Bearer <token>` of one of the roles ' +
  'in its `x-roles` (401 without a valid token, 403 for another role); without tokens the API ' +
  'is open. Operations declaring `security: []` are always public. The LLM gateway ' +
  '(`taskToken`) always needs the per-attempt task token a claim hands out (`llm_api_key`): ' +
  'to try it here, claim a task (`POST /api/v1/workers/{id}/claim`) and paste that token under ' +
  '"Authorize".';

const SECURITY_SCHEMES = {
  bearerAuth: {
    type: 'http',
    scheme: 'bearer',
    description:
      'An API token (role admin, client or worker) from API_TOKENS or API_TOKENS_FILE. Needed only when the server has tokens configured; `x-roles` on each operation lists the roles it accepts (admin always).',
  },
  taskToken: {
    type: 'http',
    scheme: 'bearer',
    description:
      'The per-attempt task token a claim hands out (`llm_api_key`); only the LLM gateway (/llm/v1) takes it, and it opens nothing else.',
  },
} as const;

const TAGS = [
  'tasks',
  'workers',
  'internal workers',
  'llm conversations',
  'llm gateway',
  'problems',
  'experiments',
  'feeds',
  'export',
  'health',
].map((name) => ({ name }));

export async function registerDocs(app: Api, config: Config, version: string): Promise<void> {
  const namer = schemaNamer(NAMED_SCHEMAS);
  await app.register(swagger, {
    openapi: {
      // 3.1 is JSON Schema itself, so nullable fields (anyOf with type null) are valid as written.
      openapi: '3.1.0',
      info: { title: 'Task Executor', version, description: DESCRIPTION },
      components: { securitySchemes: SECURITY_SCHEMES, schemas: namer.components() },
      tags: TAGS,
    },
    // Each operation's security comes from the table the auth hook enforces (auth.ts), so the
    // document cannot drift from what the server does.
    transform: ({ schema, url, route }) => ({
      schema: namer.route(withSecurity(withDocumented(schema, route), route.method, url)),
      url,
    }),
    transformObject: (documentObject) =>
      'openapiObject' in documentObject
        ? shareErrorResponses(documentObject.openapiObject as Record<string, unknown>)
        : documentObject.swaggerObject,
  });
  app.get(
    '/openapi.json',
    {
      schema: { tags: ['health'], summary: 'This OpenAPI document' },
      config: { documented: { response: { 200: OPENAPI_DOCUMENT } } },
    },
    () => app.swagger(),
  );
  if (!config.ENABLE_DOCS) return;
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    theme: { title: DOCS_TITLE },
    // A pasted token survives a reload; "Try it out" is what a newcomer comes for.
    uiConfig: { persistAuthorization: true, tryItOutEnabled: true, displayRequestDuration: true },
  });
  // The predecessor (FastAPI) also served ReDoc at /redoc; the same page, reading /openapi.json.
  app.get(
    '/redoc',
    { schema: { tags: ['health'], summary: 'API reference (ReDoc)', hide: true } },
    (_req, reply) => reply.type('text/html; charset=utf-8').send(REDOC_PAGE),
  );
}

/** ReDoc renders in the browser from its published bundle, as FastAPI's /redoc does; /docs needs no network. */
const REDOC_PAGE = `<!doctype html>
<html>
<head>
<title>${DOCS_TITLE} - ReDoc</title>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
</head>
<body>
<noscript>ReDoc needs JavaScript; read <a href="/docs">/docs</a> or <a href="/openapi.json">/openapi.json</a>.</noscript>
<redoc spec-url="/openapi.json"></redoc>
<script src="https://cdn.jsdelivr.net/npm/redoc@2/bundles/redoc.standalone.js"></script>
</body>
</html>
`;

/** The route's schema with the parts it documents without validating them. */
function withDocumented(schema: FastifySchema | undefined, route: RouteOptions): FastifySchema | undefined {
  const documented = route.config?.documented;
  if (!documented) return schema;
  const response = { ...(schema?.response as object), ...(documented.response as object) };
  return { ...schema, ...documented, response };
}

/**
 * The route's schema with `security` (and, for API tokens, the accepted roles as `x-roles` and
 * in the description) as the auth table decides it. The route's own schema is not changed.
 */
function withSecurity(
  schema: FastifySchema | undefined,
  method: string | string[],
  url: string,
): FastifySchema {
  // HEAD follows GET; a route registered for several methods is documented by its first.
  const first = [method].flat().find((m) => m !== 'HEAD') ?? 'GET';
  const { access } = accessFor(first, url);
  const given: Record<string, unknown> = { ...schema };
  const describe = (note: string) =>
    typeof given.description === 'string' && given.description ? `${given.description}\n\n${note}` : note;
  let extra: Record<string, unknown>;
  if (access === 'public') extra = { security: [], description: describe('Public: no token needed.') };
  else if (access === 'gateway')
    extra = {
      security: [{ taskToken: [] }],
      description: describe('Bearer: the attempt’s task token (`llm_api_key` from the claim).'),
    };
  else {
    const roles = ['admin', ...access];
    extra = {
      security: [{ bearerAuth: [] }],
      'x-roles': roles,
      description: describe(`Roles (when API tokens are configured): ${roles.join(', ')}.`),
    };
  }
  return { ...given, ...extra };
}
