/**
 * A minimal HTTP/1.1 JSON client on node:http with keep-alive agents, for the worker protocol.
 * Why not fetch: on the 2-core benchmark machine Node's built-in fetch (undici + web streams)
 * managed 837 requests/s against a bare node:http server where http.request with a
 * keep-alive agent managed 4,512/s. Remote workers make two or three calls per task, so the
 * client's own cost is the protocol's ceiling.
 */
import http from 'node:http';
import https from 'node:https';

let agents = makeAgents(64);

function makeAgents(maxSockets: number) {
  return {
    'http:': new http.Agent({ keepAlive: true, maxSockets }),
    'https:': new https.Agent({ keepAlive: true, maxSockets }),
  };
}

/**
 * Connections per API host (default 64, plenty for one worker process). A process that hosts
 * many long-polling workers (the idle-fleet benchmark) needs one per worker, or the claims
 * beyond the limit queue in the client instead of parking at the API.
 */
export function setMaxSocketsPerHost(n: number): void {
  agents = makeAgents(n);
}

export interface RawResponse {
  status: number;
  text: string;
  headers: http.IncomingHttpHeaders;
}

export function requestText(
  url: string,
  init: { method: string; headers?: Record<string, string>; body?: string; signal?: AbortSignal },
): Promise<RawResponse> {
  const u = new URL(url);
  const mod = u.protocol === 'https:' ? https : http;
  const agent = agents[u.protocol as keyof typeof agents];
  if (!agent) return Promise.reject(new Error(`Unsupported protocol in ${url}`));
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { ...init.headers };
    if (init.body !== undefined) headers['content-length'] = Buffer.byteLength(init.body);
    const req = mod.request(u, { method: init.method, headers, agent, signal: init.signal }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          text: Buffer.concat(chunks).toString('utf8'),
          headers: res.headers,
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(init.body);
  });
}
