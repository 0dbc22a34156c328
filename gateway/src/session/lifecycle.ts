/**
 * Takes each socket of this node through its life (session.ts has the
 * states): refused at auth, or admitted past the device limit into the hub,
 * the heartbeat wheel and the expiry sweep, registered, auth_response, replay
 * with live entries held, then live; each frame's activity and frame rate,
 * rate-limit violations, slow consumers, heartbeat timeouts, and close. One
 * shared instance is every socket's owner; its listeners are shared
 * functions where `this` is the socket, so a socket costs no closure here.
 */
import type { WebSocket } from 'ws';
import type { SocketTokens } from '../auth/socket-tokens.ts';
import type { Identity } from '../auth/verifier.ts';
import { ClientSocket, type SocketOwner } from '../connections/client-socket.ts';
import { HeartbeatWheel } from '../connections/heartbeat-wheel.ts';
import type { Hub } from '../connections/hub.ts';
import type { ConnectionControl } from '../delivery/connection-control.ts';
import type { Replayer } from '../delivery/replay.ts';
import type { GatewayMetrics } from '../observability/metrics.ts';
import { errorText, type Logger } from '../observability/logger.ts';
import { encodeAuthResponse, encodeError } from '../protocol/encode.ts';
import { closeCodeFor, CloseCode, ErrorCode, type GatewayError } from '../protocol/errors.ts';
import type { Registry } from '../registry/registry.ts';
import { admit, closed, countFrame, countViolation, isClosing, registered } from './session.ts';

export interface LifecycleOptions {
  nodeId: string;
  grpcAddress: string;
  maxDevicesPerUser: number;
  sendBufferMaxBytes: number;
  heartbeatTimeoutMs: number;
  /** Frames of any type one socket may send per second (MAX_FRAMES_PER_SECOND). */
  maxFramesPerSecond: number;
  rateLimitWindowMs: number;
  rateLimitMaxViolations: number;
}

/** Dispatches a frame of an open socket (api/frame-handler.ts). */
export interface FrameDispatch {
  route(socket: ClientSocket, data: Buffer, isBinary: boolean, now: number): void;
}

export interface LifecycleParts {
  tokens: SocketTokens;
  hub: Hub;
  registry: Registry;
  control: ConnectionControl;
  frames: FrameDispatch;
  replayer: Replayer;
  metrics: GatewayMetrics;
  log: Logger;
}

export class SessionLifecycle implements SocketOwner {
  private readonly options: LifecycleOptions;
  private readonly parts: LifecycleParts;
  private readonly wheel: HeartbeatWheel<ClientSocket>;
  readonly sendBufferMaxBytes: number;

  constructor(options: LifecycleOptions, parts: LifecycleParts) {
    this.options = options;
    this.parts = parts;
    this.sendBufferMaxBytes = options.sendBufferMaxBytes;
    this.wheel = new HeartbeatWheel<ClientSocket>(options.heartbeatTimeoutMs, (socket) => this.expire(socket));
    this.wheel.start();
    parts.tokens.start();
  }

  close(): void {
    this.wheel.stop();
    this.parts.tokens.stop();
  }

  /**
   * Opening -> Closing: the upgrade's token was refused (or the node is at
   * capacity). Browsers cannot read an HTTP status, so the code comes in an
   * `error` frame and the close code.
   */
  refuse(socket: ClientSocket, error: GatewayError): void {
    this.parts.metrics.connectionErrors.inc({ code: error.code });
    socket.closeWith(closeCodeFor(error.code), error.code, encodeError(error.code, { message: error.message }, Date.now()));
  }

  /** An upgraded socket with a verified token (Opening): runs it up to Live, or closes it. */
  open(socket: ClientSocket, identity: Identity): void {
    this.setUp(socket, identity).catch((err: unknown) => {
      this.parts.log.error('connection_open_failed', { user_id: identity.userId, error: errorText(err) });
      this.parts.metrics.connectionErrors.inc({ code: ErrorCode.SERVICE_UNAVAILABLE });
      socket.closeWith(CloseCode.SERVICE_UNAVAILABLE, 'service unavailable', encodeError(ErrorCode.SERVICE_UNAVAILABLE, {}, Date.now()));
    });
  }

  private async setUp(socket: ClientSocket, identity: Identity): Promise<void> {
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
    socket.lastSeen = now;
    socket.owner = this;
    socket.on('message', onSocketMessage);
    socket.on('close', onSocketClose);
    // From here live entries reach the socket: they wait for its replay, after auth_response.
    if (!admit(socket)) return;
    const replaced = hub.add(socket);
    if (replaced !== undefined) {
      replaced.closeWith(CloseCode.REPLACED, 'replaced by a newer connection of the same device');
    }
    this.wheel.add(socket);
    this.parts.tokens.track(socket, identity.expiresAt);
    const token = await registry.register({ userId, deviceId, node: this.options.nodeId, grpc: this.options.grpcAddress, connectedAt: now });
    if (!registered(socket)) {
      // Closed, replaced or expired while registering: its close handler had no token to remove.
      await registry.unregister(userId, deviceId, token);
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
    // Frames still in flight when the gateway closed the socket get no answer and do no work.
    if (isClosing(socket)) return;
    const now = Date.now();
    if (countFrame(socket, now, this.options.maxFramesPerSecond)) {
      this.parts.frames.route(socket, data, isBinary, now);
      return;
    }
    // Every frame costs a parse and most a reply or a store call, so a flood
    // of cheap ones (50,000 heartbeats in 0.2 s) would otherwise take the
    // event loop from every other socket.
    this.parts.metrics.connectionErrors.inc({ code: ErrorCode.RATE_LIMIT_EXCEEDED });
    socket.closeWith(CloseCode.RATE_LIMIT_EXCEEDED, 'too many frames per second', encodeError(ErrorCode.RATE_LIMIT_EXCEEDED, {
      message: `more than ${this.options.maxFramesPerSecond} frames in one second`,
    }, now));
  }

  onRateLimited(socket: ClientSocket, now: number): void {
    if (!countViolation(socket, now, this.options.rateLimitWindowMs, this.options.rateLimitMaxViolations)) return;
    this.parts.metrics.connectionErrors.inc({ code: ErrorCode.RATE_LIMIT_EXCEEDED });
    socket.closeWith(CloseCode.RATE_LIMIT_EXCEEDED, 'rate limit exceeded repeatedly');
  }

  onSlowConsumer(socket: ClientSocket): void {
    this.parts.metrics.connectionErrors.inc({ code: 'SLOW_CONSUMER' });
    socket.closeWith(CloseCode.SLOW_CONSUMER, 'slow consumer: send buffer full');
  }

  onClose(socket: ClientSocket): void {
    closed(socket);
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
