/**
 * Writes logged entries to this node's sockets: the last step of every live
 * delivery. Holds entries for a socket that is still replaying, and closes a
 * socket whose send buffer passed its cap (the entries wait in the log).
 * `text` is the encoded frame, a string or its UTF-8 bytes (a Buffer shared by
 * every socket of a group fan-out); either goes out as a text frame.
 */
import type { ClientSocket } from '../connections/client-socket.ts';
import type { Hub } from '../connections/hub.ts';
import { CloseCode } from '../protocol/errors.ts';
import type { LogEntry, Store } from '../store/store.ts';
import type { GatewayMetrics } from '../observability/metrics.ts';
import type { Logger } from '../observability/logger.ts';
import { errorText } from '../observability/logger.ts';

/** Entries held for one replaying socket before replay re-reads the log instead. */
const MAX_HELD = 1000;

export class LocalDelivery {
  private readonly hub: Hub;
  private readonly store: Store;
  private readonly metrics: GatewayMetrics;
  private readonly log: Logger;
  private readonly maxBuffered: number;

  constructor(hub: Hub, store: Store, metrics: GatewayMetrics, log: Logger, maxBufferedBytes: number) {
    this.hub = hub;
    this.store = store;
    this.metrics = metrics;
    this.log = log;
    this.maxBuffered = maxBufferedBytes;
  }

  /** To every local device of the user that may see the entry; returns how many got it. */
  toUser(userId: string, logId: string, entry: LogEntry, text: string | Buffer, exceptDevice?: string): number {
    let delivered = 0;
    for (const socket of this.hub.devices(userId)) {
      if (socket.deviceId !== exceptDevice && this.toSocket(socket, logId, entry, text)) delivered++;
    }
    return delivered;
  }

  /** Writes one entry to one socket, or holds it while the socket replays. */
  toSocket(socket: ClientSocket, logId: string, entry: LogEntry, text: string | Buffer): boolean {
    if (!visibleTo(entry, socket.userId, socket.deviceId)) return false;
    const replay = socket.replay;
    if (replay !== null) {
      if (replay.held.length < MAX_HELD) replay.held.push({ log: logId, entry, text });
      else replay.overflowed = true;
      return true;
    }
    return this.write(socket, logId, entry, text);
  }

  /** Sends now, with the backpressure check; replay uses this directly. */
  write(socket: ClientSocket, logId: string, entry: LogEntry, text: string | Buffer): boolean {
    if (socket.bufferedAmount > this.maxBuffered) {
      this.metrics.connectionErrors.inc({ code: 'SLOW_CONSUMER' });
      socket.closeWith(CloseCode.SLOW_CONSUMER, 'slow consumer: send buffer full');
      return false;
    }
    if (!socket.sendText(text)) return false;
    if (entry.frame.type === 'message') this.metrics.messagesDelivered.inc();
    else if (logId.startsWith('n:') || logId.startsWith('m:')) {
      // Notifications and membership changes are not acked by clients: written is done.
      this.store.advanceCursor(socket.userId, socket.deviceId, logId, entry.pos).catch((err: unknown) => {
        this.log.warn('cursor_advance_failed', { log: logId, error: errorText(err) });
      });
    }
    return true;
  }
}

/** Replay and live delivery skip what a device sent itself and what was meant for another device. */
export function visibleTo(entry: LogEntry, userId: string, deviceId: string): boolean {
  if (entry.targetDevice !== undefined && entry.targetDevice !== deviceId) return false;
  return entry.senderDevice !== deviceId || entry.frame.type !== 'message' || entry.frame.sender_id !== userId;
}
