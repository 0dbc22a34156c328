/**
 * One client connection: the `ws` socket itself, subclassed so its protocol
 * state lives in the same object (no side table, no closure per socket).
 */
import type { LogId } from '../conversation-log/log-id.ts';
import { WebSocket } from 'ws';
import type { LogOrder } from '../delivery/log-order.ts';
import type { RegistrationToken } from '../registry/registry.ts';
import type { LogEntry } from '../conversation-log/entry.ts';

/** Live entries that arrive before a socket's replay is done (from the moment it joins the hub). */
export interface ReplayState {
  held: Array<{ log: LogId; entry: LogEntry; text: string | Buffer }>;
  /** Set when `held` overflowed: replay runs once more instead of holding more. */
  overflowed: boolean;
}

/** What handles a socket's events; one shared instance, referenced from each socket. */
export interface SocketOwner {
  /** Unsent bytes a socket may queue (`SEND_BUFFER_MAX_BYTES`) before it is closed as a slow consumer. */
  readonly sendBufferMaxBytes: number;
  onFrame(socket: ClientSocket, data: Buffer, isBinary: boolean): void;
  onClose(socket: ClientSocket, code: number): void;
  /** The socket's send buffer passed the cap; the owner closes it. */
  onSlowConsumer(socket: ClientSocket): void;
}

export class ClientSocket extends WebSocket {
  owner: SocketOwner | null = null;
  userId = '';
  deviceId = '';
  connectedAt = 0;
  /** Last time any frame arrived; the heartbeat wheel reads it. */
  lastSeen = 0;
  /** Heartbeat wheel slot this socket sits in, or -1. */
  wheelSlot = -1;
  /** Rate-limit violations in the current window, and when it started. */
  violations = 0;
  violationsSince = 0;
  /** Frames received in the current one-second window, and when it started (MAX_FRAMES_PER_SECOND). */
  frames = 0;
  framesSince = 0;
  /** When the socket's token expires (ms since epoch), and the expiry sweep's bucket it sits in, or -1. */
  expiresAt = 0;
  expirySlot = -1;
  registration: RegistrationToken | null = null;
  /** Set once the socket is being closed by the gateway; sends stop then. */
  closingByServer = false;
  /** Set from joining the hub until replay is done: live entries wait here, so none precedes auth_response. */
  replay: ReplayState | null = null;
  /** Per log this socket was given entries of: its position and early arrivals (delivery/log-order.ts). */
  logs: Map<LogId, LogOrder> | null = null;
  /** Set while this socket's writes are held back until the end of the event-loop turn. */
  corked = false;

  get key(): string {
    return `${this.userId}/${this.deviceId}`;
  }

  /**
   * Sends a text frame unless the socket is closing. Every frame the gateway
   * writes passes here, so the send-buffer cap holds for all of them: a
   * client that never reads and sends tiny frames would otherwise grow the
   * gateway by its replies. False when not sent.
   */
  sendText(text: string | Buffer): boolean {
    if (this.closingByServer || this.readyState !== WebSocket.OPEN) return false;
    const owner = this.owner;
    if (owner !== null && this.bufferedAmount > owner.sendBufferMaxBytes) {
      owner.onSlowConsumer(this);
      return false;
    }
    this.writeFrame(text);
    return true;
  }

  private writeFrame(text: string | Buffer): void {
    if (!this.corked) corkUntilTurnEnds(this);
    this.send(text, { binary: false });
  }

  /** Resolves once the kernel buffer has room again (at once if it has), or the socket closes. */
  drained(): Promise<void> {
    const raw = (this as unknown as { _socket?: NodeJS.WritableStream & { writableNeedDrain?: boolean } })._socket;
    if (raw === undefined || !raw.writableNeedDrain) return new Promise((resolve) => setImmediate(resolve));
    return new Promise((resolve) => {
      const done = (): void => {
        raw.off('drain', done);
        this.off('close', done);
        resolve();
      };
      raw.once('drain', done);
      this.once('close', done);
    });
  }

  /** Sends an error frame, then closes with `code` once the frame is queued. */
  closeWith(code: number, reason: string, errorFrame?: string): void {
    if (this.closingByServer) return;
    // The last frame goes out past the cap: one bounded frame tells the client why.
    if (errorFrame !== undefined && this.readyState === WebSocket.OPEN) this.writeFrame(errorFrame);
    this.closingByServer = true;
    // A socket refused before it was set up is still paused; it must read the close reply.
    if (this.isPaused) this.resume();
    if (this.readyState === WebSocket.OPEN || this.readyState === WebSocket.CONNECTING) {
      // Close reasons are capped at 123 bytes by RFC 6455 (`ws` throws beyond that).
      this.close(code, utf8Prefix(reason, 123));
    }
  }
}

/**
 * Frames written to one socket within an event-loop turn (a message and the
 * ack of the one before it, a burst of acks read in one chunk) leave in one
 * writev: `ws` corks around each frame only, and a syscall per frame was most
 * of a message's cost. One shared list and one setImmediate for every socket.
 */
const corkedSockets: ClientSocket[] = [];

function corkUntilTurnEnds(socket: ClientSocket): void {
  // `_socket` is ws's internal net.Socket; drained() relies on it too.
  const raw = (socket as unknown as { _socket?: { cork(): void } })._socket;
  if (raw === undefined) return;
  raw.cork();
  socket.corked = true;
  if (corkedSockets.push(socket) === 1) setImmediate(uncorkAll);
}

function uncorkAll(): void {
  for (const socket of corkedSockets) {
    socket.corked = false;
    (socket as unknown as { _socket: { uncork(): void } })._socket.uncork();
  }
  corkedSockets.length = 0;
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
