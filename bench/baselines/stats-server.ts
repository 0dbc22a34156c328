/**
 * The HTTP server a baseline runs on: `GET /stats` reports its connections
 * and memory in the gateway's field names, anything else it sees is a 404
 * (the WebSocket libraries take their own requests first).
 */
import { createServer, type Server } from 'node:http';

export function statsServer(connections: () => number): Server {
  return createServer((req, res) => {
    if (req.url !== '/stats') {
      res.writeHead(404).end();
      return;
    }
    const memory = process.memoryUsage();
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ active_connections: connections(), memory_usage_bytes: memory.rss, heap_used_bytes: memory.heapUsed }));
  });
}

/** Listens on PORT and HOST (loopback by default), and exits on SIGTERM. */
export function listen(server: Server, defaultPort: number): void {
  server.listen(Number(process.env.PORT ?? defaultPort), process.env.HOST ?? '127.0.0.1');
  process.on('SIGTERM', () => process.exit(0));
}
