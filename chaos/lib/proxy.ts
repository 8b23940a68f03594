/**
 * A TCP proxy between the API and PostgreSQL that can go half-open: while `blackhole` is on
 * it keeps every socket open (and accepts new ones) but forwards nothing, silently dropping
 * the bytes in both directions — what a dead NAT entry, a partitioned link or a frozen peer
 * looks like from a client. `resume` forwards again (connections whose bytes were dropped
 * stay broken at the protocol level, as they would in real life).
 */
import net from 'node:net';

export class HalfOpenProxy {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  private holed = false;
  port = 0;
  dropped = 0;
  connections = 0;

  constructor(private readonly targetPort: number) {}

  async listen(): Promise<number> {
    this.server = net.createServer((client) => this.accept(client));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    const a = this.server.address();
    this.port = typeof a === 'object' && a ? a.port : 0;
    return this.port;
  }

  private accept(client: net.Socket): void {
    this.connections++;
    const upstream = net.connect(this.targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
      s.on('error', () => {});
    }
    const pipe = (from: net.Socket, to: net.Socket) =>
      from.on('data', (d: Buffer) => {
        if (this.holed) this.dropped += d.length;
        else to.write(d);
      });
    pipe(client, upstream);
    pipe(upstream, client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  }

  blackhole(): void {
    this.holed = true;
  }

  resume(): void {
    this.holed = false;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
