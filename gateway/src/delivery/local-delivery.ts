/**
 * Writes logged entries to this node's sockets: the last step of every live
 * delivery, replay and gap read. Each socket gets each log in position order,
 * once, with no gap (log-order.ts): an entry that comes early is held until
 * the ones before it arrive, or, after GAP_WAIT_MS, until they are read from
 * the store. So a cumulative ack never passes a message the device did not
 * get, and an entry whose storing node died before forwarding it reaches the
 * device with the log's next entry at the latest. Entries that arrive before
 * a socket's replay is done are held by its session (session/session.ts)
 * until replay passes them on (replay.ts). A socket whose send
 * buffer passed its cap is closed; what it missed waits in the log.
 *
 * `text` is the encoded frame, a string or its UTF-8 bytes (a Buffer shared by
 * every socket of a group fan-out); either goes out as a text frame.
 */
import { groupOf, isGroupLog, writtenIsAcknowledged, type LogId } from '../conversation-log/log-id.ts';
import type { ClientSocket } from '../connections/client-socket.ts';
import type { Hub } from '../connections/hub.ts';
import { encodeError, encodeStored } from '../protocol/encode.ts';
import { ErrorCode } from '../protocol/errors.ts';
import { visibleTo, type LogEntry } from '../conversation-log/entry.ts';
import { holdLive } from '../session/session.ts';
import type { Store } from '../store/store.ts';
import type { GatewayMetrics } from '../observability/metrics.ts';
import type { Logger } from '../observability/logger.ts';
import { errorText } from '../observability/logger.ts';
import { LogOrder, UNKNOWN } from './log-order.ts';
import type { TextFrame } from '../connections/text-frame.ts';

/** Entries held for one socket behind one gap before the store is read instead. */
const MAX_HELD = 1000;
/**
 * How long an early entry waits for the ones before it before they are read
 * from the store. Reordering between nodes resolves within milliseconds; a
 * gap still open after this is a lost forward (a node died) or a slow one.
 */
export const GAP_WAIT_MS = 250;

export interface LocalDeliveryOptions {
  maxBufferedBytes: number;
  /** Entries read per store page when a gap is filled. */
  readBatch: number;
}

export class LocalDelivery {
  private readonly hub: Hub;
  private readonly store: Store;
  private readonly metrics: GatewayMetrics;
  private readonly log: Logger;
  private readonly maxBuffered: number;
  private readonly readBatch: number;
  /** Sockets holding early entries; one timer for all of them. */
  private readonly gaps = new Set<ClientSocket>();
  private gapTimer: NodeJS.Timeout | null = null;

  constructor(hub: Hub, store: Store, metrics: GatewayMetrics, log: Logger, options: LocalDeliveryOptions) {
    this.hub = hub;
    this.store = store;
    this.metrics = metrics;
    this.log = log;
    this.maxBuffered = options.maxBufferedBytes;
    this.readBatch = options.readBatch;
  }

  /**
   * To every local device of the user; returns how many may see the entry.
   * The device that sent a message is passed too: the entry is not written to
   * it (visibleTo), but its place in the log moves on.
   */
  toUser(userId: string, logId: LogId, entry: LogEntry, text: string | TextFrame): number {
    let delivered = 0;
    for (const socket of this.hub.devices(userId)) {
      if (this.toSocket(socket, logId, entry, text)) delivered++;
    }
    return delivered;
  }

  /** Gives one entry to one socket: now, or once the entries before it are there. True when it is for this device. */
  toSocket(socket: ClientSocket, logId: LogId, entry: LogEntry, text: string | TextFrame): boolean {
    const visible = visibleTo(entry, socket.userId, socket.deviceId);
    if (holdLive(socket, logId, entry, text)) return visible;
    const order = orderOf(socket, logId, UNKNOWN);
    switch (order.given === UNKNOWN ? 'early' : order.place(entry.pos)) {
      case 'seen':
        return false;
      case 'next':
        this.write(socket, logId, entry, text);
        order.given = entry.pos;
        if (order.held !== null) this.writeReady(socket, logId, order);
        return visible;
      case 'early':
        if (order.hold({ entry, text }, Date.now()) >= MAX_HELD || order.given === UNKNOWN) void this.fill(socket, logId, order);
        else this.watchGap(socket);
        return visible;
    }
  }

  /**
   * Replay's start on a log: the socket has everything up to `given`
   * (its cursor or group floor, or what replay sent).
   */
  start(socket: ClientSocket, logId: LogId, given: number): LogOrder {
    const order = orderOf(socket, logId, given);
    if (order.given < given) order.given = given;
    return order;
  }

