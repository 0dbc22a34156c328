/**
 * Live delivery to a user wherever the user's devices are. One node has them
 * all: `LocalUserDelivery` writes to this node's sockets. In a fleet,
 * `fleet/fleet-user-delivery.ts` also forwards to the nodes holding the others.
 */
import type { LogId } from '../conversation-log/log-id.ts';
import type { LogEntry } from '../conversation-log/entry.ts';
import type { LocalDelivery } from './local-delivery.ts';
import type { TextFrame } from '../connections/text-frame.ts';

export interface UserDelivery {
  /**
   * Gives the entry to every device of the user (one that sent it, or that
   * it is not meant for, is only moved on in the log); resolves with how many
   * devices may see it. `text` is the entry's frame as encoded for sockets
   * (its UTF-8 bytes when it goes to more than one user: encoded once).
   */
  toUser(userId: string, logId: LogId, entry: LogEntry, text: string | TextFrame): number | Promise<number>;
}

/** A node alone: every device is on it. */
export class LocalUserDelivery implements UserDelivery {
  private readonly local: LocalDelivery;

  constructor(local: LocalDelivery) {
    this.local = local;
  }

  toUser(userId: string, logId: LogId, entry: LogEntry, text: string | TextFrame): number {
    // The sending device too: nothing is written to it, but its place in the log moves on.
    return this.local.toUser(userId, logId, entry, text);
  }
}
