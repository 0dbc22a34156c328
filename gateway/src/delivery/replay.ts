/**
 * Replay on connect: for each log of the user whose last position is beyond
 * the device's cursor, send what came after the cursor, oldest first across
 * logs, leaving out what that device sent itself. This one path covers
 * offline delivery, unacked messages after a drop, multi-device sync,
 * membership changes of the user's groups and reconnecting to another node.
 * Live entries arriving meanwhile are held by LocalDelivery and sent after,
 * so the socket sees each log in order.
 */
import type { ClientSocket } from '../connections/client-socket.ts';
import type { Logger } from '../observability/logger.ts';
import { encodeError, encodeStored } from '../protocol/encode.ts';
import { ErrorCode } from '../protocol/errors.ts';
import { groupLog, membershipLog, notificationLog, pushLog, type LogEntry, type Store } from '../store/store.ts';
import { visibleTo, type LocalDelivery } from './local-delivery.ts';

interface Pending {
  log: string;
  /** Send entries with pos > after. */
  after: number;
  /** A device that had a cursor (or a group floor) can have missed retained-out entries. */
  known: boolean;
  page: LogEntry[];
  index: number;
  done: boolean;
}

export class Replayer {
  private readonly store: Store;
  private readonly delivery: LocalDelivery;
  private readonly batch: number;
  private readonly maxBuffered: number;
  private readonly log: Logger;

  constructor(store: Store, delivery: LocalDelivery, batch: number, maxBufferedBytes: number, log: Logger) {
    this.store = store;
    this.delivery = delivery;
    this.batch = batch;
    this.maxBuffered = maxBufferedBytes;
    this.log = log;
  }

  /** Replays everything pending for the socket, then flushes what arrived live meanwhile. */
  async replay(socket: ClientSocket): Promise<void> {
    const state = { sentUpTo: new Map<string, number>(), held: [] as NonNullable<ClientSocket['replay']>['held'], overflowed: false };
    socket.replay = state;
    try {
      do {
        state.held = [];
        state.overflowed = false;
        const pending = await this.pendingLogs(socket, state.sentUpTo);
        await this.sendMerged(socket, pending, state.sentUpTo);
      } while (state.overflowed && !socket.closingByServer);
      for (const { log, entry, text } of state.held) {
        if (entry.pos > (state.sentUpTo.get(log) ?? 0)) this.delivery.write(socket, log, entry, text);
      }
    } finally {
      socket.replay = null;
    }
  }

  private async pendingLogs(socket: ClientSocket, sentUpTo: Map<string, number>): Promise<Pending[]> {
    const { userId, deviceId } = socket;
    const [cursors, conversations, groups] = await Promise.all([
      this.store.cursors(userId, deviceId),
      this.store.userConversations(userId),
      this.store.userGroups(userId),
    ]);
    // Each group has two logs, messages (g:) and membership changes (m:), each
    // replayed from the member's position at the join (its floor) on.
    const floors = new Map<string, number>();
    for (const [groupId, floor] of groups) {
      floors.set(groupLog(groupId), floor.messages);
      floors.set(membershipLog(groupId), floor.membership);
    }
    const logs = [...conversations, ...floors.keys(), pushLog(userId), notificationLog(userId)];
    const lasts = await this.store.lastPositions(logs);
    const pending: Pending[] = [];
    logs.forEach((log, i) => {
      const cursor = cursors.get(log);
      const floor = floors.get(log) ?? 0;
      const after = Math.max(cursor ?? 0, floor, sentUpTo.get(log) ?? 0);
      if (lasts[i]! > after) {
        pending.push({ log, after, known: cursor !== undefined || floor > 0, page: [], index: 0, done: false });
      }
    });
    return pending;
  }

  /** Sends the pending logs merged by store time, one page per log at a time. */
  private async sendMerged(socket: ClientSocket, pending: Pending[], sentUpTo: Map<string, number>): Promise<void> {
    await Promise.all(pending.map((p) => this.nextPage(socket, p, true)));
    for (;;) {
      let next: Pending | undefined;
      for (const p of pending) {
        if (p.done) continue;
        if (next === undefined || p.page[p.index]!.storedAt < next.page[next.index]!.storedAt) next = p;
      }
      if (next === undefined || socket.closingByServer) return;
      const entry = next.page[next.index++]!;
      next.after = entry.pos;
      sentUpTo.set(next.log, entry.pos);
      if (visibleTo(entry, socket.userId, socket.deviceId)) {
        const text = encodeStored(entry.frame);
        if (text === undefined) {
          // Skipped, not retried: every later connect would stop at the same entry.
          this.log.warn('entry_not_encodable', { log: next.log, pos: entry.pos });
        } else {
          if (!this.delivery.write(socket, next.log, entry, text)) return;
          if (socket.bufferedAmount > this.maxBuffered / 2) await drained(socket);
        }
      }
      if (next.index === next.page.length) await this.nextPage(socket, next, false);
    }
  }

  private async nextPage(socket: ClientSocket, p: Pending, first: boolean): Promise<void> {
    const page = await this.store.read(p.log, p.after, this.batch);
    if (first && p.known && page.firstPos > p.after + 1) {
      const missed = `${p.after + 1}..${page.firstPos - 1}`;
      socket.sendText(encodeError(ErrorCode.HISTORY_TRUNCATED, {
        message: `entries ${missed} of ${p.log} are no longer retained`,
      }, Date.now()));
    }
    p.page = page.entries;
    p.index = 0;
    p.done = page.entries.length === 0;
  }
}

/** Waits until the socket's kernel buffer has room again, or the socket closes. */
function drained(socket: ClientSocket): Promise<void> {
  const raw = (socket as unknown as { _socket?: NodeJS.WritableStream & { writableNeedDrain?: boolean } })._socket;
  if (raw === undefined || !raw.writableNeedDrain) return new Promise((resolve) => setImmediate(resolve));
  return new Promise((resolve) => {
    const done = (): void => {
      raw.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    raw.once('drain', done);
    socket.once('close', done);
  });
}