  /**
   * Reads what the socket lacks of a log from the store and writes it in
   * order: the gap before its early entries, or, when its starting point is
   * unknown (the first live entry of a log since connect), everything after
   * the device's cursor. One fill per socket and log at a time; a failed read
   * is tried again by the gap timer.
   */
  async fill(socket: ClientSocket, logId: LogId, order: LogOrder): Promise<void> {
    if (order.filling) return;
    order.filling = true;
    try {
      if (order.given === UNKNOWN) order.given = await this.startOf(socket, logId);
      const known = order.given > 0;
      for (let first = true; ; first = false) {
        const page = await this.store.read(logId, order.given, this.readBatch);
        if (first && known && page.firstPos > order.given + 1) {
          socket.sendText(encodeError(ErrorCode.HISTORY_TRUNCATED, {
            message: `entries ${order.given + 1}..${page.firstPos - 1} of ${logId} are no longer retained`,
          }, Date.now()));
        }
        for (const entry of page.entries) {
          if (entry.pos <= order.given) continue;
          this.writeStored(socket, logId, entry);
          order.given = entry.pos;
        }
        if (socket.closing) return;
        this.writeReady(socket, logId, order);
        // Read to the end of the log, or until what is held follows on.
        if (page.entries.length < this.readBatch || order.held === null) break;
        if (socket.bufferedAmount > this.maxBuffered / 2) await socket.drained();
      }
    } catch (err) {
      this.log.warn('gap_read_failed', { log: logId, user_id: socket.userId, error: errorText(err) });
    } finally {
      order.filling = false;
    }
    // Held meanwhile, or behind a gap the read did not reach: the timer tries again.
    if (order.held !== null) {
      this.writeReady(socket, logId, order);
      if (order.held !== null) this.watchGap(socket);
    }
  }

  /**
   * Writes an entry read from the store. One that cannot be encoded (stored
   * before the edge bounded metadata) is skipped, never retried: every later
   * read would stop at it and lock the device out.
   */
  writeStored(socket: ClientSocket, logId: LogId, entry: LogEntry): void {
    const text = encodeStored(entry.frame);
    if (text === undefined) this.log.warn('entry_not_encodable', { log: logId, pos: entry.pos });
    else this.write(socket, logId, entry, text);
  }

  /** Writes one entry if the device may see it (the socket closes a slow consumer itself). */
  write(socket: ClientSocket, logId: LogId, entry: LogEntry, text: string | TextFrame): void {
    if (!visibleTo(entry, socket.userId, socket.deviceId)) return;
    if (!socket.sendText(text)) return;
    if (entry.frame.type === 'message') this.metrics.messagesDelivered.inc();
    else if (writtenIsAcknowledged(logId)) {
      this.store.advanceCursor(socket.userId, socket.deviceId, logId, entry.pos).catch((err: unknown) => {
        this.log.warn('cursor_advance_failed', { log: logId, error: errorText(err) });
      });
    }
  }

  close(): void {
    if (this.gapTimer !== null) clearInterval(this.gapTimer);
    this.gapTimer = null;
    this.gaps.clear();
  }

  private writeReady(socket: ClientSocket, logId: LogId, order: LogOrder): void {
    for (const { entry, text } of order.takeReady(Date.now())) this.write(socket, logId, entry, text);
  }

  /** Where a socket that was given nothing of this log since connect starts: the device's cursor, or its group floor. */
  private async startOf(socket: ClientSocket, logId: LogId): Promise<number> {
    const { userId, deviceId } = socket;
    const groupId = groupOf(logId);
    const [cursors, groups] = await Promise.all([this.store.cursors(userId, deviceId), groupId === undefined ? null : this.store.userGroups(userId)]);
    const cursor = cursors.get(logId) ?? 0;
    const floors = groupId === undefined ? undefined : groups?.get(groupId);
    return floors === undefined ? cursor : Math.max(cursor, isGroupLog(logId) ? floors.messages : floors.membership);
  }

  private watchGap(socket: ClientSocket): void {
    this.gaps.add(socket);
    if (this.gapTimer === null) {
      this.gapTimer = setInterval(() => this.checkGaps(), GAP_WAIT_MS / 2);
      this.gapTimer.unref();
    }
  }

  /** Fills the gaps that waited long enough; forgets sockets with none left. */
  private checkGaps(): void {
    const now = Date.now();
    for (const socket of this.gaps) {
      let waiting = false;
      if (!socket.closing && socket.readyState === socket.OPEN) {
        for (const [logId, order] of socket.logs ?? NO_LOGS) {
          if (order.held === null) continue;
          waiting = true;
          if (!order.filling && now - order.since >= GAP_WAIT_MS) void this.fill(socket, logId, order);
        }
      }
      if (!waiting) this.gaps.delete(socket);
    }
    if (this.gaps.size === 0 && this.gapTimer !== null) {
      clearInterval(this.gapTimer);
      this.gapTimer = null;
    }
  }
}

const NO_LOGS = new Map<LogId, LogOrder>();

function orderOf(socket: ClientSocket, logId: LogId, given: number): LogOrder {
  socket.logs ??= new Map();
  let order = socket.logs.get(logId);
  if (order === undefined) {
    order = new LogOrder(given);
    socket.logs.set(logId, order);
  }
  return order;
}
