/**
 * Baseline: a Socket.IO server doing the ws relay's job. A socket connected
 * with `query: { id, peer }` has each `m` event re-emitted to its peer; one
 * with `query: { group }` joins that room and has each `m` event broadcast to
 * the rest of the room. WebSocket transport only, no compression, as the
 * clients are set up. `GET /stats` reports memory in the gateway's field names.
 *   PORT=8091 node bench/baselines/socketio-relay.ts
 */
import { createServer } from 'node:http';
import { Server, type Socket } from 'socket.io';

const byId = new Map<string, Socket>();

const server = createServer((req, res) => {
  // Socket.IO takes its own /socket.io/ requests before this listener sees them.
  if (req.url !== '/stats') {
    res.writeHead(404).end();
    return;
  }
  const memory = process.memoryUsage();
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ active_connections: byId.size, memory_usage_bytes: memory.rss, heap_used_bytes: memory.heapUsed }));
});

const io = new Server(server, { transports: ['websocket'], perMessageDeflate: false, serveClient: false });

io.on('connection', (socket) => {
  const query = socket.handshake.query;
  const id = String(query.id ?? '');
  const peer = typeof query.peer === 'string' ? query.peer : null;
  const group = typeof query.group === 'string' ? query.group : null;
  byId.set(id, socket);
  if (group !== null) void socket.join(group);
  socket.on('m', (data: string) => {
    if (peer !== null) byId.get(peer)?.emit('m', data);
    else if (group !== null) socket.to(group).emit('m', data);
  });
  socket.on('disconnect', () => {
    if (byId.get(id) === socket) byId.delete(id);
  });
});

server.listen(Number(process.env.PORT ?? 8091), process.env.HOST ?? '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
