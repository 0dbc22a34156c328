/**
 * Fan-out of group traffic to every gateway node. Each node delivers a group
 * event to its own local members, so one group message costs one publish,
 * not one call per member. Memory for one node; Kafka for a fleet.
 */
import type { LogEntry } from '../store/store.ts';

export interface GroupEvent {
  groupId: string;
  entry: LogEntry;
}

export type GroupEventHandler = (event: GroupEvent) => void;

export interface Bus {
  readonly name: string;
  healthy(): Promise<boolean>;
  /** Resolves once the event is accepted for delivery to every node. */
  publishGroup(event: GroupEvent): Promise<void>;
  /** Registers this node's handler; called once at start. */
  onGroupEvent(handler: GroupEventHandler): void;
  close(): Promise<void>;
}
