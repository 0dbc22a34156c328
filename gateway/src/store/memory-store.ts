/**
 * The single-node store: every log, cursor and set in this process's memory.
 * A real engine, not a test double: bounded by the retention settings and
 * swept by one timer. Nothing survives a restart; use Redis for that.
 */
import { frameAt, type LogEntry } from '../conversation-log/entry.ts';
import { groupLog, membershipLog, type LogId } from '../conversation-log/log-id.ts';
import type { LoggedFrame } from '../protocol/frames.ts';
import { DedupWindow } from './dedup-window.ts';
import type { AppendOptions, AppendResult, GroupFloors, LogPage, MessageLocation, RateLimit, Retention, Store } from './store.ts';

interface Log {
  entries: LogEntry[];
  /** Index in `entries` of the oldest retained entry; trimmed entries are dropped in bulk. */
  head: number;
  lastPos: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

const SWEEP_INTERVAL_MS = 10_000;
/** Dedup keys kept at most by default: about 100 MB of heap (~210 bytes a key). */
export const DEFAULT_MAX_DEDUP_KEYS = 500_000;

export class MemoryStore implements Store {
  readonly name = 'memory';
  readonly outbox = null;
  private readonly retention: Retention;
  private readonly rate: RateLimit;
  private readonly logs = new Map<LogId, Log>();
  private readonly dedup: DedupWindow;
  /** msg_id -> where it was stored; an array only when several senders used one msg_id (one object per message). */
  private readonly messageIndex = new Map<string, MessageLocation | MessageLocation[]>();
  private readonly conversationsByUser = new Map<string, Set<LogId>>();
  private readonly cursorsByDevice = new Map<string, Map<LogId, number>>();
  private readonly members = new Map<string, Map<string, GroupFloors>>();
  private readonly groupsByUser = new Map<string, Map<string, GroupFloors>>();
  private readonly buckets = new Map<string, Bucket>();
  private readonly sweeper: NodeJS.Timeout;

  /** `maxDedupKeys`: dedup keys kept at most; beyond it the oldest are forgotten before their TTL. */
  constructor(retention: Retention, rate: RateLimit, maxDedupKeys = DEFAULT_MAX_DEDUP_KEYS) {
    this.retention = retention;
    this.rate = rate;
    // Bounded by count too: at the defaults a day of keys outgrows the heap, and a
    // large old generation makes the full-GC pauses that show as latency spikes.
    this.dedup = new DedupWindow(retention.dedupTtlMs, maxDedupKeys);
    this.sweeper = setInterval(() => this.sweep(Date.now()), SWEEP_INTERVAL_MS);
    this.sweeper.unref();
  }

  async start(): Promise<void> {}

  async healthy(): Promise<boolean> {
    return true;
  }

  async append(logId: LogId, frame: LoggedFrame, options: AppendOptions = {}): Promise<AppendResult> {
    const now = Date.now();
    if (options.dedupKey !== undefined) {
      const seen = this.dedup.get(options.dedupKey, now);
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
    const entry: LogEntry = { pos, frame: frameAt(logId, pos, frame), storedAt: now };
    if (options.senderDevice !== undefined) entry.senderDevice = options.senderDevice;
    if (options.targetDevice !== undefined) entry.targetDevice = options.targetDevice;
    log.entries.push(entry);
    if (options.dedupKey !== undefined) this.dedup.set(options.dedupKey, pos, now);
    if (frame.type === 'message') this.indexMessage(frame.msg_id, { conversation: logId, pos, senderId: frame.sender_id });
    this.trim(logId, log, now);
    return { status: 'appended', entry };
  }

  async read(logId: LogId, afterPos: number, limit: number): Promise<LogPage> {
    const log = this.logs.get(logId);
    if (log === undefined) return { entries: [], firstPos: 0, lastPos: 0 };
    this.trim(logId, log, Date.now());
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
    return Array.isArray(found) ? [...found] : [found];
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
    for (const [id, log] of this.logs) this.trim(id, log, now);
  }

  private trim(logId: LogId, log: Log, now: number): void {
    const { maxEntries, maxAgeMs } = this.retention;
    let head = log.head;
    const end = log.entries.length;
    if (end - head > maxEntries) head = end - maxEntries;
    while (head < end && now - log.entries[head]!.storedAt > maxAgeMs) head++;
    if (head === log.head) return;
    for (let i = log.head; i < head; i++) {
      const frame = log.entries[i]!.frame;
      if (frame.type === 'message') this.unindexMessage(frame.msg_id, logId, log.entries[i]!.pos);
    }
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

  private indexMessage(msgId: string, location: MessageLocation): void {
    const found = this.messageIndex.get(msgId);
    if (found === undefined) this.messageIndex.set(msgId, location);
    else if (Array.isArray(found)) found.push(location);
    else this.messageIndex.set(msgId, [found, location]);
  }

  private unindexMessage(msgId: string, logId: LogId, pos: number): void {
    const found = this.messageIndex.get(msgId);
    if (found === undefined) return;
    if (!Array.isArray(found)) {
      if (found.pos === pos && found.conversation === logId) this.messageIndex.delete(msgId);
      return;
    }
    const at = found.findIndex((l) => l.pos === pos && l.conversation === logId);
    if (at >= 0) found.splice(at, 1);
    if (found.length === 1) this.messageIndex.set(msgId, found[0]!);
    else if (found.length === 0) this.messageIndex.delete(msgId);
  }
}

function deviceKey(userId: string, deviceId: string): string {
  return `${userId}\u0000${deviceId}`;
}
