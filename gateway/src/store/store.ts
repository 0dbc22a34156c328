/**
 * The gateway's durable state: conversation logs (conversation-log/ says
 * what a log id and an entry are) with per-device cursors, dedup, group
 * membership and rate limits. Two implementations: memory (the single-node
 * default) and Redis (shared by a fleet).
 */
import type { LogEntry } from '../conversation-log/entry.ts';
import type { LogId } from '../conversation-log/log-id.ts';
import type { LoggedFrame } from '../protocol/frames.ts';

export interface AppendOptions {
  /**
   * Refuse the append when (scope, id) was seen within the dedup window: the
   * id is the client's msg_id, the scope whose ids are unique (the sender).
   */
  dedup?: { scope: string; id: string };
  senderDevice?: string;
  targetDevice?: string;
  /** Users whose conversation index gains this log (private conversations). */
  participants?: readonly string[];
  /**
   * Also record the entry in this node's outbox, in the same atomic step, so
   * what must follow it (live delivery, the message-log record) survives a
   * crash of this node (stores without an outbox ignore it).
   */
  outbox?: boolean;
  /**
   * The sending user, checked in the same atomic step, after dedup (so a
   * retry costs nothing): the message counts against the user's rate limit
   * at `now`, and with `mustBeMemberOf` the user must be in that group.
   */
  sender?: { userId: string; now: number; mustBeMemberOf?: string };
}

export type AppendResult =
  | { status: 'appended'; entry: LogEntry; /** Its outbox record, when one was asked for and the store keeps one. */ outboxId?: string }
  | { status: 'duplicate'; pos: number }
  | { status: 'refused'; reason: 'rate_limited' | 'not_member' };

/** An entry whose follow-ups (live delivery, message-log record) are not known to be done. */
export interface OutboxItem {
  id: string;
  log: LogId;
  entry: LogEntry;
}

/**
 * Per node, the entries it stored whose follow-ups are not done yet: written
 * with the entry (AppendOptions.outbox), removed once they are. A node sweeps
 * its own for what it lost track of (a lost reply, an outage), and adopts the
 * outbox of a node that stopped renewing its claim (it died).
 */
export interface Outbox {
  /** Items of `owner`'s outbox recorded more than `olderThanMs` ago (by the store's clock), oldest first. */
  stale(owner: string, olderThanMs: number, count: number): Promise<OutboxItem[]>;
  remove(owner: string, ids: readonly string[]): Promise<void>;
  /** Takes or renews the claim on `owner`'s outbox for `holder`; false while another holds it (the owner itself always gets it). */
  claim(owner: string, holder: string, ttlMs: number): Promise<boolean>;
  /** Forgets `owner`'s outbox if it is empty (after adoption); true when it was. */
  retire(owner: string): Promise<boolean>;
  /** Nodes that have an outbox. */
  owners(): Promise<string[]>;
}

export interface LogPage {
  entries: LogEntry[];
  /** Oldest retained position (0 when the log is empty). */
  firstPos: number;
  lastPos: number;
}

/** Where a message id was stored: a client ack names only the msg_id. */
export interface MessageLocation {
  conversation: LogId;
  pos: number;
  senderId: string;
}

export interface Retention {
  /** Entries kept per log. */
  maxEntries: number;
  /** Entries older than this are dropped. */
  maxAgeMs: number;
  /** How long a (sender, msg_id) pair is remembered for dedup. */
  dedupTtlMs: number;
}

/** Where a member's replay of a group starts: the positions of the group's logs at the join. */
export interface GroupFloors {
  /** Last position of g:<group> (messages) at the join. */
  messages: number;
  /** Last position of m:<group> (membership changes) at the join: the member gets its own join and what follows. */
  membership: number;
}

export interface RateLimit {
  /** Messages allowed per window per user. */
  limit: number;
  windowMs: number;
}

export interface Store {
  /** Name shown in /ready's dependencies. */
  readonly name: string;
  /** Null for a store that does not outlive its node (memory): nothing to recover after a crash. */
  readonly outbox: Outbox | null;
  /** Connects; called once before the node serves. */
  start(): Promise<void>;
  healthy(): Promise<boolean>;

  /**
   * Appends a frame to a log, atomically with its dedup check and position.
   * In d: and g: logs the position is the message's sequence number: the
   * entry's frame carries it (see frameAt), so the sender's ack and every
   * copy carry the same number; the caller's frame is not changed.
   */
  append(log: LogId, frame: LoggedFrame, options?: AppendOptions): Promise<AppendResult>;
  /** Entries with pos > afterPos, oldest first, at most `limit`. */
  read(log: LogId, afterPos: number, limit: number): Promise<LogPage>;
  /** Last position of each log (0 for an empty or unknown log). */
  lastPositions(logs: readonly LogId[]): Promise<number[]>;
  /** The user's private conversation logs (d:), as indexed by append. */
  userConversations(userId: string): Promise<LogId[]>;
  findMessage(msgId: string): Promise<MessageLocation[]>;

  /** The device's cursor per log; a log it never acked in is absent. */
  cursors(userId: string, deviceId: string): Promise<Map<LogId, number>>;
  /** Moves the device's cursor forward (never back). */
  advanceCursor(userId: string, deviceId: string, log: LogId, pos: number): Promise<void>;

  /**
   * Adds a member; `floor` holds the positions of the group's logs at the
   * join, read atomically with it (replay starts after them).
   */
  addMember(groupId: string, userId: string): Promise<{ added: boolean; floor: GroupFloors }>;
  removeMember(groupId: string, userId: string): Promise<boolean>;
  groupMembers(groupId: string): Promise<string[]>;
  isMember(groupId: string, userId: string): Promise<boolean>;
  /** The user's groups, each with the log positions at which the user joined. */
  userGroups(userId: string): Promise<Map<string, GroupFloors>>;
  groupCount(): Promise<number>;

  close(): Promise<void>;
}
