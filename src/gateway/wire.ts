/**
 * What the gateway itself says on the wire: OpenAI-style error bodies (so SDKs raise their
 * usual exceptions), and the scrubbing of upstream keys from any upstream text that is
 * passed on, stored or logged (some providers echo part of the key in a 401).
 */

export interface OpenAiError {
  status: number;
  message: string;
  type: string;
  code: string | null;
  param?: string | null;
}

export function errorJson(e: Omit<OpenAiError, 'status'>): string {
  return JSON.stringify({
    error: { message: e.message, type: e.type, param: e.param ?? null, code: e.code },
  });
}

export const gatewayErrors = {
  badToken: (): OpenAiError => ({
    status: 401,
    type: 'invalid_request_error',
    code: 'invalid_api_key',
    message: 'Invalid task token: use the llm_api_key handed out with the task claim.',
  }),
  expiredToken: (why: string): OpenAiError => ({
    status: 401,
    type: 'invalid_request_error',
    code: 'invalid_api_key',
    message: `Task token no longer valid: ${why}.`,
  }),
  badRequest: (message: string, param: string | null = null): OpenAiError => ({
    status: 400,
    type: 'invalid_request_error',
    code: 'invalid_request',
    message,
    param,
  }),
  notRouted: (message: string): OpenAiError => ({
    status: 400,
    type: 'invalid_request_error',
    code: 'model_not_configured',
    message,
    param: 'model',
  }),
  unreachable: (message: string): OpenAiError => ({
    status: 502,
    type: 'upstream_error',
    code: 'upstream_unreachable',
    message,
  }),
  timeout: (seconds: number): OpenAiError => ({
    status: 504,
    type: 'timeout',
    code: 'upstream_timeout',
    message: `The upstream did not answer within ${seconds} s.`,
  }),
  attemptEnded: (): OpenAiError => ({
    status: 409,
    type: 'invalid_request_error',
    code: 'attempt_ended',
    message: 'The task attempt ended while this call was in flight; the call was cut.',
  }),
  unavailable: (): OpenAiError => ({
    status: 503,
    type: 'server_error',
    code: 'database_unavailable',
    message: 'The gateway cannot reach its database; try again shortly.',
  }),
};

export type Scrubber = (text: string) => string;

/** Replaces every occurrence of each secret (whole) with [redacted]. */
export function createScrubber(secrets: readonly string[]): Scrubber {
  const list = secrets.filter((s) => s.length >= 6);
  if (list.length === 0) return (t) => t;
  return (text) => list.reduce((t, s) => (t.includes(s) ? t.split(s).join('[redacted]') : t), text);
}

/** The `error.message` of an OpenAI-style error body, else the start of the text. */
export function upstreamErrorMessage(status: number, text: string): string {
  try {
    const doc = JSON.parse(text) as { error?: { message?: unknown } | string; message?: unknown };
    const e = doc.error;
    const msg = typeof e === 'string' ? e : typeof e?.message === 'string' ? e.message : doc.message;
    if (typeof msg === 'string' && msg) return `upstream ${status}: ${msg}`;
  } catch {
    // not JSON: fall through to the raw text
  }
  return `upstream ${status}: ${text.slice(0, 500) || '(empty body)'}`;
}
