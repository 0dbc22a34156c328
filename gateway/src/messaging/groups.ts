/**
 * Group membership changes (admin API). Each join or leave is appended once
 * to the group's membership log (m:<group>) and fanned out through the bus
 * like a group message, to the members as they stand after the change: a join
 * reaches the joiner too, a leave the members who remain. The user who left
 * is no longer a member, so that user (and only that one) is told in their own
 * notification log. One or two store appends per change, whatever the size of
 * the group; members who were offline catch up from m:<group> on connect,
 * from their join on.
 */
import type { Dispatcher } from '../delivery/dispatcher.ts';
import type { MembershipChangeFrame } from '../protocol/frames.ts';
import { membershipLog } from '../conversation-log/log-id.ts';
import type { Store } from '../store/store.ts';
import { dependency } from './dependency.ts';
import type { Notifier } from './notifier.ts';

export class Groups {
  private readonly store: Store;
  private readonly dispatcher: Dispatcher;
  private readonly notifier: Notifier;

  constructor(store: Store, dispatcher: Dispatcher, notifier: Notifier) {
    this.store = store;
    this.dispatcher = dispatcher;
    this.notifier = notifier;
  }

  /** Adds a member; false when the user already was one (nothing is announced). */
  async join(groupId: string, userId: string): Promise<boolean> {
    const { added } = await dependency('store', this.store.addMember(groupId, userId));
    if (added) await this.announce(change(groupId, userId, 'join'));
    return added;
  }

  /** Removes a member; false when the user was not one. */
  async leave(groupId: string, userId: string): Promise<boolean> {
    const removed = await dependency('store', this.store.removeMember(groupId, userId));
    if (removed) {
      const frame = change(groupId, userId, 'leave');
      await Promise.all([this.announce(frame), this.notifier.notify(userId, { ...frame })]);
    }
    return removed;
  }

  members(groupId: string): Promise<string[]> {
    return dependency('store', this.store.groupMembers(groupId));
  }

  /**
   * One entry in m:<group>, one bus record, driven from the outbox like a
   * group message: once the entry is stored the change is made, whatever
   * the bus's state (online members get it live once the bus takes it).
   */
  private async announce(frame: MembershipChangeFrame): Promise<void> {
    const logId = membershipLog(frame.group_id);
    const result = await dependency('store', this.store.append(logId, frame, { outbox: true }));
    if (result.status === 'appended') this.dispatcher.dispatch(logId, result.entry, result.outboxId);
  }
}

function change(groupId: string, userId: string, changeType: 'join' | 'leave'): MembershipChangeFrame {
  return { type: 'membership_change', group_id: groupId, change_type: changeType, user_id: userId, timestamp: Date.now() };
}
