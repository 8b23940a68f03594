/**
 * Child process of the feed bench: argv[3] SSE clients of the stream at argv[2], each counting
 * trajectory events until it has argv[4] of them (or argv[5] ms pass). A process apart from the
 * server's, as real trainers would be: clients in the server's own event loop compete with the
 * server they measure, and after a heavy run they read their sockets hundreds of ms late
 * (bytes sit in the kernel's receive queue), which would be counted as feed lag.
 * Prints "ready" once every stream is open; with argv[6] = "arrivals", "at <task id> <ms>" for
 * each event, in ms of the wall clock both processes share (performance.timeOrigin + now());
 * then "done <fewest> <most> <ms>" with the time of the last client's last event, or
 * "error <message>". Times travel as data, not as the moment a line is read: the parent's own
 * reading of the pipe may be late.
 */
import { subscribe } from './feed-client.ts';

const [url, count, events, deadlineMs, mode] = [
  process.argv[2]!,
  Number(process.argv[3]),
  Number(process.argv[4]),
  Number(process.argv[5]),
  process.argv[6],
];

const wall = (at: number) => (performance.timeOrigin + at).toFixed(3);
const onTrajectory =
  mode === 'arrivals'
    ? (data: { task: { id: string } }, at: number) => process.stdout.write(`at ${data.task.id} ${wall(at)}\n`)
    : undefined;

try {
  const clients = await Promise.all(Array.from({ length: count }, () => subscribe(url, onTrajectory)));
  console.log('ready');
  await Promise.all(clients.map((c) => c.reach(events, deadlineMs)));
  const counts = clients.map((c) => c.count);
  const last = Math.max(...clients.map((c) => c.lastAt));
  console.log(`done ${Math.min(...counts)} ${Math.max(...counts)} ${wall(last)}`);
  for (const c of clients) c.close();
  process.exit(0);
} catch (err) {
  console.log(`error ${(err as Error).message}`);
  process.exit(1);
}
