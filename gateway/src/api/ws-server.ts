/**
 * The `/ws` endpoint: path, origin, capacity and token, then the upgrade.
 * What follows is the socket's session (session/lifecycle.ts). Auth
 * failures still complete the upgrade so that browsers, which cannot read an
 * HTTP status, learn the error code from an `error` frame and the close code.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { TokenVerifier, Identity } from '../auth/verifier.ts';
import { selectProtocol, tokenFromRequest } from '../auth/token-source.ts';
import { ClientSocket } from '../connections/client-socket.ts';
import type { Hub } from '../connections/hub.ts';
import type { GatewayMetrics } from '../observability/metrics.ts';
import { ErrorCode, GatewayError } from '../protocol/errors.ts';
import type { SessionLifecycle } from '../session/lifecycle.ts';

export interface WsServerOptions {
  maxConnections: number;
  maxFrameBytes: number;
  /** Undefined or containing '*': any origin. */
  allowedOrigins: string[] | undefined;
}

export interface WsServerParts {
  verifier: TokenVerifier;
  hub: Hub;
  lifecycle: SessionLifecycle;
  metrics: GatewayMetrics;
}

export class WsServer {
  private readonly options: WsServerOptions;
  private readonly parts: WsServerParts;
  private readonly wss: WebSocketServer;
  private readonly origins: Set<string> | null;
  /** Upgrades under way (token being verified): counted against the connection cap. */
  private upgrading = 0;
  private draining = false;

  constructor(options: WsServerOptions, parts: WsServerParts) {
    this.options = options;
    this.parts = parts;
    const origins = options.allowedOrigins;
    this.origins = origins === undefined || origins.includes('*') ? null : new Set(origins.map(normalizeOrigin));
    this.wss = new WebSocketServer({
      noServer: true,
      WebSocket: ClientSocket,
      clientTracking: false,
      perMessageDeflate: false,
      maxPayload: options.maxFrameBytes,
      handleProtocols: selectProtocol,
    });
  }

  /** Stop accepting sockets: upgrades get 503 from now on. */
  refuseNew(): void {
    this.draining = true;
  }

  close(): void {
    this.wss.close();
  }

  /** The HTTP server's 'upgrade' listener. */
  handleUpgrade(req: IncomingMessage, raw: Duplex, head: Buffer): void {
    const path = req.url?.split('?', 1)[0];
    if (path !== '/ws') return rejectHttp(raw, 404, 'Not Found');
    if (this.draining) return rejectHttp(raw, 503, 'Service Unavailable: node is draining');
    if (this.origins !== null && req.headers.origin !== undefined && !this.originAllowed(req.headers.origin)) {
      this.parts.metrics.connectionErrors.inc({ code: 'ORIGIN_NOT_ALLOWED' });
      return rejectHttp(raw, 403, 'Forbidden: origin not allowed');
    }
    this.upgrading++;
    const atCapacity = this.parts.hub.size + this.upgrading > this.options.maxConnections;
    const verified = atCapacity
      ? Promise.reject(new GatewayError(ErrorCode.MAX_CONNECTIONS_EXCEEDED))
      : this.parts.verifier.verify(tokenFromRequest(req));
    verified.then(
      (identity) => this.upgrade(req, raw, head, identity, null),
      (err: unknown) => this.upgrade(req, raw, head, null, err instanceof GatewayError ? err : new GatewayError(ErrorCode.AUTH_FAILED)),
    );
  }

  private upgrade(req: IncomingMessage, raw: Duplex, head: Buffer, identity: Identity | null, error: GatewayError | null): void {
    // handleUpgrade completes synchronously (or drops a dead socket), so the count ends here.
    this.upgrading--;
    this.wss.handleUpgrade(req, raw, head, (ws) => {
      const socket = ws as ClientSocket;
      socket.on('error', onSocketError);
      // Frames sent right after the handshake wait in the kernel until the
      // socket is registered and listening; without this they would be dropped.
      socket.pause();
      if (identity === null) this.parts.lifecycle.refuse(socket, error ?? new GatewayError(ErrorCode.AUTH_FAILED));
      else this.parts.lifecycle.open(socket, identity);
    });
  }

  private originAllowed(origin: string): boolean {
    // An origin is a scheme, a host and a port; anything longer is not one, and is not looked at further.
    return origin.length <= MAX_ORIGIN_LENGTH && this.origins!.has(normalizeOrigin(origin));
  }
}

function onSocketError(this: WebSocket): void {
  // `ws` closes the socket itself (e.g. 1009 for an oversized frame); 'close' follows.
}

function rejectHttp(raw: Duplex, status: number, text: string): void {
  raw.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`);
}

/** Scheme, `://`, a host of at most 253 characters and a port fit well within this. */
const MAX_ORIGIN_LENGTH = 512;

/**
 * Linear in the length: the regex /\/+$/ it replaces backtracked on every
 * run of slashes (quadratic: a 15 KB Origin held the event loop ~83 ms).
 */
export function normalizeOrigin(origin: string): string {
  const trimmed = origin.trim();
  let end = trimmed.length;
  while (end > 0 && trimmed.charCodeAt(end - 1) === 0x2f) end--;
  return trimmed.slice(0, end).toLowerCase();
}
