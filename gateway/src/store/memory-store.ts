/**
 * The single-node store: every log, cursor and set in this process's memory.
 * A real engine, not a test double: bounded by the retention settings and
 * swept by one timer. Nothing survives a restart; use Redis for that.
 *
 * What it holds, and its bound (README, "Memory on one node"):
 * - log entries: per log at most `maxEntries` and `maxAgeMs`, and all logs
 *   together at most `maxLogBytes` of their estimated size (`entryBytes`);
 *   past it the oldest entries of the whole store go first. This is the bound
 *   that does not grow with the number of conversations.
 * - dedup keys: at most `maxDedupKeys` (dedup-window.ts), ~DEDUP_KEY_BYTES each.
 * - per conversation, device and group: a log header, cursors, memberships,
 *   rate buckets, a few hundred bytes each; they grow with the users, not
 *   with the messages.
 */
import { frameAt, type LogEntry } from '../conversation-log/entry.ts';
import { groupLog, membershipLog, type LogId } from '../conversation-log/log-id.ts';
import type { LoggedFrame, MessageFrame } from '../protocol/frames.ts';
import { DedupWindow } from './dedup-window.ts';
import type { AppendOptions, AppendResult, GroupFloors, LogPage, MessageLocation, RateLimit, Retention, Store } from './store.ts';

interface Log {
  entries: StoredEntry[];
  /** Index in `entries` of the oldest retained entry; trimmed entries are dropped in bulk. */
  head: number;
  lastPos: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * An entry as this store holds it: the entry, and the log it is in for the
 * msg_id index (a private field: it is not part of the entry callers see).
 */
class StoredEntry implements LogEntry {
  readonly pos: number;
  readonly frame: LoggedFrame;
  readonly storedAt: number;
  senderDevice?: string;
  targetDevice?: string;
  readonly #log: LogId;

  constructor(log: LogId, pos: number, frame: LoggedFrame, storedAt: number) {
    this.#log = log;
    this.pos = pos;
    this.frame = frame;
    this.storedAt = storedAt;
  }

  get log(): LogId {
    return this.#log;
  }
}

const SWEEP_INTERVAL_MS = 10_000;

/**
 * Heap an entry holds besides its text, measured (`bench/micro/memory-store-
 * bytes.ts`): the entry and its frame, their numbers, its slot in the log and
 * in the msg_id index, its msg_id string's header.
 */
export const ENTRY_OVERHEAD_BYTES = 450;
/**
 * Heap per dedup key at most, measured the same way: ~50 bytes (its map slot
 * and the per-sender map's share) with its entry in the log; after the entry
 * left, the key holds its msg_id too (~108 bytes with a 30-character id; ids
 * are ASCII, at most 128 characters: 60 + 140).
 */
export const DEDUP_KEY_BYTES = 200;

/**
 * What an entry is counted as against `maxLogBytes`: the fixed overhead and
 * its text at two bytes a character (V8 keeps text outside Latin-1 at two;
 * counting every text so keeps the bound for any script).
 */
export function entryBytes(frame: LoggedFrame): number {
  if (frame.type !== 'message') return ENTRY_OVERHEAD_BYTES;
  const text = frame.content.length + frame.msg_id.length;
  return ENTRY_OVERHEAD_BYTES + 2 * text + (frame.metadata === undefined ? 0 : metadataBytes(frame.metadata));
}

/** A parsed metadata object holds about three times its JSON in heap. */
function metadataBytes(metadata: object): number {
  try {
    return 3 * JSON.stringify(metadata).length;
  } catch {
    // Nested past the stack: only an entry stored without the edge's bounds (tests do); counted as large.
    return UNENCODABLE_METADATA_BYTES;
  }
}
const UNENCODABLE_METADATA_BYTES = 1024 * 1024;

export interface MemoryLimits {
  /** Dedup keys kept at most; beyond it the oldest are forgotten before their TTL. */
  maxDedupKeys?: number;
  /** All logs' entries together, by `entryBytes`; beyond it the store's oldest entries are dropped. */
  maxLogBytes?: number;
}

/** Dedup keys kept at most by default: at most 100 MB of heap (~25-55 MB with ids of 30 characters). */
export const DEFAULT_MAX_DEDUP_KEYS = 500_000;
/** The logs' estimated size at most by default. */
export const DEFAULT_MAX_LOG_BYTES = 512 * 1024 * 1024;

export class MemoryStore implements Store {
  readonly name = 'memory';
  readonly outbox = null;
  private readonly retention: Retention;
  private readonly rate: RateLimit;
  private readonly logs = new Map<LogId, Log>();
  private readonly dedup: DedupWindow;
  /** msg_id -> its entry; an array only when several senders used one msg_id. */
  private readonly messageIndex = new Map<string, StoredEntry | StoredEntry[]>();
  private readonly maxLogBytes: number;
  private readonly maxDedupKeys: number;
  /** The logs' entries by `entryBytes`. */
  private logBytes = 0;
  private entryCount = 0;
  /**
   * Every append in store order, as (log, position) from `ageHead` on: the
   * oldest entry of the whole store is found here when `maxLogBytes` is
   * passed. Slots of entries their own log dropped already are skipped then,
   * and compacted away once they are most of the queue.
   */
  private ageLogs: Log[] = [];
  private agePositions: number[] = [];
  private ageHead = 0;
  private readonly conversationsByUser = new Map<string, Set<LogId>>();
  private readonly cursorsByDevice = new Map<string, Map<LogId, number>>();
  private readonly members = new Map<string, Map<string, GroupFloors>>();
  private readonly groupsByUser = new Map<string, Map<string, GroupFloors>>();
  private readonly buckets = new Map<string, Bucket>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(retention: Retention, rate: RateLimit, limits: MemoryLimits = {}) {
    this.retention = retention;
    this.rate = rate;
    // Bounded by count too: at the defaults a day of keys outgrows the heap, and a
    // large old generation makes the full-GC pauses that show as latency spikes.
    this.maxDedupKeys = limits.maxDedupKeys ?? DEFAULT_MAX_DEDUP_KEYS;
    this.dedup = new DedupWindow(retention.dedupTtlMs, this.maxDedupKeys);
    this.maxLogBytes = limits.maxLogBytes ?? DEFAULT_MAX_LOG_BYTES;
    this.sweeper = setInterval(() => this.sweep(Date.now()), SWEEP_INTERVAL_MS);
    this.sweeper.unref();
  }

