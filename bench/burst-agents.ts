/**
 * The rollout burst's agents, run as a child process of their own (so their CPU is not the
 * gateway's). Each line on stdin is one run: `{ targets: [{ url, headers }], turns, systemChars,
 * finalChars }`; every target is one agent, and all agents run at once. An agent plays `turns`
 * streamed chat calls of one growing conversation: a system prompt of `systemChars`, then per
 * turn a user message sized so the last prompt reaches about `finalChars`, and the reply it
 * reassembled from the stream appended as the assistant's message (so each prompt extends the
 * previous one, as a real agent's does). Answers one JSON line per run: calls, errors, the
 * first error, elapsed ms and per-call latency percentiles.
 */
import http from 'node:http';
import { createInterface } from 'node:readline';

interface Target {
  url: string;
  headers: Record<string, string>;
}

interface Run {
  targets: Target[];
  turns: number;
  systemChars: number;
  finalChars: number;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });
const FILLER =
  'The pod frontend-5d8f is in CrashLoopBackOff; its logs show a refused connection to port 9090. ';
const text = (chars: number, tag: string) =>
  `${tag} ${FILLER.repeat(Math.ceil(chars / FILLER.length))}`.slice(0, Math.max(chars, tag.length));

/** One streamed call; resolves with the reply's text (reassembled from the SSE deltas). */
function streamedCall(target: Target, body: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      target.url,
      {
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          ...target.headers,
        },
      },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const all = Buffer.concat(parts).toString();
          if (res.statusCode !== 200)
            return reject(new Error(`HTTP ${res.statusCode}: ${all.slice(0, 300)}`));
          let reply = '';
          let done = false;
          for (const event of all.split('\n\n')) {
            if (!event.startsWith('data: ')) continue;
            const data = event.slice(6);
            if (data === '[DONE]') {
              done = true;
              continue;
            }
            const doc = JSON.parse(data) as { choices?: { delta?: { content?: string } }[] };
            reply += doc.choices?.[0]?.delta?.content ?? '';
          }
          if (!done) return reject(new Error(`stream without [DONE]: ${all.slice(-300)}`));
          resolve(reply);
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function playAgent(target: Target, run: Run, index: number, latencies: number[]): Promise<void> {
  const userChars = Math.max(
    100,
    Math.round((run.finalChars - run.systemChars) / Math.max(1, run.turns)) - 60,
  );
  const messages: { role: string; content: string }[] = [
    { role: 'system', content: text(run.systemChars, `agent ${index}`) },
  ];
  for (let turn = 0; turn < run.turns; turn++) {
    messages.push({ role: 'user', content: text(userChars, `observation ${turn}`) });
    const body = JSON.stringify({
      model: 'burst-model',
      messages,
      stream: true,
      temperature: 0.7,
      max_tokens: 256,
    });
    const t0 = performance.now();
    const reply = await streamedCall(target, body);
    latencies.push(performance.now() - t0);
    messages.push({ role: 'assistant', content: reply });
  }
}

async function play(run: Run) {
  const latencies: number[] = [];
  const errors: string[] = [];
  const started = performance.now();
  await Promise.all(
    run.targets.map((t, i) =>
      playAgent(t, run, i, latencies).catch((err: Error) => {
        errors.push(err.message);
      }),
    ),
  );
  const elapsedMs = performance.now() - started;
  latencies.sort((a, b) => a - b);
  const pct = (p: number) =>
    latencies[Math.min(latencies.length - 1, Math.ceil((p / 100) * latencies.length) - 1)] ?? 0;
  return {
    calls: latencies.length,
    errors: errors.length,
    first_error: errors[0] ?? null,
    elapsed_ms: elapsedMs,
    call_p50_ms: pct(50),
    call_p99_ms: pct(99),
  };
}

const lines = createInterface({ input: process.stdin });
process.stdout.write('READY\n');
for await (const line of lines) {
  if (!line.trim()) continue;
  const result = await play(JSON.parse(line) as Run);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
