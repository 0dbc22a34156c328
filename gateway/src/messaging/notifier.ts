/**
 * Notifications for one user (read receipts, and the user's own leaving of a
 * group: other membership changes go to the group's m: log) go into the
 * user's n: log and to the user's online devices. Clients do not ack them, so
 * a device's cursor in n: moves as each is written; an offline device gets
 * them on connect.
 */
import type { UserDelivery } from '../delivery/user-delivery.ts';
import type { MembershipChangeFrame, ReadReceiptFrame } from '../protocol/frames.ts';
import { encodeLogged } from '../protocol/encode.ts';
import { notificationLog } from '../conversation-log/log-id.ts';
import type { Store } from '../store/store.ts';
import { dependency } from './dependency.ts';

export class Notifier {
  private readonly store: Store;
  private readonly users: UserDelivery;

  constructor(store: Store, users: UserDelivery) {
    this.store = store;
    this.users = users;
  }

  async notify(userId: string, frame: ReadReceiptFrame | MembershipChangeFrame): Promise<void> {
    const logId = notificationLog(userId);
    const result = await dependency('store', this.store.append(logId, frame));
    if (result.status === 'appended') await this.users.toUser(userId, logId, result.entry, encodeLogged(frame));
  }
}
