/**
 * Group membership changes (admin API). Each change is announced with a
 * `membership_change` to the members and to the user concerned.
 */
import type { Store } from '../store/store.ts';
import type { Notifier } from './notifier.ts';

export class Groups {
  private readonly store: Store;
  private readonly notifier: Notifier;

  constructor(store: Store, notifier: Notifier) {
    this.store = store;
    this.notifier = notifier;
  }

  /** Adds a member; false when the user already was one (nothing is announced). */
  async join(groupId: string, userId: string): Promise<boolean> {
    const { added } = await this.store.addMember(groupId, userId);
    if (added) await this.announce(groupId, userId, 'join', await this.store.groupMembers(groupId));
    return added;
  }

  /** Removes a member; false when the user was not one. */
  async leave(groupId: string, userId: string): Promise<boolean> {
    const removed = await this.store.removeMember(groupId, userId);
    if (removed) await this.announce(groupId, userId, 'leave', [...(await this.store.groupMembers(groupId)), userId]);
    return removed;
  }

  members(groupId: string): Promise<string[]> {
    return this.store.groupMembers(groupId);
  }

  private async announce(groupId: string, userId: string, changeType: 'join' | 'leave', audience: string[]): Promise<void> {
    const timestamp = Date.now();
    await Promise.all(
      audience.map((member) =>
        this.notifier.notify(member, { type: 'membership_change', group_id: groupId, change_type: changeType, user_id: userId, timestamp }),
      ),
    );
  }
}
