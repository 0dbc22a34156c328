/**
 * The message log and group fan-out. Every accepted message is appended to
 * the log (private ones with `appendPrivate`; group ones with `publishGroup`,
 * whose one record is also the broadcast). Each node delivers a group event
 * to its own local members, so one group message costs one record, not one
 * call per member; a group's membership changes travel the same way. Memory
 * for one node; Kafka for a fleet.
 */
import type { LogId } from '../conversation-log/log-id.ts';
import type { LogEntry } from '../conversation-log/entry.ts';

/** Which of a group's logs an event's entry is in: g:<group> (messages) or m:<group> (membership changes). */
export type GroupLogKind = 'messages' | 'membership';

export interface GroupEvent {
  groupId: string;
  /** Absent means 'messages': group messages leave it out, as records of earlier versions do. */
  log?: GroupLogKind;
  entry: LogEntry;
}

export type GroupEventHandler = (event: GroupEvent) => void;

export interface Bus {
  readonly name: string;
  /** Connects and starts consuming; the node calls it once, after onGroupEvent. */
  start(): Promise<void>;
  healthy(): Promise<boolean>;
  /** Appends an accepted private message to the message log, keyed by its conversation. */
  appendPrivate(logId: LogId, entry: LogEntry): Promise<void>;
  /** Appends a group message or membership change to the log and fans it out; resolves once accepted for every node. */
  publishGroup(event: GroupEvent): Promise<void>;
  /** Registers this node's handler; called once at start. */
  onGroupEvent(handler: GroupEventHandler): void;
  close(): Promise<void>;
}
