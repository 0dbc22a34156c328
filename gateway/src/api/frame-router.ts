/**
 * Dispatches one inbound WebSocket frame: parse and validate, then heartbeat,
 * send_msg, ack or refresh_token. Every failure answers with an `error` frame
 * carrying the spec's code; only repeated rate-limit violations and a flood
 * of frames close the socket.
 */
import type { SocketTokens } from '../auth/socket-tokens.ts';
import type { ClientSocket } from '../connections/client-socket.ts';
import type { Messenger } from '../messaging/messenger.ts';
import type { Receipts } from '../messaging/receipts.ts';
import type { GatewayMetrics } from '../observability/metrics.ts';
import { errorText, type Logger } from '../observability/logger.ts';
import { encodeAck, encodeError, encodeHeartbeatResponse } from '../protocol/encode.ts';
import { CloseCode, ErrorCode, GatewayError } from '../protocol/errors.ts';
import { parseClientFrame } from '../protocol/validate.ts';

export interface RouterLimits {
  rateLimitWindowMs: number;
  rateLimitMaxViolations: number;
  /** Frames of any type one socket may send per second (MAX_FRAMES_PER_SECOND). */
  maxFramesPerSecond: number;
}

export class FrameRouter {
  private readonly messenger: Messenger;
  private readonly receipts: Receipts;
  private readonly metrics: GatewayMetrics;
  private readonly log: Logger;
  private readonly limits: RouterLimits;
  private readonly tokens: SocketTokens;

  constructor(messenger: Messenger, receipts: Receipts, tokens: SocketTokens, metrics: GatewayMetrics, log: Logger, limits: RouterLimits) {
    this.messenger = messenger;
    this.receipts = receipts;
    this.tokens = tokens;
    this.metrics = metrics;
    this.log = log;
    this.limits = limits;
  }

  route(socket: ClientSocket, data: Buffer, isBinary: boolean): void {
    // Frames still in flight when the gateway closed the socket get no answer and do no work.
    if (socket.closingByServer) return;
    const now = Date.now();
    socket.lastSeen = now;
    if (this.flooding(socket, now)) return;
    if (isBinary) {
      socket.sendText(encodeError(ErrorCode.INVALID_MESSAGE_FORMAT, { message: 'binary frames are not supported; send JSON text' }, now));
      return;
    }
    const parsed = parseClientFrame(data.toString('utf8'));
    if (!parsed.ok) {
      socket.sendText(encodeError(ErrorCode.INVALID_MESSAGE_FORMAT, { message: `Invalid message format: ${parsed.problem}`, msgId: parsed.msgId }, now));
      return;
    }
    const frame = parsed.frame;
    switch (frame.type) {
      case 'heartbeat':
        socket.sendText(encodeHeartbeatResponse(now));
        return;
      case 'send_msg':
        this.messenger.send(socket, frame, now).then(
          (accepted) => socket.sendText(encodeAck(frame.msg_id, accepted.status, accepted.sequenceNumber, Date.now())),
          (err: unknown) => this.fail(socket, err, frame.msg_id),
        );
        return;
      case 'ack':
        this.receipts.acknowledge(socket, frame).catch((err: unknown) => this.fail(socket, err, frame.msg_id));
        return;
      case 'refresh_token':
        this.tokens.refresh(socket, frame.token).catch((err: unknown) => {
          this.log.error('token_refresh_failed', { user_id: socket.userId, error: errorText(err) });
        });
        return;
    }
  }

  /**
   * Counts the frame in the socket's one-second window. Past the limit the
   * socket gets RATE_LIMIT_EXCEEDED and is closed: every frame costs a parse
   * and most a reply or a store call, so a flood of cheap ones (50,000
   * heartbeats in 0.2 s) would otherwise take the event loop from every
   * other socket. Counters on the socket, no timer.
   */
  private flooding(socket: ClientSocket, now: number): boolean {
    if (now - socket.framesSince >= 1000) {
      socket.framesSince = now;
      socket.frames = 0;
    }
    if (++socket.frames <= this.limits.maxFramesPerSecond) return false;
    this.metrics.connectionErrors.inc({ code: ErrorCode.RATE_LIMIT_EXCEEDED });
    socket.closeWith(CloseCode.RATE_LIMIT_EXCEEDED, 'too many frames per second', encodeError(ErrorCode.RATE_LIMIT_EXCEEDED, {
      message: `more than ${this.limits.maxFramesPerSecond} frames in one second`,
    }, now));
    return true;
  }

  private fail(socket: ClientSocket, err: unknown, msgId: string): void {
    const now = Date.now();
    if (!(err instanceof GatewayError)) {
      // A backend failed: the sender gets no ack and retries with the same msg_id.
      this.log.error('frame_failed', { user_id: socket.userId, msg_id: msgId, error: errorText(err) });
      socket.sendText(encodeError(ErrorCode.SERVICE_UNAVAILABLE, { msgId, message: 'Service unavailable: retry with the same msg_id' }, now));
      return;
    }
    socket.sendText(encodeError(err.code, { msgId, message: err.message, sequenceNumber: err.sequenceNumber }, now));
    if (err.code === ErrorCode.RATE_LIMIT_EXCEEDED) this.countViolation(socket, now);
  }

  private countViolation(socket: ClientSocket, now: number): void {
    if (now - socket.violationsSince > this.limits.rateLimitWindowMs) {
      socket.violationsSince = now;
      socket.violations = 0;
    }
    if (++socket.violations >= this.limits.rateLimitMaxViolations) {
      this.metrics.connectionErrors.inc({ code: ErrorCode.RATE_LIMIT_EXCEEDED });
      socket.closeWith(CloseCode.RATE_LIMIT_EXCEEDED, 'rate limit exceeded repeatedly');
    }
  }
}
