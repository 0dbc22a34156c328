/**
 * Replay on connect: for each log of the user whose last position is beyond
 * the device's cursor, send what came after the cursor, oldest first across
 * logs, leaving out what that device sent itself. This one path covers
 * offline delivery, unacked messages after a drop, multi-device sync,
 * membership changes of the user's groups and reconnecting to another node.
 *
 * Live entries wait from the moment the socket joins the hub (so none goes
 * out before auth_response) until replay is done (the session holds them:
 * session/session.ts), then go through the socket's log order
 * (local-delivery.ts), which drops what replay already sent and holds what
 * came early.
 *
 * In a fleet, other nodes learn of a new socket through the registry's watch,
 * a few milliseconds after it registered; a message sent in between is in its
 * log but was not forwarded here. So once the watch has surely caught up
 * (`settleAfterMs`), the socket's logs are checked once more and what it
 * lacks is read from the store.
 */
import type { ClientSocket } from '../connections/client-socket.ts';
import { encodeError } from '../protocol/encode.ts';
import { ErrorCode } from '../protocol/errors.ts';
import { visibleTo, type LogEntry } from '../conversation-log/entry.ts';
import { groupLog, membershipLog, notificationLog, pushLog, type LogId } from '../conversation-log/log-id.ts';
import { live, replayAgain } from '../session/session.ts';
import type { Store } from '../store/store.ts';
import type { LogOrder } from './log-order.ts';
import type { LocalDelivery } from './local-delivery.ts';

interface Pending {
  log: LogId;
  order: LogOrder;
  /** A device that had a cursor (or a group floor) can have missed retained-out entries. */
  known: boolean;
  page: LogEntry[];
  index: number;
  done: boolean;
}

export interface ReplayOptions {
  /** Entries read per log page. */
  batch: number;
  maxBufferedBytes: number;
  /** Check a socket's logs again this long after connect; 0 for never (one node: no registry lag). */
  settleAfterMs: number;
}

export class Replayer {
  private readonly store: Store;
  private readonly delivery: LocalDelivery;
  private readonly options: ReplayOptions;
  /** Sockets waiting for their settle check, oldest first; one timer for all. */
  private readonly settling: Array<{ socket: ClientSocket; due: number }> = [];
  private settleTimer: NodeJS.Timeout | null = null;

  constructor(store: Store, delivery: LocalDelivery, options: ReplayOptions) {
    this.store = store;
    this.delivery = delivery;
    this.options = options;
  }

  /**
   * Replays everything pending for the socket (Replaying), then, as it goes
   * Live, passes on what arrived live meanwhile.
   */
  async replay(socket: ClientSocket): Promise<void> {
    let starts = new Map<string, number>();
    // Again when too much arrived live meanwhile: all of it is in the logs, read it from there.
    do {
      const pending = await this.pendingLogs(socket);
      starts = pending.starts;
      await this.sendMerged(socket, pending.logs);
    } while (replayAgain(socket));
    for (const { log, entry, text } of live(socket)) {
      const start = starts.get(log);
      if (start !== undefined) this.delivery.start(socket, log, start);
      this.delivery.toSocket(socket, log, entry, text);
    }
    if (this.options.settleAfterMs > 0) this.settleLater(socket);
  }

  close(): void {
    if (this.settleTimer !== null) clearTimeout(this.settleTimer);
    this.settleTimer = null;
    this.settling.length = 0;
  }

  /**
   * Every log of the user, with where this socket stands in it (cursor,
   * group floor, or what it was given), and those with entries beyond that.
   */
  private async pendingLogs(socket: ClientSocket): Promise<{ logs: Pending[]; starts: Map<LogId, number> }> {
    const { userId, deviceId } = socket;
    const [cursors, conversations, groups] = await Promise.all([
      this.store.cursors(userId, deviceId),
      this.store.userConversations(userId),
      this.store.userGroups(userId),
    ]);
    // Each group has two logs, messages (g:) and membership changes (m:), each
    // replayed from the member's position at the join (its floor) on.
    const floors = new Map<LogId, number>();
    for (const [groupId, floor] of groups) {
      floors.set(groupLog(groupId), floor.messages);
      floors.set(membershipLog(groupId), floor.membership);
    }
    const logs = [...conversations, ...floors.keys(), pushLog(userId), notificationLog(userId)];
    const lasts = await this.store.lastPositions(logs);
    const pending: Pending[] = [];
    const starts = new Map<LogId, number>();
    logs.forEach((log, i) => {
      const cursor = cursors.get(log);
      const floor = floors.get(log) ?? 0;
      const start = Math.max(cursor ?? 0, floor, socket.logs?.get(log)?.given ?? 0);
      starts.set(log, start);
      if (lasts[i]! > start) {
        const order = this.delivery.start(socket, log, start);
        pending.push({ log, order, known: cursor !== undefined || floor > 0, page: [], index: 0, done: false });
      }
    });
    return { logs: pending, starts };
  }

  /** Sends the pending logs merged by store time, one page per log at a time. */
  private async sendMerged(socket: ClientSocket, pending: Pending[]): Promise<void> {
    await Promise.all(pending.map((p) => this.nextPage(socket, p, true)));
    for (;;) {
      let next: Pending | undefined;
      for (const p of pending) {
        if (p.done) continue;
        if (next === undefined || p.page[p.index]!.storedAt < next.page[next.index]!.storedAt) next = p;
      }
      if (next === undefined || socket.closing) return;
      const entry = next.page[next.index++]!;
      if (entry.pos > next.order.given) {
        if (visibleTo(entry, socket.userId, socket.deviceId)) {
          this.delivery.writeStored(socket, next.log, entry);
          if (socket.bufferedAmount > this.options.maxBufferedBytes / 2) await socket.drained();
        }
        next.order.given = entry.pos;
      }
      if (next.index === next.page.length) await this.nextPage(socket, next, false);
    }
  }

  private async nextPage(socket: ClientSocket, p: Pending, first: boolean): Promise<void> {
    const after = p.order.given;
    const page = await this.store.read(p.log, after, this.options.batch);
    if (first && p.known && page.firstPos > after + 1) {
      const missed = `${after + 1}..${page.firstPos - 1}`;
      socket.sendText(encodeError(ErrorCode.HISTORY_TRUNCATED, {
        message: `entries ${missed} of ${p.log} are no longer retained`,
      }, Date.now()));
    }
    p.page = page.entries;
    p.index = 0;
    p.done = page.entries.length === 0;
  }

  private settleLater(socket: ClientSocket): void {
    this.settling.push({ socket, due: Date.now() + this.options.settleAfterMs });
    this.armSettle();
  }

  private armSettle(): void {
    if (this.settleTimer !== null || this.settling.length === 0) return;
    this.settleTimer = setTimeout(() => {
      this.settleTimer = null;
      const now = Date.now();
      while (this.settling.length > 0 && this.settling[0]!.due <= now) {
        const { socket } = this.settling.shift()!;
        if (!socket.closing && socket.readyState === socket.OPEN) void this.settle(socket);
      }
      this.armSettle();
    }, Math.max(0, this.settling[0]!.due - Date.now()));
    this.settleTimer.unref();
  }

  /** Reads what the socket lacks of any of its logs; live entries go on meanwhile, in order. */
  private async settle(socket: ClientSocket): Promise<void> {
    try {
      const { logs } = await this.pendingLogs(socket);
      await Promise.all(logs.map((p) => this.delivery.fill(socket, p.log, p.order)));
    } catch {
      // A store outage: the log's next entry, or the next connect, brings what is missing.
    }
  }
}
