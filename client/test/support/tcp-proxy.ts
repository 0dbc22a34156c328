/**
 * A TCP proxy between a client and a gateway that a test controls: it can
 * swallow the bytes of either direction (a connection that went silent) and
 * cut every connection at once (a network drop the gateway does not cause).
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export class TcpProxy {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  /** While true, bytes from the gateway to the client are dropped. */
  holdDownstream = false;
  /** While true, bytes from the client to the gateway are dropped. */
  holdUpstream = false;
  /** Connections accepted so far. */
  connections = 0;

  private constructor(targetPort: number) {
    this.server = createServer((client) => {
      this.connections++;
      const upstream = createConnection({ host: '127.0.0.1', port: targetPort });
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => {});
      }
      client.on('data', (chunk) => this.holdUpstream || upstream.write(chunk));
      upstream.on('data', (chunk) => this.holdDownstream || client.write(chunk));
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
  }

  static async start(targetPort: number): Promise<TcpProxy> {
    const proxy = new TcpProxy(targetPort);
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get wsUrl(): string {
    const address = this.server.address();
    if (address === null || typeof address === 'string') throw new Error('proxy not listening');
    return `ws://127.0.0.1:${address.port}/ws`;
  }

  /** Drops every connection without a close frame, as a broken network does. */
  cutAll(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  async stop(): Promise<void> {
    this.cutAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
