/**
 * This node's share of a group message or membership change: the bus hands
 * every node each group event, and each node writes it to its own sockets of
 * the group's members, as they stand when the event arrives (so a join
 * reaches the joiner, and a leave the members who remain). Encoded to UTF-8
 * once per event, not once per socket; a store failure queues the fan-out
 * for later.
 */
import type { GroupEvent } from '../bus/bus.ts';
import { encodeLogged } from '../protocol/encode.ts';
import { groupLog, membershipLog, type LogEntry, type Store } from '../store/store.ts';
import type { LocalDelivery } from './local-delivery.ts';
import type { RetryQueue } from './retry-queue.ts';

export class GroupFanout {
  private readonly store: Store;
  private readonly local: LocalDelivery;
  private readonly retries: RetryQueue;

  constructor(store: Store, local: LocalDelivery, retries: RetryQueue) {
    this.store = store;
    this.local = local;
    this.retries = retries;
  }

  /** The bus's handler: never throws, so one bad event cannot stop the consumer. */
  readonly onEvent = (event: GroupEvent): void => {
    const logId = event.log === 'membership' ? membershipLog(event.groupId) : groupLog(event.groupId);
    this.retries.attempt(`fan out ${logId}#${event.entry.pos}`, () => this.deliver(event.groupId, logId, event.entry)).catch(() => {});
  };

  private async deliver(groupId: string, logId: string, entry: LogEntry): Promise<void> {
    const members = await this.store.groupMembers(groupId);
    // `ws` sends a Buffer as it is; a string it would measure and encode again for every socket.
    const text = Buffer.from(encodeLogged(entry.frame));
    for (const member of members) this.local.toUser(member, logId, entry, text);
  }
}
