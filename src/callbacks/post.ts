/**
 * One callback POST over node:http(s), connecting only where the address policy allows.
 * Redirects are never followed (a 3xx is an answer like any other non-2xx): a redirect to
 * http://169.254.169.254/ would otherwise walk around the policy.
 */
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import type { AddressPolicy } from './address-policy.ts';
import { normalHost } from './address-policy.ts';
import {
  assertAllowed,
  guardedLookup,
  PolicyRefusal,
  type Resolver,
  systemResolver,
} from './guarded-lookup.ts';

/**
 * What became of one attempt. `detail` is for server logs only: it tells connection refused
 * from a timeout or a DNS failure, which is exactly what a submitter must not learn.
 */
export type PostOutcome =
  | { kind: 'delivered'; status: number }
  | { kind: 'rejected'; status: number }
  | { kind: 'refused'; detail: string }
  | { kind: 'unreachable'; detail: string };

export interface PostOptions {
  policy: AddressPolicy;
  timeoutMs: number;
  resolve?: Resolver;
}

function describeError(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return [e.code, e.message].filter(Boolean).join(': ') || String(err);
}

function failureOf(err: unknown): PostOutcome {
  return err instanceof PolicyRefusal
    ? { kind: 'refused', detail: err.message }
    : { kind: 'unreachable', detail: describeError(err) };
}

/** net connects to an IP literal without any lookup, so a literal is checked here instead. */
function checkLiteralHost(policy: AddressPolicy, url: URL): void {
  const host = normalHost(url.hostname);
  if (isIP(host)) assertAllowed(policy, host, [host]);
}

export function postJson(
  url: string,
  body: string,
  headers: Record<string, string>,
  opts: PostOptions,
): Promise<PostOutcome> {
  return new Promise((settle) => {
    let target: URL;
    try {
      target = new URL(url);
      if (target.protocol !== 'http:' && target.protocol !== 'https:') throw new Error('not an http(s) URL');
      checkLiteralHost(opts.policy, target);
    } catch (err) {
      settle(failureOf(err));
      return;
    }
    const transport = target.protocol === 'https:' ? https : http;
    const req = transport.request(
      target,
      {
        method: 'POST',
        headers: {
          ...headers,
          'content-type': 'application/json',
          'content-length': String(Buffer.byteLength(body)),
          'user-agent': 'task-executor-callback',
        },
        // No pooled sockets: each connection goes through the lookup (and the policy) itself.
        agent: false,
        lookup: guardedLookup(opts.policy, opts.resolve ?? systemResolver),
        signal: AbortSignal.timeout(opts.timeoutMs),
      },
      (res) => {
        const status = res.statusCode ?? 0;
        // The answer's status is all we need; its body is not read.
        res.destroy();
        settle(status >= 200 && status < 300 ? { kind: 'delivered', status } : { kind: 'rejected', status });
      },
    );
    req.on('error', (err) => settle(failureOf(err)));
    req.end(body);
  });
}
