/**
 * This node's share of a group message: the bus hands every node each group
 * event, and each node writes it to its own sockets of the group's members.
 * Encoded once per event; a store failure queues the fan-out for later.
 */
import type { GroupEvent } from '../bus/bus.ts';
import { encodeLogged } from '../protocol/encode.ts';
import { groupLog, type Store } from '../store/store.ts';
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
    this.retries.attempt(`fan out g:${event.groupId}#${event.entry.pos}`, () => this.deliver(event)).catch(() => {});
  };

  private async deliver({ groupId, entry }: GroupEvent): Promise<void> {
    const members = await this.store.groupMembers(groupId);
    const logId = groupLog(groupId);
    const text = encodeLogged(entry.frame);
    for (const member of members) this.local.toUser(member, logId, entry, text);
  }
}
