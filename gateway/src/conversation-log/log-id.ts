/**
 * Log ids: which log an entry lives in, as stored and as carried between
 * nodes. One form per kind of log:
 *
 *   d:<a>:<b>   private conversation of users a <= b (sorted; a == b for notes to oneself)
 *   g:<group>   a group's messages (positions are their sequence numbers)
 *   m:<group>   a group's membership changes (joins and leaves), one entry per change
 *   p:<user>    messages given to PushMessage for one user
 *   n:<user>    notifications for one user (read receipts, leaving a group)
 *
 * Ids cannot contain ':', so each form splits exactly. The string form is
 * the type: a log id is built by the functions below or checked by
 * `parseLogId`, never assembled by hand.
 */
import { isValidId } from '../protocol/validate.ts';

export type PrivateLogId = `d:${string}:${string}`;
export type GroupLogId = `g:${string}`;
export type MembershipLogId = `m:${string}`;
export type PushLogId = `p:${string}`;
export type NotificationLogId = `n:${string}`;
export type LogId = PrivateLogId | GroupLogId | MembershipLogId | PushLogId | NotificationLogId;

/** What a log id names. */
export type LogOwner =
  | { kind: 'private'; users: readonly [string, string] }
  | { kind: 'group'; groupId: string }
  | { kind: 'membership'; groupId: string }
  | { kind: 'push'; userId: string }
  | { kind: 'notifications'; userId: string };

export function privateLog(a: string, b: string): PrivateLogId {
  return a < b ? `d:${a}:${b}` : `d:${b}:${a}`;
}
export function groupLog(groupId: string): GroupLogId {
  return `g:${groupId}`;
}
export function membershipLog(groupId: string): MembershipLogId {
  return `m:${groupId}`;
}
export function pushLog(userId: string): PushLogId {
  return `p:${userId}`;
}
export function notificationLog(userId: string): NotificationLogId {
  return `n:${userId}`;
}

/** The log id in `text` (from a peer, the outbox, a stored index), or undefined when it is not one. */
export function parseLogId(text: string): LogId | undefined {
  return ownerOf(text as LogId) === undefined ? undefined : (text as LogId);
}

/** What `logId` names; undefined when the text is not a well-formed log id. */
export function ownerOf(logId: LogId): LogOwner | undefined {
  const id = logId.slice(2);
  switch (logId.slice(0, 2)) {
    case 'd:': {
      const colon = id.indexOf(':');
      const [a, b] = [id.slice(0, colon), id.slice(colon + 1)];
      return colon > 0 && isValidId(a) && isValidId(b) && a <= b ? { kind: 'private', users: [a, b] } : undefined;
    }
    case 'g:':
      return isValidId(id) ? { kind: 'group', groupId: id } : undefined;
    case 'm:':
      return isValidId(id) ? { kind: 'membership', groupId: id } : undefined;
    case 'p:':
      return isValidId(id) ? { kind: 'push', userId: id } : undefined;
    case 'n:':
      return isValidId(id) ? { kind: 'notifications', userId: id } : undefined;
    default:
      return undefined;
  }
}

export function isPrivateLog(logId: LogId): logId is PrivateLogId {
  return logId.startsWith('d:');
}
export function isGroupLog(logId: LogId): logId is GroupLogId {
  return logId.startsWith('g:');
}
export function isMembershipLog(logId: LogId): logId is MembershipLogId {
  return logId.startsWith('m:');
}

/** The group of a g: or m: log, undefined for others. */
export function groupOf(logId: LogId): string | undefined {
  return isGroupLog(logId) || isMembershipLog(logId) ? logId.slice(2) : undefined;
}

/** d: and g: logs number their messages: an entry's position is its message's sequence_number. */
export function numbersMessages(logId: LogId): boolean {
  return isPrivateLog(logId) || isGroupLog(logId);
}

/**
 * Clients ack messages (d:, g:, p:) but not notifications or membership
 * changes (n:, m:): for those, written to the socket is acknowledged, and
 * the device's cursor moves on at once.
 */
export function writtenIsAcknowledged(logId: LogId): boolean {
  return logId.startsWith('n:') || isMembershipLog(logId);
}
