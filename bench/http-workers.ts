/**
 * Child process of the benchmark: N remote workers of S slots each (argv[3], argv[4]; the real
 * Worker loop over the real HTTP transport) against the API at argv[2]. A separate process, as remote workers would be, so
 * the workers do not share the server's event loop. Prints "ready" once loaded, starts the
 * workers when "go" arrives on stdin (so the parent's clock covers the drain only), and
 * drains on SIGTERM.
 */
import { createInterface } from 'node:readline';
import { HttpTransport } from '../src/worker/http.ts';
import { Worker } from '../src/worker/worker.ts';
import { noopBackend } from './noop.ts';

const [apiUrl, count, slots] = [
  process.argv[2]!,
  Number(process.argv[3] ?? 20),
  Number(process.argv[4] ?? 1),
];
const quiet = { info() {}, warn() {}, error() {} };
const workers = Array.from(
  { length: count },
  (_, i) =>
    new Worker({
      id: `worker-${String(100 + i).padStart(3, '0')}-kind`,
      backend: noopBackend,
      transport: new HttpTransport(apiUrl),
      maxParallel: slots,
      pollIntervalMs: 5000,
      heartbeatIntervalMs: 10_000,
      dataDir: process.env.BENCH_DATA_DIR ?? '/tmp/task-executor-bench',
      logger: quiet,
    }),
);
console.log('ready');
for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim() === 'go') break;
}
await Promise.all(workers.map((w) => w.start()));
process.once('SIGTERM', async () => {
  await Promise.all(workers.map((w) => w.stop(1000)));
  process.exit(0);
});
