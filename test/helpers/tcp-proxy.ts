/**
 * A TCP proxy on 127.0.0.1 that breaks connections on demand, to test clients that must
 * survive it: drop every connection, cut the next event frame in half then drop, or refuse
 * new connections (accept and close at once, as a restarting server looks to a client), or
 * hold each response after its first bytes (a stalled server) until released.
 */

import type { AddressInfo } from 'node:net';
import { connect, createServer, type Socket } from 'node:net';

export interface TcpProxy {
  url: string;
  /** Connections accepted and forwarded. */
  readonly forwarded: number;
  /** Connections closed at once while refusing. */
  readonly refused: number;
  /** Frames cut in half so far. */
  readonly cuts: number;
  dropAll(): void;
  /** The next server chunk holding an event's data is forwarded only in part, then both sides drop. */
  cutNextFrame(): void;
  refuse(on: boolean): void;
  /**
   * Each connection forwards only its first `bytes` from the server, then stalls (the server
   * is paused, nothing is lost); null lets everything through again, stalled ones included.
   */
  holdAfter(bytes: number | null): void;
  close(): Promise<void>;
}

export async function startTcpProxy(target: string): Promise<TcpProxy> {
  const port = Number(new URL(target).port);
  const pairs = new Set<[Socket, Socket]>();
  const state = {
    forwarded: 0,
    refused: 0,
    cuts: 0,
    refusing: false,
    cutPending: false,
    holdAfter: null as number | null,
  };
  /** Stalled connections: the part of a chunk past the budget, and how to let it go. */
  const held = new Map<Socket, () => void>();

  const destroyPair = (pair: [Socket, Socket]) => {
    held.delete(pair[1]);
    pair[0].destroy();
    pair[1].destroy();
    pairs.delete(pair);
  };

  const server = createServer((client) => {
    if (state.refusing) {
      state.refused++;
      client.destroy();
      return;
    }
    state.forwarded++;
    const upstream = connect(port, '127.0.0.1');
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    client.pipe(upstream);
    let sent = 0;
    const forward = (chunk: Buffer) => {
      sent += chunk.length;
      client.write(chunk);
    };
    upstream.on('data', (chunk: Buffer) => {
      if (state.holdAfter !== null && sent + chunk.length > state.holdAfter) {
        const room = Math.max(0, state.holdAfter - sent);
        if (room > 0) forward(chunk.subarray(0, room));
        const rest = chunk.subarray(room);
        upstream.pause();
        held.set(upstream, () => {
          forward(rest);
          upstream.resume();
        });
        return;
      }
      sent += chunk.length;
      const at = state.cutPending ? chunk.indexOf('data: ') : -1;
      if (at < 0) {
        client.write(chunk);
        return;
      }
      state.cutPending = false;
      state.cuts++;
      // Through the field name and a few bytes of the JSON: the frame never ends.
      client.write(chunk.subarray(0, at + 10), () => destroyPair(pair));
    });
    for (const s of pair) {
      s.on('error', () => destroyPair(pair));
      s.on('close', () => destroyPair(pair));
    }
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port: own } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${own}`,
    get forwarded() {
      return state.forwarded;
    },
    get refused() {
      return state.refused;
    },
    get cuts() {
      return state.cuts;
    },
    dropAll() {
      for (const pair of [...pairs]) destroyPair(pair);
    },
    cutNextFrame() {
      state.cutPending = true;
    },
    refuse(on) {
      state.refusing = on;
    },
    holdAfter(bytes) {
      state.holdAfter = bytes;
      if (bytes !== null) return;
      for (const [socket, release] of [...held]) {
        held.delete(socket);
        if (!socket.destroyed) release();
      }
    },
    close() {
      state.refusing = true;
      for (const pair of [...pairs]) destroyPair(pair);
      return new Promise<void>((done) => server.close(() => done()));
    },
  };
}
