/**
 * A TCP proxy in front of gateway nodes that sends each new connection to the
 * first node whose `/ready` answers 200, as a Kubernetes Service sends new
 * connections only to ready pods. A draining node fails `/ready`, so a page
 * that reconnects through the proxy lands on another node.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { LOOPBACK } from '../../e2e/infra/net.ts';

export interface Backend {
  httpUrl: string;
  httpPort: number;
}

export class ServiceProxy {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly backends: Backend[];
  port = 0;

  private constructor(backends: Backend[]) {
    this.backends = backends;
    this.server = createServer((client) => void this.route(client));
  }

  static async start(backends: Backend[]): Promise<ServiceProxy> {
    const proxy = new ServiceProxy(backends);
    await new Promise<void>((resolve) => proxy.server.listen(0, LOOPBACK, resolve));
    proxy.port = (proxy.server.address() as { port: number }).port;
    return proxy;
  }

  get url(): string {
    return `http://${LOOPBACK}:${this.port}`;
  }

  private async route(client: Socket): Promise<void> {
    this.track(client);
    client.pause();
    const backend = await this.firstReady();
    if (backend === undefined || client.destroyed) return void client.destroy();
    const upstream = connect(backend.httpPort, LOOPBACK);
    this.track(upstream);
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.on('close', () => upstream.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
    client.resume();
  }

  private async firstReady(): Promise<Backend | undefined> {
    for (const backend of this.backends) {
      const ready = await fetch(`${backend.httpUrl}/ready`, { signal: AbortSignal.timeout(1000) }).then((r) => r.ok, () => false);
      if (ready) return backend;
    }
    return undefined;
  }

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
