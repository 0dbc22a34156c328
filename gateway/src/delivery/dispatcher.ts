/**
 * What follows a stored message or membership change: live delivery and its
 * record in the message log (Kafka in a fleet). The sender's ack waits only
 * for the store; these follow on their own, so an outage of Kafka or a slow
 * peer costs neither an ack nor a record.
 *
 *   d:<a>:<b>  to both users' devices (the sending device only moves on in
 *              the log) and a record on the messages topic;
 *   g:<group>  one record on the group topic, which is also the live fan-out;
 *   m:<group>  the same, for a membership change.
 *
 * With a store that keeps an outbox (Redis), each entry was written to this
 * node's outbox in the same step as to its log and is removed once both
 * follow-ups are done. One sweep timer then finds what this node lost track
 * of (an append whose reply was lost, a record Kafka refused, entries left
 * from an earlier life of this node id) and drives it again, and adopts the
 * outbox of a node that stopped renewing its claim: a node that dies right
 * after the ack leaves nothing undelivered. Driving an entry twice is
 * harmless: each socket takes each position once (log-order.ts), and the
 * message log's readers key records by log and position.
 */
import { groupOf, isMembershipLog, isPrivateLog, type LogId } from '../conversation-log/log-id.ts';
import type { Bus } from '../bus/bus.ts';
import { errorText, type Logger } from '../observability/logger.ts';
import { encodeLogged } from '../protocol/encode.ts';
import type { MessageFrame } from '../protocol/frames.ts';
import type { LogEntry } from '../conversation-log/entry.ts';
import type { Outbox, OutboxItem, Store } from '../store/store.ts';
import type { UserDelivery } from './user-delivery.ts';
import { TextFrame } from '../connections/text-frame.ts';

export interface DispatcherOptions {
  nodeId: string;
  /** How often the outbox is swept. */
  sweepIntervalMs: number;
  /** Outbox items older than this, and not in hand, are driven again. */
  staleAfterMs: number;
  /** A node's claim on its outbox lasts this long unless renewed; then another node adopts it. */
  claimTtlMs: number;
}

export const DISPATCH_DEFAULTS = { sweepIntervalMs: 2_000, staleAfterMs: 5_000, claimTtlMs: 10_000 } as const;

/** Items read from an outbox per page, and pages per owner and sweep at most. */
const SWEEP_BATCH = 500;
const SWEEP_PAGES = 20;
/** Done items are removed from the outbox together, this often. */
const REMOVE_WINDOW_MS = 20;
/** Ids remembered as delivered live while their record waits for Kafka; beyond this, live runs again. */
const MAX_LIVE_DONE = 100_000;

export class Dispatcher {
  private readonly bus: Bus;
  private readonly users: UserDelivery;
  private readonly log: Logger;
  private readonly outbox: Outbox | null;
  private readonly options: DispatcherOptions;
  /** Outbox items being driven now, by `<owner> <id>`: a sweep leaves them alone. */
  private readonly inHand = new Set<string>();
  /** Items delivered live whose record failed: the sweep sends only the record. */
  private readonly liveDone = new Set<string>();
  /** Done items per owner, removed from the store in one call per turn. */
  private readonly done = new Map<string, string[]>();
  private removing = false;
  private sweeper: NodeJS.Timeout | null = null;
  private sweeping = false;

  constructor(store: Store, bus: Bus, users: UserDelivery, log: Logger, options: DispatcherOptions) {
    this.bus = bus;
    this.users = users;
    this.log = log;
    this.outbox = store.outbox;
    this.options = options;
  }

  /**
   * Claims this node's outbox (which lists it for adoption) before the node
   * takes sends, then sweeps on a timer. Stores without an outbox need none.
   */
  async start(): Promise<void> {
    if (this.outbox === null || this.sweeper !== null) return;
    const { nodeId, claimTtlMs, sweepIntervalMs } = this.options;
    await this.outbox.claim(nodeId, nodeId, claimTtlMs);
    this.sweeper = setInterval(() => void this.sweep(), sweepIntervalMs);
    this.sweeper.unref();
    void this.sweep();
  }

  close(): void {
    if (this.sweeper !== null) clearInterval(this.sweeper);
    this.sweeper = null;
  }

  /** Starts the follow-ups of an entry just stored (with its outbox id, if it has one). Never throws, never waits. */
  dispatch(logId: LogId, entry: LogEntry, outboxId?: string): void {
    if (outboxId === undefined) {
      // Nothing to remove from an outbox: both follow-ups start, neither waits for the other.
      void this.deliverLive(logId, entry);
      this.record(logId, entry).catch((err: unknown) => this.recordFailed(logId, entry, err));
      return;
    }
    void this.drive(this.options.nodeId, { id: outboxId, log: logId, entry });
  }

  /**
   * Delivers a stored private message live again, without a new record: a
   * sender's retry of it (DUPLICATE_MESSAGE) may follow a send whose node
   * died before delivering it.
   */
  redeliver(logId: LogId, entry: LogEntry): void {
    if (isPrivateLog(logId)) void this.deliverLive(logId, entry);
  }

  /** Resolves true once both follow-ups are done (or under way elsewhere in this node). */
  private async drive(owner: string, item: OutboxItem): Promise<boolean> {
    const key = `${owner} ${item.id}`;
    if (this.inHand.has(key)) return true;
    this.inHand.add(key);
    const liveDone = this.liveDone.delete(key);
    try {
      const record = await this.followUps(item.log, item.entry, !liveDone);
      if (record === 'failed') {
        // Left in the outbox: the sweep sends the record once Kafka takes it again.
        if (this.liveDone.size < MAX_LIVE_DONE) this.liveDone.add(key);
        return false;
      }
      this.markDone(owner, item.id);
      return true;
    } finally {
      this.inHand.delete(key);
    }
  }

