/**
 * The token behind each open socket holds for the socket's whole life: at its
 * `exp` the socket gets TOKEN_EXPIRED and close 4003, unless the client sent
 * a `refresh_token` frame first with a newer token for the same user and
 * device. One sweep serves every socket (connections/expiry-sweep.ts).
 */
import type { ClientSocket } from '../connections/client-socket.ts';
import { ExpirySweep } from '../connections/expiry-sweep.ts';
import type { GatewayMetrics } from '../observability/metrics.ts';
import { encodeError, encodeRefreshTokenResponse } from '../protocol/encode.ts';
import { CloseCode, ErrorCode, GatewayError } from '../protocol/errors.ts';
import type { TokenVerifier } from './verifier.ts';

export class SocketTokens {
  private readonly verifier: TokenVerifier;
  private readonly metrics: GatewayMetrics;
  private readonly sweep: ExpirySweep<ClientSocket>;

  constructor(verifier: TokenVerifier, metrics: GatewayMetrics) {
    this.verifier = verifier;
    this.metrics = metrics;
    this.sweep = new ExpirySweep<ClientSocket>((socket) => this.expire(socket));
  }

  start(): void {
    this.sweep.start();
  }

  stop(): void {
    this.sweep.stop();
  }

  /** From the socket's open on: it lives until `expiresAt` unless refreshed. */
  track(socket: ClientSocket, expiresAt: number): void {
    this.sweep.set(socket, expiresAt);
  }

  untrack(socket: ClientSocket): void {
    this.sweep.remove(socket);
  }

  /** Sockets tracked; tests read it to see closed sockets leave. */
  get size(): number {
    return this.sweep.size;
  }

  /**
   * A `refresh_token` frame: verified like the connect token. Refused (an
   * `error` frame, the socket keeping its old expiry) when invalid or for
   * another user or device; answered `refresh_token_response` otherwise.
   */
  async refresh(socket: ClientSocket, token: string): Promise<void> {
    let identity;
    try {
      identity = await this.verifier.verify(token);
    } catch (err) {
      const refused = err instanceof GatewayError ? err : new GatewayError(ErrorCode.AUTH_FAILED);
      socket.sendText(encodeError(refused.code, { message: `token not refreshed: ${refused.message}` }, Date.now()));
      return;
    }
    if (identity.userId !== socket.userId || identity.deviceId !== socket.deviceId) {
      socket.sendText(encodeError(ErrorCode.AUTH_FAILED, {
        message: 'token not refreshed: it is for another user or device than this socket',
      }, Date.now()));
      return;
    }
    // Closed or expired while the token was being verified: nothing to extend.
    if (socket.expirySlot < 0 || socket.closing) return;
    this.sweep.set(socket, identity.expiresAt);
    socket.sendText(encodeRefreshTokenResponse(identity.expiresAt, Date.now()));
  }

  private expire(socket: ClientSocket): void {
    this.metrics.connectionErrors.inc({ code: ErrorCode.TOKEN_EXPIRED });
    socket.closeWith(CloseCode.TOKEN_EXPIRED, ErrorCode.TOKEN_EXPIRED, encodeError(ErrorCode.TOKEN_EXPIRED, {
      message: `token expired at ${new Date(socket.expiresAt).toISOString()}; send refresh_token before exp to keep the socket`,
    }, Date.now()));
  }
}
