/** Content negotiation for the few routes that answer a browser differently from an API client. */

/** The highest q an Accept header gives this exact media type (wildcards do not count); 0 if none. */
function quality(accept: string, type: string): number {
  let best = 0;
  for (const range of accept.split(',')) {
    const [name = '', ...params] = range.split(';').map((p) => p.trim().toLowerCase());
    if (name !== type) continue;
    const q = params.find((p) => p.startsWith('q='));
    const value = q === undefined ? 1 : Number(q.slice(2));
    if (Number.isFinite(value)) best = Math.max(best, value);
  }
  return best;
}

/**
 * True when the client names text/html and ranks it above JSON: a browser's address bar.
 * API clients (curl, fetch, requests: `*\/*`; SDKs: application/json) are not, so they keep
 * getting JSON; on a tie JSON wins, because the API's clients must never be redirected.
 */
export function prefersHtml(accept: string | undefined): boolean {
  if (!accept) return false;
  const html = quality(accept, 'text/html');
  return html > 0 && html > quality(accept, 'application/json');
}
