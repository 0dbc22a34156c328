/**
 * Baseline: a bare `ws` server with no protocol logic. A socket opened with
 * `?id=A&peer=B` has each frame forwarded as is to socket B; one opened with
 * `?group=G` has each frame sent to every other socket of G. It holds sockets
 * the way a minimal `ws` application does (a closure per socket, default
 * options but for compression, which is off as in the gateway).
 * `GET /stats` reports memory in the gateway's field names.
 *   PORT=8090 node bench/baselines/ws-relay.ts
 */
import { createServer } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';

const byId = new Map<string, WebSocket>();
const groups = new Map<string, Set<WebSocket>>();

const server = createServer((req, res) => {
  if (req.url !== '/stats') {
    res.writeHead(404).end();
    return;
  }
  const memory = process.memoryUsage();
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ active_connections: byId.size, memory_usage_bytes: memory.rss, heap_used_bytes: memory.heapUsed }));
});

const wss = new WebSocketServer({ server, perMessageDeflate: false, maxPayload: 65_536 });

wss.on('connection', (ws, req) => {
  const query = new URL(req.url ?? '/', 'http://localhost').searchParams;
  const id = query.get('id') ?? '';
  const peer = query.get('peer');
  const groupId = query.get('group');
  byId.set(id, ws);
  let group: Set<WebSocket> | undefined;
  if (groupId !== null) {
    group = groups.get(groupId) ?? new Set();
    groups.set(groupId, group);
    group.add(ws);
  }
  ws.on('message', (data, isBinary) => {
    if (peer !== null) {
      byId.get(peer)?.send(data, { binary: isBinary });
    } else if (group !== undefined) {
      for (const member of group) if (member !== ws) member.send(data, { binary: isBinary });
    }
  });
  ws.on('close', () => {
    if (byId.get(id) === ws) byId.delete(id);
    group?.delete(ws);
  });
  ws.on('error', () => {});
});

server.listen(Number(process.env.PORT ?? 8090), process.env.HOST ?? '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
