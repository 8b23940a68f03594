/**
 * A fake OpenAI-compatible upstream on 127.0.0.1 whose streams break in the middle. Every
 * stream sends `w0 `, `w1 `, … as content chunks; the model name says how it ends:
 *   chaos-ok        6 chunks, a finish chunk, usage, [DONE]
 *   chaos-break     3 chunks, then the socket is destroyed
 *   chaos-eof       3 chunks, then a clean end of the body with no finish and no [DONE]
 *   chaos-error     3 chunks, then an OpenAI-style error event, then the end
 *   chaos-stall     3 chunks, then silence (the gateway's idle timeout must cut it)
 *   chaos-garbage   3 chunks, then half a JSON event, then the socket is destroyed
 *   chaos-slow      20 chunks, one every 500 ms (for a cut while in flight, or a client abort)
 * Non-streamed, chaos-break destroys the socket before answering; the others answer whole.
 */
import { createServer, type Server, type ServerResponse } from 'node:http';

export interface FakeUpstream {
  url: string;
  requests: number;
  close(): Promise<void>;
}

const chunk = (model: string, delta: object, finish: string | null = null) =>
  `data: ${JSON.stringify({
    id: 'chatcmpl-chaos',
    object: 'chat.completion.chunk',
    created: 1_700_000_000,
    model,
    choices: [{ index: 0, delta, finish_reason: finish }],
  })}\n\n`;

export const words = (n: number) => Array.from({ length: n }, (_, i) => `w${i} `).join('');

export async function startFakeUpstream(): Promise<FakeUpstream> {
  let requests = 0;
  const open = new Set<ServerResponse>();
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => {
      body += d;
    });
    req.on('end', () => {
      requests++;
      let parsed: { model?: string; stream?: boolean } = {};
      try {
        parsed = JSON.parse(body);
      } catch {
        res.writeHead(400).end();
        return;
      }
      const model = String(parsed.model ?? '');
      if (!parsed.stream) {
        if (model === 'chaos-break') {
          req.socket.destroy();
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            id: 'chatcmpl-chaos',
            object: 'chat.completion',
            created: 1_700_000_000,
            model,
            choices: [{ index: 0, message: { role: 'assistant', content: words(6) }, finish_reason: 'stop' }],
            usage: { prompt_tokens: 5, completion_tokens: 6, total_tokens: 11 },
          }),
        );
        return;
      }
      open.add(res);
      res.on('close', () => open.delete(res));
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(chunk(model, { role: 'assistant', content: '' }));
      const n = model === 'chaos-ok' ? 6 : model === 'chaos-slow' ? 20 : 3;
      const every = model === 'chaos-slow' ? 500 : 20;
      let i = 0;
      const tick = () => {
        if (res.destroyed) return;
        if (i < n) {
          res.write(chunk(model, { content: `w${i++} ` }));
          setTimeout(tick, every);
          return;
        }
        switch (model) {
          case 'chaos-ok':
          case 'chaos-slow':
            res.write(chunk(model, {}, 'stop'));
            res.write(
              `data: ${JSON.stringify({ id: 'chatcmpl-chaos', object: 'chat.completion.chunk', created: 1_700_000_000, model, choices: [], usage: { prompt_tokens: 5, completion_tokens: n, total_tokens: 5 + n } })}\n\n`,
            );
            res.end('data: [DONE]\n\n');
            return;
          case 'chaos-break':
            res.socket?.destroy();
            return;
          case 'chaos-eof':
            res.end();
            return;
          case 'chaos-error':
            res.end(
              `data: ${JSON.stringify({ error: { message: 'upstream exploded mid-stream', type: 'server_error', code: null } })}\n\n`,
            );
            return;
          case 'chaos-garbage':
            res.write('data: {"id": "chatcmpl-chaos", "choices": [{"del', () => res.socket?.destroy());
            return;
          default:
            return; // chaos-stall: silence
        }
      };
      setTimeout(tick, every);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    get requests() {
      return requests;
    },
    async close() {
      for (const r of open) r.destroy();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
