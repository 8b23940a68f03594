/**
 * The feed bench's side of its subscriber process (bench/feed-subscribers.ts): start it, wait
 * for its streams to open, collect what it reports. Its times are wall-clock ms
 * (performance.timeOrigin + now()), which both processes share.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** How long the child may take to load and open its streams. */
const START_MS = 30_000;

/** Milliseconds of the wall clock, as bench/feed-subscribers.ts reports its arrivals. */
export const wallNow = () => performance.timeOrigin + performance.now();

export interface SubscriberProcess {
  /** Wall-clock ms of the last client's last event, once every client has all of them. */
  done: Promise<number>;
  /** Per task id, when its event reached the (first) client, in wall-clock ms ("arrivals" mode). */
  arrivals: Map<string, number>;
  stop(): Promise<void>;
}

/** Starts bench/feed-subscribers.ts and resolves once its streams are open. */
export async function subscriberProcess(
  url: string,
  subscribers: number,
  n: number,
  deadlineMs: number,
  mode: 'count' | 'arrivals' = 'count',
): Promise<SubscriberProcess> {
  const script = fileURLToPath(new URL('./feed-subscribers.ts', import.meta.url));
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', script, url, String(subscribers), String(n), String(deadlineMs), mode],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const arrivals = new Map<string, number>();
  let ready: () => void = () => {};
  const started = new Promise<void>((resolve) => {
    ready = resolve;
  });
  const done = (async () => {
    for await (const line of createInterface({ input: child.stdout! })) {
      const [word, a, b, c] = line.split(' ');
      if (word === 'ready') ready();
      else if (word === 'at') arrivals.set(a!, Number(b));
      else if (word === 'error') throw new Error(`feed bench subscribers: ${line.slice(6)}`);
      else if (word === 'done') {
        if (Number(a) !== n || Number(b) !== n)
          throw new Error(`feed bench: clients received ${a}–${b} of ${n}`);
        return Number(c);
      }
    }
    throw new Error('feed bench: the subscriber process exited before its clients were done');
  })();
  // Awaited only after the finishing; until then a failure must not count as unhandled.
  done.catch(() => {});
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    }
  };
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error('feed bench: the subscribers did not connect in 30 s')),
      START_MS,
    );
  });
  try {
    await Promise.race([started, done, late]);
  } catch (err) {
    await stop();
    throw err;
  } finally {
    clearTimeout(timer);
  }
  return { done, arrivals, stop };
}
