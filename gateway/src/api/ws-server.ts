/**
 * The `/ws` endpoint: upgrade (origin, capacity, token), then the socket's
 * life on this node (registry, hub, heartbeat wheel, replay, close). Auth
 * failures still complete the upgrade so that browsers, which cannot read an
 * HTTP status, learn the error code from an `error` frame and the close code.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { SocketTokens } from '../auth/socket-tokens.ts';
import type { TokenVerifier, Identity } from '../auth/verifier.ts';
import { selectProtocol, tokenFromRequest } from '../auth/token-source.ts';
import { ClientSocket, type SocketOwner } from '../connections/client-socket.ts';
import { HeartbeatWheel } from '../connections/heartbeat-wheel.ts';
import type { Hub } from '../connections/hub.ts';
import type { ConnectionControl } from '../delivery/connection-control.ts';
import type { Replayer } from '../delivery/replay.ts';
import type { Registry } from '../registry/registry.ts';
import type { GatewayMetrics } from '../observability/metrics.ts';
import { errorText, type Logger } from '../observability/logger.ts';
import { encodeAuthResponse, encodeError } from '../protocol/encode.ts';
import { closeCodeFor, CloseCode, ErrorCode, GatewayError } from '../protocol/errors.ts';
import type { FrameRouter } from './frame-router.ts';

export interface WsServerOptions {
  nodeId: string;
  grpcAddress: string;
  maxConnections: number;
  maxDevicesPerUser: number;
  maxFrameBytes: number;
  sendBufferMaxBytes: number;
  heartbeatTimeoutMs: number;
  /** Undefined or containing '*': any origin. */
  allowedOrigins: string[] | undefined;
}

export interface WsServerParts {
  verifier: TokenVerifier;
  tokens: SocketTokens;
  hub: Hub;
  registry: Registry;
  control: ConnectionControl;
  router: FrameRouter;
  replayer: Replayer;
  metrics: GatewayMetrics;
  log: Logger;
}

export class WsServer implements SocketOwner {
  private readonly options: WsServerOptions;
  private readonly parts: WsServerParts;
  private readonly wss: WebSocketServer;
  private readonly wheel: HeartbeatWheel<ClientSocket>;
  private readonly origins: Set<string> | null;
  readonly sendBufferMaxBytes: number;
  /** Upgrades under way (token being verified): counted against the connection cap. */
  private upgrading = 0;
  private draining = false;

  constructor(options: WsServerOptions, parts: WsServerParts) {
    this.options = options;
    this.parts = parts;
    this.sendBufferMaxBytes = options.sendBufferMaxBytes;
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
    this.wheel = new HeartbeatWheel<ClientSocket>(options.heartbeatTimeoutMs, (socket) => this.expire(socket));
    this.wheel.start();
    parts.tokens.start();
  }

  /** Stop accepting sockets: upgrades get 503 from now on. */
  refuseNew(): void {
    this.draining = true;
  }

