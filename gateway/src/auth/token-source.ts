/**
 * Finds the JWT in an upgrade request. Browsers cannot set headers on a
 * WebSocket, so besides `Authorization: Bearer` the token may come as a
 * `Sec-WebSocket-Protocol` entry `bearer.<jwt>` or as `?token=`.
 */
import type { IncomingMessage } from 'node:http';

/** The subprotocol the gateway speaks; echoed back when the client offers it. */
export const SUBPROTOCOL = 'im-gateway.v1';
const PROTOCOL_TOKEN_PREFIX = 'bearer.';

export function tokenFromRequest(req: IncomingMessage): string | undefined {
  const header = req.headers.authorization;
  if (header !== undefined) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (match) return match[1];
  }
  for (const protocol of offeredProtocols(req)) {
    if (protocol.startsWith(PROTOCOL_TOKEN_PREFIX)) return protocol.slice(PROTOCOL_TOKEN_PREFIX.length);
  }
  const query = req.url?.indexOf('?') ?? -1;
  if (query >= 0) {
    const token = new URLSearchParams(req.url!.slice(query + 1)).get('token');
    if (token) return token;
  }
  return undefined;
}

export function offeredProtocols(req: IncomingMessage): string[] {
  const header = req.headers['sec-websocket-protocol'];
  if (header === undefined) return [];
  return header.split(',').map((p) => p.trim()).filter((p) => p !== '');
}

/** Picks the subprotocol to answer with: never the token entry. */
export function selectProtocol(offered: Set<string>): string | false {
  return offered.has(SUBPROTOCOL) ? SUBPROTOCOL : false;
}
