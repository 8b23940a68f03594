/** Request parsing and error replies shared by every route. */

import { ApiError, errorBody, toApiError } from './errors.ts';
import type { Api } from './types.ts';

/**
 * Fastify's JSON parser (prototype-poisoning checks included), except that an empty body is
 * read as "no body" instead of a 400: clients often send `Content-Type: application/json`
 * on a bodiless POST (claim, heartbeat, cancel).
 */
export function installJsonParser(app: Api): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  // JSON only: a text/plain body would otherwise reach the schemas as a string.
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    const text = body.toString();
    if (text.trim() === '') return done(null, undefined);
    parse(req, text, done);
  });
}

export function installErrorHandling(app: Api): void {
  app.setErrorHandler((err, req, reply) => {
    const apiErr = toApiError(err);
    // The client gets the catalogue message; the log keeps the real error (and its stack).
    if (apiErr.status >= 500) req.log.error({ err, code: apiErr.code }, 'request failed');
    else
      req.log.info({ code: apiErr.code, reason: apiErr.message, details: apiErr.details }, 'request refused');
    return reply.code(apiErr.status).send(errorBody(apiErr));
  });
  app.setNotFoundHandler((req, reply) => {
    const err = new ApiError('NOT_FOUND', `Route ${req.method} ${req.url.slice(0, 200)} not found`);
    return reply.code(404).send(errorBody(err));
  });
}
