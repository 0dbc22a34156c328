/**
 * Baseline: a Socket.IO server doing the ws relay's job. A socket connected
 * with `query: { id, peer }` has each `m` event re-emitted to its peer; one
 * with `query: { group }` joins that room and has each `m` event broadcast to
 * the rest of the room. WebSocket transport only, no compression, as the
 * clients are set up. `GET /stats` reports memory in the gateway's field names.
 *   PORT=8091 node bench/baselines/socketio-relay.ts
 */
import { Server, type Socket } from 'socket.io';
import { listen, statsServer } from './stats-server.ts';

const byId = new Map<string, Socket>();

const server = statsServer(() => byId.size);

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

listen(server, 8091);
