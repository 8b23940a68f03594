/**
 * Child process of the benchmark: N idle remote workers (the real Worker loop over the real
 * HTTP transport, default claim wait and heartbeat interval) long-polling the API at argv[2],
 * each on a connection of its own. Prints "ready" once every worker has registered and parked
 * its first claim; drains on SIGTERM. Their tasks are no-ops.
 */

import { HttpTransport } from '../src/worker/http.ts';
import { setMaxSocketsPerHost } from '../src/worker/http-client.ts';
import { Worker } from '../src/worker/worker.ts';
import { noopBackend } from './noop.ts';

const [apiUrl, count] = [process.argv[2]!, Number(process.argv[3] ?? 1000)];
setMaxSocketsPerHost(count + 16);
const quiet = { info() {}, warn() {}, error() {} };
const workers = Array.from(
  { length: count },
  (_, i) =>
    new Worker({
      id: `worker-${String(i).padStart(3, '0')}-kind`, // WORKER_ID_PATTERN allows 1,000 ids
      backend: noopBackend,
      transport: new HttpTransport(apiUrl),
      maxParallel: 1,
      pollIntervalMs: 20_000,
      heartbeatIntervalMs: 10_000,
      dataDir: process.env.BENCH_DATA_DIR ?? '/tmp/task-executor-bench',
      logger: quiet,
    }),
);
// Registered a few at a time, as a fleet coming up would be (not 1,000 at one instant).
for (let i = 0; i < workers.length; i += 50)
  await Promise.all(workers.slice(i, i + 50).map((w) => w.start()));
console.log('ready');
process.once('SIGTERM', async () => {
  await Promise.all(workers.map((w) => w.stop(1000)));
  process.exit(0);
});
