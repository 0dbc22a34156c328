/**
 * This node's share of a group message or membership change: the bus hands
 * every node each group event, and each node writes it to its own sockets of
 * the group's members, as they stand when the event arrives (so a join
 * reaches the joiner, and a leave the members who remain). Encoded to UTF-8
 * once per event, not once per socket; a store failure queues the fan-out
 * for later.
 *
 * A large group is written a slice of members per event-loop turn. Each
 * turn's writes leave when it ends (client-socket.ts), so the first members
 * get the message while later slices are still being written, other sockets
 * are served between slices, and messages fanned out together still share
 * one write per socket.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { GroupEvent } from '../bus/bus.ts';
import type { Logger } from '../observability/logger.ts';
import { encodeStored } from '../protocol/encode.ts';
import type { LogEntry } from '../conversation-log/entry.ts';
import { groupLog, membershipLog, type LogId } from '../conversation-log/log-id.ts';
import type { Store } from '../store/store.ts';
import type { LocalDelivery } from './local-delivery.ts';
import type { RetryQueue } from './retry-queue.ts';
import { TextFrame } from '../connections/text-frame.ts';

/** Members written per event-loop turn. */
const SLICE = 1000;

export class GroupFanout {
  private readonly store: Store;
  private readonly local: LocalDelivery;
  private readonly retries: RetryQueue;
  private readonly log: Logger;
  private readonly slice: number;

  constructor(store: Store, local: LocalDelivery, retries: RetryQueue, log: Logger, slice = SLICE) {
    this.store = store;
    this.local = local;
    this.retries = retries;
    this.log = log;
    this.slice = slice;
  }

  /** The bus's handler: never throws, so one bad event cannot stop the consumer. */
  readonly onEvent = (event: GroupEvent): void => {
    const logId = event.log === 'membership' ? membershipLog(event.groupId) : groupLog(event.groupId);
    this.retries.attempt(`fan out ${logId}#${event.entry.pos}`, () => this.deliver(event.groupId, logId, event.entry)).catch(() => {});
  };

  private async deliver(groupId: string, logId: LogId, entry: LogEntry): Promise<void> {
    const json = encodeStored(entry.frame);
    if (json === undefined) {
      // Dropped, not queued: a retry would fail the same way, at the head of the queue.
      this.log.warn('entry_not_encodable', { log: logId, pos: entry.pos });
      return;
    }
    const members = await this.store.groupMembers(groupId);
    // Framed once for every member's socket.
    const text = TextFrame.of(json);
    for (let start = 0; start < members.length; start += this.slice) {
      if (start > 0) await nextTurn();
      const end = Math.min(start + this.slice, members.length);
      for (let i = start; i < end; i++) this.local.toUser(members[i]!, logId, entry, text);
    }
  }
}