  /** Live delivery (unless done already) and the record; resolves 'failed' when Kafka did not take the record. */
  private async followUps(logId: LogId, entry: LogEntry, withLive: boolean): Promise<'sent' | 'failed'> {
    const live = withLive ? this.deliverLive(logId, entry) : undefined;
    try {
      await this.record(logId, entry);
      return 'sent';
    } catch (err) {
      this.recordFailed(logId, entry, err);
      return 'failed';
    } finally {
      await live;
    }
  }

  /**
   * Live delivery of a private message (group logs go live through their
   * record); never throws, failures are logged. Returns a promise only when
   * a delivery waits on other nodes: on one node nothing is awaited.
   */
  private deliverLive(logId: LogId, entry: LogEntry): Promise<void> | undefined {
    if (!isPrivateLog(logId)) return undefined;
    try {
      const frame = entry.frame as MessageFrame;
      // Framed once for both users' sockets (and its JSON for forwards), not encoded again by each.
      const text = TextFrame.of(encodeLogged(frame));
      const { sender_id: senderId, recipient_id: recipientId } = frame;
      const toRecipient = this.users.toUser(recipientId, logId, entry, text);
      // The sender's other devices get a copy (multi-device sync).
      const toSender = senderId === recipientId ? 0 : this.users.toUser(senderId, logId, entry, text);
      if (typeof toRecipient === 'number' && typeof toSender === 'number') return undefined;
      // A closure only when a delivery waits on other nodes: the local path above allocates none.
      return Promise.all([toRecipient, toSender]).then(() => undefined, (err: unknown) => this.liveFailed(logId, entry, err));
    } catch (err) {
      this.liveFailed(logId, entry, err);
      return undefined;
    }
  }

  private liveFailed(logId: LogId, entry: LogEntry, err: unknown): void {
    this.log.warn('live_delivery_failed', { log: logId, pos: entry.pos, error: errorText(err) });
  }

  /** Logged at debug only: the entry stays in the outbox (or, without one, the bus is in memory) and is driven again. */
  private recordFailed(logId: LogId, entry: LogEntry, err: unknown): void {
    this.log.debug('record_failed', { log: logId, pos: entry.pos, error: errorText(err) });
  }

  private record(logId: LogId, entry: LogEntry): Promise<void> {
    const groupId = groupOf(logId);
    if (groupId === undefined) return this.bus.appendPrivate(logId, entry);
    return this.bus.publishGroup(isMembershipLog(logId) ? { groupId, log: 'membership', entry } : { groupId, entry });
  }

  private markDone(owner: string, id: string): void {
    const ids = this.done.get(owner);
    if (ids === undefined) this.done.set(owner, [id]);
    else ids.push(id);
    if (!this.removing) {
      this.removing = true;
      // One XDEL for what finished within the window, not one per message; an
      // item left a little longer only risks being driven twice after a crash.
      setTimeout(() => void this.removeDone(), REMOVE_WINDOW_MS).unref();
    }
  }

  private async removeDone(): Promise<void> {
    this.removing = false;
    if (this.done.size === 0) return;
    const batches = [...this.done];
    this.done.clear();
    await Promise.all(batches.map(([owner, ids]) => this.outbox!.remove(owner, ids).catch((err: unknown) => {
      // Left in the outbox, they are driven again by a sweep: harmless, only late work.
      this.log.warn('outbox_remove_failed', { owner, items: ids.length, error: errorText(err) });
    })));
  }

  /** Renews this node's claim, drives its own stale items, adopts outboxes whose owner stopped renewing. */
  private async sweep(): Promise<void> {
    if (this.sweeping || this.outbox === null) return;
    this.sweeping = true;
    const outbox = this.outbox;
    const { nodeId, staleAfterMs, claimTtlMs } = this.options;
    try {
      // Always granted: a node that adopted this outbox (this node id's earlier life died) stops at its next claim.
      await outbox.claim(nodeId, nodeId, claimTtlMs);
      await this.driveStale(nodeId, staleAfterMs);
      for (const owner of await outbox.owners()) {
        if (owner === nodeId || !(await outbox.claim(owner, nodeId, claimTtlMs))) continue;
        const left = await this.driveStale(owner, 0);
        if (left === 0 && (await outbox.retire(owner))) this.log.info('outbox_adopted', { owner });
      }
    } catch (err) {
      this.log.warn('outbox_sweep_failed', { error: errorText(err) });
    } finally {
      this.sweeping = false;
    }
  }

  /**
   * Drives an outbox's stale items, page by page while every one goes
   * through (a backlog after an outage drains within a sweep or a few);
   * resolves with how many it found.
   */
  private async driveStale(owner: string, olderThanMs: number): Promise<number> {
    let found = 0;
    for (let page = 0; page < SWEEP_PAGES; page++) {
      const items = (await this.outbox!.stale(owner, olderThanMs, SWEEP_BATCH)).filter((item) => !this.inHand.has(`${owner} ${item.id}`));
      found += items.length;
      if (items.length === 0) break;
      const done = await Promise.all(items.map((item) => this.drive(owner, item)));
      // Removals of this page must land before the next read, or it would find them again.
      await this.removeDone();
      if (done.includes(false) || items.length < SWEEP_BATCH) break;
    }
    if (found > 0) this.log.info('outbox_items_driven', { owner, items: found });
    return found;
  }
}
