/**
 * An OpenAI-compatible server reached over HTTP(S). node:http with a keep-alive agent rather
 * than fetch: on the 2-core benchmark machine fetch cost several times more per request, and
 * the gateway's own overhead is what every agent step pays. The response body is handed over
 * as the raw IncomingMessage, so the proxy sees each chunk the moment it arrives.
 */
import http from 'node:http';
import https from 'node:https';
import type { ChatRequest, Upstream, UpstreamKind, UpstreamReply } from './upstream-types.ts';

export interface HttpUpstreamOptions {
  name: string;
  kind: UpstreamKind;
  baseUrl: string;
  apiKey: string;
}

export interface HttpUpstream extends Upstream {
  close(): void;
}

export function createHttpUpstream(o: HttpUpstreamOptions): HttpUpstream {
  const endpoint = new URL(`${o.baseUrl.replace(/\/+$/, '')}/chat/completions`);
  const secure = endpoint.protocol === 'https:';
  const agent = secure
    ? new https.Agent({ keepAlive: true, maxSockets: 512 })
    : new http.Agent({ keepAlive: true, maxSockets: 512 });
  const request = secure ? https.request : http.request;

  return {
    name: o.name,
    kind: o.kind,
    send(body: ChatRequest, signal: AbortSignal): Promise<UpstreamReply> {
      const payload = Buffer.from(JSON.stringify(body));
      const headers: Record<string, string | number> = {
        'content-type': 'application/json',
        accept: body.stream === true ? 'text/event-stream' : 'application/json',
        'content-length': payload.length,
      };
      if (o.apiKey) headers.authorization = `Bearer ${o.apiKey}`;
      return new Promise((resolve, reject) => {
        const req = request(endpoint, { method: 'POST', headers, agent, signal }, (res) => {
          resolve({ status: res.statusCode ?? 502, headers: flatten(res.headers), body: res });
        });
        req.on('error', reject);
        req.end(payload);
      });
    },
    close: () => agent.destroy(),
  };
}

function flatten(h: http.IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}