  async start(): Promise<void> {}

  async healthy(): Promise<boolean> {
    return true;
  }

  async append(logId: LogId, frame: LoggedFrame, options: AppendOptions = {}): Promise<AppendResult> {
    const now = Date.now();
    const dedup = options.dedup;
    if (dedup !== undefined) {
      const seen = this.dedup.get(dedup.scope, dedup.id, now);
      if (seen !== null) return { status: 'duplicate', pos: seen };
    }
    const sender = options.sender;
    if (sender !== undefined) {
      if (sender.mustBeMemberOf !== undefined && !this.members.get(sender.mustBeMemberOf)?.has(sender.userId)) {
        return { status: 'refused', reason: 'not_member' };
      }
      if (!this.takeToken(sender.userId, sender.now)) return { status: 'refused', reason: 'rate_limited' };
    }
    let log = this.logs.get(logId);
    if (log === undefined) {
      log = { entries: [], head: 0, lastPos: 0 };
      this.logs.set(logId, log);
      for (const user of options.participants ?? []) this.indexConversation(user, logId);
    }
    const pos = ++log.lastPos;
    const entry = new StoredEntry(logId, pos, frameAt(logId, pos, frame), now);
    entry.senderDevice = options.senderDevice;
    entry.targetDevice = options.targetDevice;
    log.entries.push(entry);
    this.entryCount++;
    this.logBytes += entryBytes(frame);
    this.ageLogs.push(log);
    this.agePositions.push(pos);
    if (dedup !== undefined) this.dedup.set(dedup.scope, dedup.id, pos, now);
    if (frame.type === 'message') this.indexMessage(frame.msg_id, entry);
    this.trim(log, now);
    if (this.logBytes > this.maxLogBytes) this.dropOldest();
    else this.compactAgeQueue();
    return { status: 'appended', entry };
  }

  async read(logId: LogId, afterPos: number, limit: number): Promise<LogPage> {
    const log = this.logs.get(logId);
    if (log === undefined) return { entries: [], firstPos: 0, lastPos: 0 };
    this.trim(log, Date.now());
    const live = log.entries.length - log.head;
    if (live === 0) return { entries: [], firstPos: 0, lastPos: log.lastPos };
    const firstPos = log.entries[log.head]!.pos;
    // Positions are contiguous within a log, so the start index is arithmetic.
    const start = log.head + Math.max(0, afterPos - firstPos + 1);
    return { entries: log.entries.slice(start, start + limit), firstPos, lastPos: log.lastPos };
  }

