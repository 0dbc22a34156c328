/**
 * Dispatches one inbound WebSocket frame: parse and validate, then heartbeat,
 * send_msg, ack or refresh_token. Every failure answers with an `error` frame
 * carrying the spec's code. The socket's activity, frame rate and rate-limit
 * violations are its session's (session/lifecycle.ts): frames reach here
 * once counted, and a RATE_LIMIT_EXCEEDED answer is reported back there.
 */
import type { SocketTokens } from '../auth/socket-tokens.ts';
import type { ClientSocket } from '../connections/client-socket.ts';
import type { Messenger } from '../messaging/messenger.ts';
import type { Receipts } from '../messaging/receipts.ts';
import type { FrameDispatch } from '../session/lifecycle.ts';
import { errorText, type Logger } from '../observability/logger.ts';
import { encodeAck, encodeError, encodeHeartbeatResponse } from '../protocol/encode.ts';
import { ErrorCode, GatewayError } from '../protocol/errors.ts';
import { parseClientFrame } from '../protocol/validate.ts';

export class FrameHandler implements FrameDispatch {
  private readonly messenger: Messenger;
  private readonly receipts: Receipts;
  private readonly log: Logger;
  private readonly tokens: SocketTokens;

  constructor(messenger: Messenger, receipts: Receipts, tokens: SocketTokens, log: Logger) {
    this.messenger = messenger;
    this.receipts = receipts;
    this.tokens = tokens;
    this.log = log;
  }

  route(socket: ClientSocket, data: Buffer, isBinary: boolean, now: number): void {
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

  private fail(socket: ClientSocket, err: unknown, msgId: string): void {
    const now = Date.now();
    if (!(err instanceof GatewayError)) {
      // A backend failed: the sender gets no ack and retries with the same msg_id.
      this.log.error('frame_failed', { user_id: socket.userId, msg_id: msgId, error: errorText(err) });
      socket.sendText(encodeError(ErrorCode.SERVICE_UNAVAILABLE, { msgId, message: 'Service unavailable: retry with the same msg_id' }, now));
      return;
    }
    socket.sendText(encodeError(err.code, { msgId, message: err.message, sequenceNumber: err.sequenceNumber }, now));
    if (err.code === ErrorCode.RATE_LIMIT_EXCEEDED) socket.owner?.onRateLimited(socket, now);
  }
}
