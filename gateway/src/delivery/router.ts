/**
 * Live delivery to a user wherever the user's devices are. One node has them
 * all: `LocalRouter` writes to this node's sockets. In a fleet,
 * `fleet/fleet-router.ts` also forwards to the nodes holding the others.
 */
import type { LogEntry } from '../store/store.ts';
import type { LocalDelivery } from './local-delivery.ts';

export interface Router {
  /**
   * Delivers to every device of the user that may see the entry, except
   * `exceptDevice`; resolves with how many devices were sent it. `text` is
   * the entry's frame as encoded for sockets.
   */
  toUser(userId: string, logId: string, entry: LogEntry, text: string, exceptDevice?: string): Promise<number>;
}

/** A node alone: every device is on it. */
export class LocalRouter implements Router {
  private readonly local: LocalDelivery;

  constructor(local: LocalDelivery) {
    this.local = local;
  }

  toUser(userId: string, logId: string, entry: LogEntry, text: string, exceptDevice?: string): Promise<number> {
    return Promise.resolve(this.local.toUser(userId, logId, entry, text, exceptDevice));
  }
}
