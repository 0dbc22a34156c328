/**
 * The one place that reaches into `ws` internals: `_socket`, the net.Socket
 * a WebSocket writes to. `ws` offers no public way to batch writes across
 * frames, to write a frame built once for many sockets, or to wait for the
 * kernel buffer to drain, and all three are on the gateway's hot path.
 */
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';

/** A WebSocket that notes whether its writes are held back until the end of the event-loop turn. */
export interface Corkable extends WebSocket {
  corked: boolean;
}

/** The net.Socket under a WebSocket; undefined before the handshake and after `ws` let go of it. */
export function rawSocket(ws: WebSocket): Socket | undefined {
  return (ws as unknown as { _socket?: Socket })._socket;
}

/**
 * Frames written to one socket within an event-loop turn (a message and the
 * ack of the one before it, a burst of acks read in one chunk) leave in one
 * writev: `ws` corks around each frame only, and a syscall per frame was most
 * of a message's cost. One shared list and one setImmediate for every socket.
 */
const corkedSockets: Corkable[] = [];

export function corkUntilTurnEnds(ws: Corkable): void {
  const raw = rawSocket(ws);
  if (raw === undefined) return;
  raw.cork();
  ws.corked = true;
  if (corkedSockets.push(ws) === 1) setImmediate(uncorkAll);
}

function uncorkAll(): void {
  for (const ws of corkedSockets) {
    ws.corked = false;
    rawSocket(ws)?.uncork();
  }
  corkedSockets.length = 0;
}

/**
 * Writes a frame built by the gateway (connections/text-frame.ts) to the
 * socket under `ws`, where `ws` would write it. Safe because the server runs
 * without permessage-deflate (api/ws-server.ts) and never sends Blobs: `ws`
 * then queues nothing of its own, so this write keeps its place among the
 * frames `ws` writes (pings, close), and `bufferedAmount` counts it.
 */
export function writeRaw(ws: WebSocket, wire: Buffer): void {
  rawSocket(ws)?.write(wire);
}

/** Resolves once the kernel buffer has room again (at the next turn if it has), or the socket closes. */
export function whenDrained(ws: WebSocket): Promise<void> {
  const raw = rawSocket(ws);
  if (raw === undefined || !raw.writableNeedDrain) return new Promise((resolve) => setImmediate(resolve));
  return new Promise((resolve) => {
    const done = (): void => {
      raw.off('drain', done);
      ws.off('close', done);
      resolve();
    };
    raw.once('drain', done);
    ws.once('close', done);
  });
}
