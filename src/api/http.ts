/** Error replies shared by every route (bodies are read and parsed in body.ts). */

import { ApiError, errorBody, toApiError } from './errors.ts';
import type { Api } from './types.ts';

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
