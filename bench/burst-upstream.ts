/**
 * The rollout burst's upstream, run as a child process of its own (so its CPU is not the
 * gateway's): an OpenAI-compatible server that streams every answer in BURST_CHUNKS chunks
 * BURST_CHUNK_MS apart, like a model decoding, then the usage chunk when asked and `[DONE]`.
 * A non-streamed request gets the same answer in one document after the same total time.
 * Prints `PORT <n>` once listening; exits when its stdin closes (its parent went away).
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

const CHUNKS = Number(process.env.BURST_CHUNKS ?? 6);
const CHUNK_MS = Number(process.env.BURST_CHUNK_MS ?? 15);
const WORDS = ['The pod', ' restarts', ' because', ' port 9090', ' is refused', '; check the service.'];
const CREATED = 1_700_000_000;

type Body = { model?: string; stream?: boolean; stream_options?: { include_usage?: boolean } };

function chunk(id: string, model: string, delta: object, finish: string | null): string {
  const doc = {
    id,
    object: 'chat.completion.chunk',
    created: CREATED,
    model,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
  };
  return `data: ${JSON.stringify(doc)}\n\n`;
}

const wordAt = (i: number) => WORDS[i % WORDS.length]!;

function usage(promptChars: number) {
  const prompt = Math.ceil(promptChars / 4);
  return { prompt_tokens: prompt, completion_tokens: CHUNKS * 2, total_tokens: prompt + CHUNKS * 2 };
}

function streamAnswer(res: ServerResponse, body: Body, promptChars: number, n: number): void {
  const id = `chatcmpl-burst${n}`;
  const model = body.model ?? 'burst';
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
  let i = 0;
  const next = () => {
    if (res.destroyed) return;
    const last = i === CHUNKS - 1;
    const delta = i === 0 ? { role: 'assistant', content: wordAt(i) } : { content: wordAt(i) };
    let out = chunk(id, model, delta, last ? 'stop' : null);
    if (last) {
      if (body.stream_options?.include_usage === true)
        out += `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created: CREATED, model, choices: [], usage: usage(promptChars) })}\n\n`;
      out += 'data: [DONE]\n\n';
      res.end(out);
      return;
    }
    res.write(out);
    i++;
    setTimeout(next, CHUNK_MS);
  };
  next();
}

function plainAnswer(res: ServerResponse, body: Body, promptChars: number, n: number): void {
  setTimeout(
    () => {
      const content = Array.from({ length: CHUNKS }, (_, i) => wordAt(i)).join('');
      const text = JSON.stringify({
        id: `chatcmpl-burst${n}`,
        object: 'chat.completion',
        created: CREATED,
        model: body.model ?? 'burst',
        choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
        usage: usage(promptChars),
      });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    },
    CHUNK_MS * (CHUNKS - 1),
  );
}

let served = 0;
const server = createServer(async (req, res) => {
  const parts: Buffer[] = [];
  for await (const c of req) parts.push(c as Buffer);
  const raw = Buffer.concat(parts);
  let body: Body;
  try {
    body = JSON.parse(raw.toString());
  } catch {
    res.writeHead(400, { 'content-type': 'application/json' });
    res.end('{"error":{"message":"bad JSON","type":"invalid_request_error"}}');
    return;
  }
  served++;
  if (body.stream === true) streamAnswer(res, body, raw.length, served);
  else plainAnswer(res, body, raw.length, served);
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`PORT ${(server.address() as AddressInfo).port}\n`);
});
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
