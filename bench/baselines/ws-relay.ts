/**
 * Baseline: a bare `ws` server with no protocol logic. A socket opened with
 * `?id=A&peer=B` has each frame forwarded as is to socket B; one opened with
 * `?group=G` has each frame sent to every other socket of G. It holds sockets
 * the way a minimal `ws` application does (a closure per socket, default
 * options but for compression, which is off as in the gateway).
 * `GET /stats` reports memory in the gateway's field names.
 *   PORT=8090 node bench/baselines/ws-relay.ts
 */
import { WebSocketServer, type WebSocket } from 'ws';
import { listen, statsServer } from './stats-server.ts';

const byId = new Map<string, WebSocket>();
const groups = new Map<string, Set<WebSocket>>();

const server = statsServer(() => byId.size);

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

listen(server, 8090);