  async lastPositions(logIds: readonly LogId[]): Promise<number[]> {
    return logIds.map((id) => this.logs.get(id)?.lastPos ?? 0);
  }

  async userConversations(userId: string): Promise<LogId[]> {
    return [...(this.conversationsByUser.get(userId) ?? [])];
  }

  async findMessage(msgId: string): Promise<MessageLocation[]> {
    const found = this.messageIndex.get(msgId);
    if (found === undefined) return [];
    return (Array.isArray(found) ? found : [found]).map(locationOf);
  }

  /** What the logs hold now, against their bound (`ageSlots`: the store-order queue, at most 2 x entries + 1024 after a sweep). */
  usage(): { entries: number; logBytes: number; maxLogBytes: number; dedupKeys: number; maxDedupKeys: number; ageSlots: number } {
    const ageSlots = this.ageLogs.length - this.ageHead;
    const { entryCount: entries, logBytes, maxLogBytes, maxDedupKeys } = this;
    return { entries, logBytes, maxLogBytes, dedupKeys: this.dedup.size, maxDedupKeys, ageSlots };
  }

  /**
   * The heap this store's messages can hold at most: the logs' bound and the
   * dedup keys' (README, "Memory on one node").
   */
  get maxMessageBytes(): number {
    return this.maxLogBytes + this.maxDedupKeys * DEDUP_KEY_BYTES;
  }

  async cursors(userId: string, deviceId: string): Promise<Map<LogId, number>> {
    return new Map(this.cursorsByDevice.get(deviceKey(userId, deviceId)));
  }

  async advanceCursor(userId: string, deviceId: string, logId: LogId, pos: number): Promise<void> {
    const key = deviceKey(userId, deviceId);
    let cursors = this.cursorsByDevice.get(key);
    if (cursors === undefined) {
      cursors = new Map();
      this.cursorsByDevice.set(key, cursors);
    }
    if ((cursors.get(logId) ?? 0) < pos) cursors.set(logId, pos);
  }

  async addMember(groupId: string, userId: string): Promise<{ added: boolean; floor: GroupFloors }> {
    let members = this.members.get(groupId);
    if (members === undefined) {
      members = new Map();
      this.members.set(groupId, members);
    }
    const existing = members.get(userId);
    if (existing !== undefined) return { added: false, floor: { ...existing } };
    const floor: GroupFloors = {
      messages: this.logs.get(groupLog(groupId))?.lastPos ?? 0,
      membership: this.logs.get(membershipLog(groupId))?.lastPos ?? 0,
    };
    members.set(userId, floor);
    let groups = this.groupsByUser.get(userId);
    if (groups === undefined) {
      groups = new Map();
      this.groupsByUser.set(userId, groups);
    }
    groups.set(groupId, floor);
    return { added: true, floor: { ...floor } };
  }

  async removeMember(groupId: string, userId: string): Promise<boolean> {
    const members = this.members.get(groupId);
    if (members === undefined || !members.delete(userId)) return false;
    if (members.size === 0) this.members.delete(groupId);
    const groups = this.groupsByUser.get(userId);
    groups?.delete(groupId);
    if (groups?.size === 0) this.groupsByUser.delete(userId);
    return true;
  }

  async groupMembers(groupId: string): Promise<string[]> {
    return [...(this.members.get(groupId)?.keys() ?? [])];
  }

  async isMember(groupId: string, userId: string): Promise<boolean> {
    return this.members.get(groupId)?.has(userId) ?? false;
  }

  async userGroups(userId: string): Promise<Map<string, GroupFloors>> {
    const groups = new Map<string, GroupFloors>();
    for (const [groupId, floor] of this.groupsByUser.get(userId) ?? []) groups.set(groupId, { ...floor });
    return groups;
  }

  async groupCount(): Promise<number> {
    return this.members.size;
  }

  private takeToken(userId: string, now: number): boolean {
    // Token bucket: `limit` tokens, refilled evenly over the window.
    const { limit, windowMs } = this.rate;
    const bucket = this.buckets.get(userId);
    let tokens = limit;
    if (bucket !== undefined) tokens = Math.min(limit, bucket.tokens + ((now - bucket.at) * limit) / windowMs);
    if (tokens < 1) {
      this.buckets.set(userId, { tokens, at: now });
      return false;
    }
    this.buckets.set(userId, { tokens: tokens - 1, at: now });
    return true;
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
  }