  close(): void {
    this.wheel.stop();
    this.parts.tokens.stop();
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
      if (error !== null || identity === null) {
        const code = error?.code ?? ErrorCode.AUTH_FAILED;
        this.parts.metrics.connectionErrors.inc({ code });
        socket.closeWith(closeCodeFor(code), code, encodeError(code, { message: error?.message }, Date.now()));
        return;
      }
      this.open(socket, identity).catch((err: unknown) => {
        this.parts.log.error('connection_open_failed', { user_id: identity.userId, error: errorText(err) });
        this.parts.metrics.connectionErrors.inc({ code: ErrorCode.SERVICE_UNAVAILABLE });
        socket.closeWith(CloseCode.SERVICE_UNAVAILABLE, 'service unavailable', encodeError(ErrorCode.SERVICE_UNAVAILABLE, {}, Date.now()));
      });
    });
  }

  private async open(socket: ClientSocket, identity: Identity): Promise<void> {
    const { hub, registry, log } = this.parts;
    const { userId, deviceId } = identity;
    const records = await registry.devices(userId);
    const others = records.filter((d) => d.deviceId !== deviceId);
    if (others.length >= this.options.maxDevicesPerUser) {
      this.parts.metrics.connectionErrors.inc({ code: ErrorCode.DEVICE_LIMIT_EXCEEDED });
      const message = `user already has ${others.length} devices connected (limit ${this.options.maxDevicesPerUser})`;
      socket.closeWith(CloseCode.DEVICE_LIMIT_EXCEEDED, ErrorCode.DEVICE_LIMIT_EXCEEDED, encodeError(ErrorCode.DEVICE_LIMIT_EXCEEDED, { message }, Date.now()));
      return;
    }
    if (socket.readyState !== ClientSocket.OPEN) return;
    const now = Date.now();
    socket.userId = userId;
    socket.deviceId = deviceId;
    socket.connectedAt = now;
    socket.lastSeen = now;
    socket.owner = this;
    socket.on('message', onSocketMessage);
    socket.on('close', onSocketClose);
    // From here live entries reach the socket: they wait for its replay, after auth_response.
    this.parts.replayer.hold(socket);
    const replaced = hub.add(socket);
    if (replaced !== undefined) {
      replaced.closeWith(CloseCode.REPLACED, 'replaced by a newer connection of the same device');
    }
    this.wheel.add(socket);
    this.parts.tokens.track(socket, identity.expiresAt);
    const token = await registry.register({ userId, deviceId, node: this.options.nodeId, grpc: this.options.grpcAddress, connectedAt: now });
    if (hub.get(userId, deviceId) !== socket) {
      // Closed or replaced while registering: its close handler had no token to remove.
      if (socket.readyState !== ClientSocket.OPEN) await registry.unregister(userId, deviceId, token);
      return;
    }
    socket.registration = token;
    // The same device still registered on another node: close it there, it was replaced.
    for (const previous of records) {
      if (previous.deviceId === deviceId && previous.node !== this.options.nodeId) {
        this.parts.control.replaceElsewhere(previous).catch((err: unknown) => {
          log.warn('replace_elsewhere_failed', { user_id: userId, node: previous.node, error: errorText(err) });
        });
      }
    }
    log.debug('connection_opened', { user_id: userId, device_id: deviceId });
    socket.sendText(encodeAuthResponse(userId, deviceId, Date.now()));
    socket.resume();
    await this.parts.replayer.replay(socket);
  }

  onFrame(socket: ClientSocket, data: Buffer, isBinary: boolean): void {
    this.parts.router.route(socket, data, isBinary);
  }

  onClose(socket: ClientSocket): void {
    this.wheel.remove(socket);
    this.parts.tokens.untrack(socket);
    if (!this.parts.hub.remove(socket)) return;
    const token = socket.registration;
    if (token !== null) {
      this.parts.registry.unregister(socket.userId, socket.deviceId, token).catch((err: unknown) => {
        this.parts.log.warn('unregister_failed', { user_id: socket.userId, error: errorText(err) });
      });
    }
  }

  onSlowConsumer(socket: ClientSocket): void {
    this.parts.metrics.connectionErrors.inc({ code: 'SLOW_CONSUMER' });
    socket.closeWith(CloseCode.SLOW_CONSUMER, 'slow consumer: send buffer full');
  }

  private originAllowed(origin: string): boolean {
    // An origin is a scheme, a host and a port; anything longer is not one, and is not looked at further.
    return origin.length <= MAX_ORIGIN_LENGTH && this.origins!.has(normalizeOrigin(origin));
  }

  private expire(socket: ClientSocket): void {
    this.parts.metrics.connectionErrors.inc({ code: ErrorCode.HEARTBEAT_TIMEOUT });
    socket.closeWith(CloseCode.HEARTBEAT_TIMEOUT, ErrorCode.HEARTBEAT_TIMEOUT, encodeError(ErrorCode.HEARTBEAT_TIMEOUT, {
      message: `no frame for ${this.options.heartbeatTimeoutMs} ms`,
    }, Date.now()));
  }
}

// Shared listeners: `this` is the socket, so no closure is made per socket.
function onSocketMessage(this: WebSocket, data: Buffer, isBinary: boolean): void {
  const socket = this as ClientSocket;
  socket.owner?.onFrame(socket, data, isBinary);
}
function onSocketClose(this: WebSocket, code: number): void {
  const socket = this as ClientSocket;
  socket.owner?.onClose(socket, code);
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
