/** Building blocks shared by the route schemas. */
import { type TSchema, Type } from 'typebox';

/** An optional field that may also be sent as null (Python clients send None as null). */
export const Maybe = <T extends TSchema>(schema: T) => Type.Optional(Type.Union([schema, Type.Null()]));
export const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

export const Uuid = Type.String({ format: 'uuid', description: 'A UUID.' });
export const DateTime = Type.String({ format: 'date-time' });
/** Any JSON value (results, error details, log context). */
export const AnyJson = Type.Unknown();
export const JsonObject = Type.Object({}, { additionalProperties: true });

export const ErrorBody = Type.Object(
  {
    error: Type.String({ description: 'Human-readable message.' }),
    code: Type.String({ description: 'Stable SNAKE_CASE error code.' }),
    details: JsonObject,
    detail: Type.Union(
      [
        Type.String(),
        Type.Array(
          Type.Object({
            type: Type.String(),
            loc: Type.Array(Type.Union([Type.String(), Type.Integer()])),
            msg: Type.String(),
          }),
        ),
      ],
      {
        description:
          'As FastAPI answers (the predecessor’s clients read it): the message, or for a validation error the list of issues with `loc` (where, then the field path) and `msg`.',
      },
    ),
  },
  { description: 'Every error response has this shape.' },
);

/**
 * The schema with a description of its own: what this response means for this route (OpenAPI
 * shows it as the response's description). Only the documentation reads it; the document still
 * refers to the shared schema by name (openapi-refs.ts recognises such copies).
 */
export function described<T extends TSchema>(description: string, schema: T): T {
  return { ...schema, description };
}

/** What each error status means, the same on every route (the body's `code` says more). */
const ERROR_MEANINGS: Readonly<Record<number, string>> = {
  400: 'Malformed request: the body is not JSON, or the action does not apply (`code` says which).',
  401: 'No valid API token (only when the server has API tokens configured).',
  403: 'The token’s role may not call this operation.',
  404: 'Not found.',
  409: 'Conflict with the current state (`code` says which, e.g. TASK_NOT_HELD, STALE_ATTEMPT).',
  413: 'The body is larger than the limit.',
  415: 'The body is not JSON.',
  422: 'Validation failed: `details.errors` names each field and why.',
  503: 'The database is unreachable; try again shortly.',
};

/** Response schemas for the error statuses a route can answer, so OpenAPI lists them. */
export function errors(...statuses: number[]): Record<number, typeof ErrorBody> {
  return Object.fromEntries(statuses.map((s) => [s, described(ERROR_MEANINGS[s] ?? 'Error.', ErrorBody)]));
}

export const IdParams = Type.Object({ id: Uuid });

/** Both pagination styles of the seed: page/page_size, or limit/offset. */
export const PaginationQuery = {
  page: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000, description: 'Page number, from 1.' })),
  page_size: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'Items per page.' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'Same as page_size.' })),
  offset: Type.Optional(
    Type.Integer({
      minimum: 0,
      maximum: 1_000_000_000,
      description: 'Items to skip; do not combine with page.',
    }),
  ),
};

export const PaginationFields = {
  total: Type.Integer(),
  page: Type.Integer(),
  page_size: Type.Integer(),
  limit: Type.Integer(),
  offset: Type.Integer(),
};
