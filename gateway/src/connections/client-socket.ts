/**
 * One client connection: the `ws` socket itself, subclassed so its protocol
 * state lives in the same object (no side table, no closure per socket).
 * Its life (states, holding live entries for replay, activity, limits) is
 * the session's (session/); this class sends and closes.
 */
import type { LogId } from '../conversation-log/log-id.ts';
import { WebSocket } from 'ws';
import type { LogOrder } from '../delivery/log-order.ts';
import type { RegistrationToken } from '../registry/registry.ts';
import { closing, isClosing, SessionState, type HeldEntry, type SessionFields } from '../session/session.ts';
import { corkUntilTurnEnds, whenDrained, writeRaw } from '../session/raw-socket.ts';
import { TextFrame } from './text-frame.ts';

/** What handles a socket's events (session/lifecycle.ts); one shared instance, referenced from each socket. */
export interface SocketOwner {
  /** Unsent bytes a socket may queue (`SEND_BUFFER_MAX_BYTES`) before it is closed as a slow consumer. */
  readonly sendBufferMaxBytes: number;
  onFrame(socket: ClientSocket, data: Buffer, isBinary: boolean): void;
  onClose(socket: ClientSocket, code: number): void;
  /** The socket's send buffer passed the cap; the owner closes it. */
  onSlowConsumer(socket: ClientSocket): void;
  /** The socket was answered RATE_LIMIT_EXCEEDED; the owner counts it and closes the socket after too many. */
  onRateLimited(socket: ClientSocket, now: number): void;
}

export class ClientSocket extends WebSocket implements SessionFields {
  owner: SocketOwner | null = null;
  userId = '';
  deviceId = '';
  /** Where this socket is in its life (session/session.ts moves it on). */
  state: SessionState = SessionState.Opening;
  /** Live entries waiting for replay, from joining the hub until replay is done (session/session.ts). */
  held: HeldEntry[] | null = null;
  lastSeen = 0;
  /** Heartbeat wheel slot this socket sits in, or -1. */
  wheelSlot = -1;
  violations = 0;
  violationsSince = 0;
  frames = 0;
  framesSince = 0;
  /** When the socket's token expires (ms since epoch), and the expiry sweep's bucket it sits in, or -1. */
  expiresAt = 0;
  expirySlot = -1;
  registration: RegistrationToken | null = null;
  /** Per log this socket was given entries of: its position and early arrivals (delivery/log-order.ts). */
  logs: Map<LogId, LogOrder> | null = null;
  /** Set while this socket's writes are held back until the end of the event-loop turn. */
  corked = false;

  /** The gateway is closing the socket, or it closed: nothing more is sent or started for it. */
  get closing(): boolean {
    return isClosing(this);
  }

  get key(): string {
    return `${this.userId}/${this.deviceId}`;
  }

  /**
   * Sends a text frame unless the socket is closing. Every frame the gateway
   * writes passes here, so the send-buffer cap holds for all of them: a
   * client that never reads and sends tiny frames would otherwise grow the
   * gateway by its replies. False when not sent.
   */
  sendText(text: string | TextFrame): boolean {
    if (isClosing(this) || this.readyState !== WebSocket.OPEN) return false;
    const owner = this.owner;
    if (owner !== null && this.bufferedAmount > owner.sendBufferMaxBytes) {
      owner.onSlowConsumer(this);
      return false;
    }
    this.writeFrame(text);
    return true;
  }

  private writeFrame(text: string | TextFrame): void {
    if (!this.corked) corkUntilTurnEnds(this);
    writeRaw(this, (typeof text === 'string' ? TextFrame.of(text) : text).wire);
  }

  /** Resolves once the kernel buffer has room again (at once if it has), or the socket closes. */
  drained(): Promise<void> {
    return whenDrained(this);
  }

  /** Sends an error frame, then closes with `code` once the frame is queued. */
  closeWith(code: number, reason: string, errorFrame?: string): void {
    if (!closing(this)) return;
    // The last frame goes out past the cap: one bounded frame tells the client why.
    if (errorFrame !== undefined && this.readyState === WebSocket.OPEN) this.writeFrame(errorFrame);
    // A socket refused before it was set up is still paused; it must read the close reply.
    if (this.isPaused) this.resume();
    if (this.readyState === WebSocket.OPEN || this.readyState === WebSocket.CONNECTING) {
      // Close reasons are capped at 123 bytes by RFC 6455 (`ws` throws beyond that).
      this.close(code, utf8Prefix(reason, 123));
    }
  }
}

/** At most `max` UTF-8 bytes of `text`, cut before a character rather than inside one. */
function utf8Prefix(text: string, max: number): string {
  const bytes = Buffer.from(text);
  if (bytes.length <= max) return text;
  let end = max;
  // 10xxxxxx is a continuation byte: back up to the start of the character it belongs to.
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString();
}