  /** Drops expired dedup keys, refilled rate buckets and aged log entries. */
  sweep(now: number): void {
    this.dedup.sweep(now);
    const { limit, windowMs } = this.rate;
    for (const [user, bucket] of this.buckets) {
      if (bucket.tokens + ((now - bucket.at) * limit) / windowMs >= limit) this.buckets.delete(user);
    }
    // An emptied log keeps its header: its numbering must go on, or a device
    // cursor beyond a restarted count would skip the next messages.
    for (const log of this.logs.values()) this.trim(log, now);
    this.compactAgeQueue();
  }

  private trim(log: Log, now: number): void {
    const { maxEntries, maxAgeMs } = this.retention;
    let head = log.head;
    const end = log.entries.length;
    if (end - head > maxEntries) head = end - maxEntries;
    while (head < end && now - log.entries[head]!.storedAt > maxAgeMs) head++;
    this.dropHead(log, head);
  }

  /** Drops the log's entries before index `head`. */
  private dropHead(log: Log, head: number): void {
    if (head <= log.head) return;
    const end = log.entries.length;
    for (let i = log.head; i < head; i++) {
      const entry = log.entries[i]!;
      this.logBytes -= entryBytes(entry.frame);
      if (entry.frame.type === 'message') this.unindexMessage(entry.frame.msg_id, entry);
    }
    this.entryCount -= head - log.head;
    log.head = head;
    // Compact once the dropped prefix outweighs what is kept.
    if (head > 64 && head * 2 > end) {
      log.entries = log.entries.slice(head);
      log.head = 0;
    }
  }

  private indexConversation(userId: string, logId: LogId): void {
    let set = this.conversationsByUser.get(userId);
    if (set === undefined) {
      set = new Set();
      this.conversationsByUser.set(userId, set);
    }
    set.add(logId);
  }

  /** Drops the store's oldest entries, across all logs, until the logs are within `maxLogBytes`. */
  private dropOldest(): void {
    while (this.logBytes > this.maxLogBytes && this.ageHead < this.ageLogs.length) {
      const log = this.ageLogs[this.ageHead]!;
      const pos = this.agePositions[this.ageHead]!;
      this.ageHead++;
      const first = log.entries[log.head];
      // Positions are contiguous within a log: the entry at `pos` is at index head + (pos - first.pos).
      if (first !== undefined && first.pos <= pos) this.dropHead(log, log.head + (pos - first.pos) + 1);
    }
    this.compactAgeQueue();
  }

  /** Forgets the queue's slots of dropped entries once they are most of it (O(1) a message, amortised). */
  private compactAgeQueue(): void {
    const slots = this.ageLogs.length - this.ageHead;
    if (slots <= 2 * this.entryCount + 1024 && (this.ageHead < 1024 || this.ageHead < slots)) return;
    const logs: Log[] = [];
    const positions: number[] = [];
    for (let i = this.ageHead; i < this.ageLogs.length; i++) {
      const log = this.ageLogs[i]!;
      const pos = this.agePositions[i]!;
      const first = log.entries[log.head];
      if (first !== undefined && first.pos <= pos) {
        logs.push(log);
        positions.push(pos);
      }
    }
    this.ageLogs = logs;
    this.agePositions = positions;
    this.ageHead = 0;
  }

  private indexMessage(msgId: string, entry: StoredEntry): void {
    const found = this.messageIndex.get(msgId);
    if (found === undefined) this.messageIndex.set(msgId, entry);
    else if (Array.isArray(found)) found.push(entry);
    else this.messageIndex.set(msgId, [found, entry]);
  }

  private unindexMessage(msgId: string, entry: StoredEntry): void {
    const found = this.messageIndex.get(msgId);
    if (found === undefined) return;
    if (!Array.isArray(found)) {
      if (found === entry) this.messageIndex.delete(msgId);
      return;
    }
    const at = found.indexOf(entry);
    if (at >= 0) found.splice(at, 1);
    if (found.length === 1) this.messageIndex.set(msgId, found[0]!);
    else if (found.length === 0) this.messageIndex.delete(msgId);
  }
}

function locationOf(entry: StoredEntry): MessageLocation {
  return { conversation: entry.log, pos: entry.pos, senderId: (entry.frame as MessageFrame).sender_id };
}

function deviceKey(userId: string, deviceId: string): string {
  return `${userId}\u0000${deviceId}`;
}
