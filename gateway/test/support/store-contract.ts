/**
 * The behaviour every Store engine must have, run against each of them:
 * `storeContract('memory', ...)` and `storeContract('redis', ...)`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import type { MembershipChangeFrame, MessageFrame } from '../../src/protocol/frames.ts';
import { privateLog } from '../../src/conversation-log/log-id.ts';
import type { AppendResult, GroupFloors, MessageLocation, RateLimit, Retention, Store } from '../../src/store/store.ts';

export interface StoreSettings {
  retention: Retention;
  rate: RateLimit;
}

/**
 * Opens a started store. Without `sharedWith`, on a fresh empty backend;
 * with it, on the same backend as that store (another node of the fleet).
 */
export type OpenStore = (settings: StoreSettings, sharedWith?: Store) => Promise<Store>;

export function membershipChange(groupId: string, userId: string, changeType: 'join' | 'leave' = 'join'): MembershipChangeFrame {
  return { type: 'membership_change', group_id: groupId, change_type: changeType, user_id: userId, timestamp: Date.now() };
}

export function message(msgId: string, sender = 'alice', recipient = 'bob'): MessageFrame {
  return {
    type: 'message',
    msg_id: msgId,
    sender_id: sender,
    recipient_id: recipient,
    recipient_type: 'user',
    content: 'x',
    sequence_number: 0,
    timestamp: Date.now(),
  };
}

function settings({ maxEntries = 100, maxAgeMs = 60_000, limit = 100 } = {}): StoreSettings {
  return { retention: { maxEntries, maxAgeMs, dedupTtlMs: 60_000 }, rate: { limit, windowMs: 60_000 } };
}

function byPosition(locations: MessageLocation[]): MessageLocation[] {
  return [...locations].sort((a, b) => a.pos - b.pos || a.conversation.localeCompare(b.conversation));
}

export function storeContract(name: string, open: OpenStore): void {
  describe(`${name} store`, () => {
    let opened: Store[] = [];
    const make = async (s: StoreSettings = settings(), sharedWith?: Store): Promise<Store> => {
      const store = await open(s, sharedWith);
      opened.push(store);
      return store;
    };
    afterEach(async () => {
      await Promise.all(opened.map((store) => store.close()));
      opened = [];
    });

    it('numbers a conversation log from 1: the entry carries the number, the caller’s frame is left alone', async () => {
      const store = await make();
      const log = privateLog('bob', 'alice');
      expect(log).toBe('d:alice:bob');
      const frame = message('m1');
      const first = await store.append(log, frame, { participants: ['alice', 'bob'] });
      const second = await store.append(log, message('m2'), {});
      expect(first.status === 'appended' && first.entry.pos).toBe(1);
      expect(first.status === 'appended' && first.entry.frame).toEqual({ ...frame, sequence_number: 1 });
      expect(frame.sequence_number).toBe(0);
      expect(second.status === 'appended' && second.entry.frame).toMatchObject({ sequence_number: 2 });
      expect(await store.userConversations('bob')).toEqual([log]);
      expect(await store.userConversations('alice')).toEqual([log]);
      expect(await store.userConversations('carol')).toEqual([]);
    });

    it('reads back what was appended: frame, devices, store time, numbers intact', async () => {
      const store = await make();
      const before = Date.now();
      const frame = message('m1');
      frame.metadata = { big: 12345678901234567, ratio: 0.1, nested: { list: [1, 2.5, -3e-7] }, text: 'é ✓ "q"' };
      await store.append('d:alice:bob', frame, { senderDevice: 'phone', participants: ['alice', 'bob'] });
      await store.append('d:alice:bob', message('m2', 'bob', 'alice'), { targetDevice: 'laptop' });
      const page = await store.read('d:alice:bob', 0, 10);
      expect(page).toMatchObject({ firstPos: 1, lastPos: 2 });
      const [first, second] = page.entries;
      expect(first).toMatchObject({ pos: 1, senderDevice: 'phone', frame: { ...frame, sequence_number: 1 } });
      expect(first!.targetDevice).toBeUndefined();
      expect(first!.storedAt).toBeGreaterThanOrEqual(before - 1000);
      expect(first!.storedAt).toBeLessThanOrEqual(Date.now() + 1000);
      expect(second).toMatchObject({ pos: 2, targetDevice: 'laptop', frame: { msg_id: 'm2', sequence_number: 2 } });
      expect(second!.senderDevice).toBeUndefined();
    });

    it('keeps the caller’s sequence_number in logs that do not number messages', async () => {
      const store = await make();
      const pushed = { ...message('p1', 'service', 'bob'), sequence_number: 77 };
      const appended = await store.append('p:bob', pushed, { targetDevice: 'phone' });
      expect(appended.status === 'appended' && appended.entry).toMatchObject({ pos: 1, frame: { sequence_number: 77 } });
      const change: MembershipChangeFrame = { type: 'membership_change', group_id: 'team', change_type: 'join', user_id: 'bob', timestamp: 5 };
      await store.append('g:team', change);
      expect((await store.read('p:bob', 0, 10)).entries[0]!.frame).toMatchObject({ sequence_number: 77 });
      expect((await store.read('g:team', 0, 10)).entries[0]!.frame).toEqual(change);
      expect(await store.findMessage('p1')).toEqual([{ conversation: 'p:bob', pos: 1, senderId: 'service' }]);
    });

    it('refuses a repeated dedup key and reports the original position', async () => {
      const store = await make();
      await store.append('d:a:b', message('m1'), { dedup: { scope: 'alice', id: 'm1' } });
      expect(await store.append('d:a:b', message('m1'), { dedup: { scope: 'alice', id: 'm1' } })).toEqual({ status: 'duplicate', pos: 1 });
      expect(await store.lastPositions(['d:a:b', 'd:x:y'])).toEqual([1, 0]);
      expect(await store.lastPositions([])).toEqual([]);
      const other = await store.append('d:a:b', message('m2'), { dedup: { scope: 'alice', id: 'never-sent' } });
      expect(other.status === 'appended' && other.entry.pos).toBe(2);
    });

    it('gives concurrent appends to one log distinct, contiguous positions', async () => {
      const store = await make();
      const results = await Promise.all(
        Array.from({ length: 100 }, (_, i) => store.append('g:team', message(`m${i}`, `u${i % 7}`, 'team'))),
      );
      const positions = results.map((r) => (r.status === 'appended' ? r.entry.pos : -1)).sort((a, b) => a - b);
      expect(positions).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
      const page = await store.read('g:team', 0, 1000);
      expect(page.entries.map((e) => e.pos)).toEqual(positions);
      for (const entry of page.entries) expect(entry.frame).toMatchObject({ sequence_number: entry.pos });
    });

    it('appends a message once when 50 callers race with one dedup key', async () => {
      const store = await make();
      const results = await Promise.all(
        Array.from({ length: 50 }, () => store.append('d:alice:bob', message('m1'), { dedup: { scope: 'alice', id: 'm1' } })),
      );
      const appended = results.filter((r) => r.status === 'appended');
      expect(appended).toHaveLength(1);
      expect(results.filter((r) => r.status === 'duplicate')).toEqual(Array(49).fill({ status: 'duplicate', pos: 1 }));
      expect(await store.lastPositions(['d:alice:bob'])).toEqual([1]);
    });

    it('reads after a position, pages, and keeps numbering after retention drops old entries', async () => {
      const store = await make(settings({ maxEntries: 3 }));
      for (let i = 1; i <= 5; i++) await store.append('d:a:b', message(`m${i}`));
      const page = await store.read('d:a:b', 0, 10);
      expect(page.firstPos).toBe(3);
      expect(page.lastPos).toBe(5);
      expect(page.entries.map((e) => e.pos)).toEqual([3, 4, 5]);
      expect((await store.read('d:a:b', 3, 1)).entries.map((e) => e.pos)).toEqual([4]);
      expect((await store.read('d:a:b', 5, 10)).entries).toEqual([]);
      expect((await store.read('d:a:b', 0, 0)).entries).toEqual([]);
      expect(await store.findMessage('m1')).toEqual([]);
      expect(await store.findMessage('m5')).toEqual([{ conversation: 'd:a:b', pos: 5, senderId: 'alice' }]);
    });

    it('keeps a group’s membership log under the same retention, numbered on its own', async () => {
      const store = await make(settings({ maxEntries: 3 }));
      for (let i = 1; i <= 5; i++) await store.append('m:team', membershipChange('team', `u${i}`));
      await store.append('g:team', message('m1', 'u1', 'team'));
      const page = await store.read('m:team', 0, 10);
      expect(page).toMatchObject({ firstPos: 3, lastPos: 5 });
      expect(page.entries.map((e) => (e.frame as MembershipChangeFrame).user_id)).toEqual(['u3', 'u4', 'u5']);
      expect((await store.read('g:team', 0, 10)).entries[0]!.frame).toMatchObject({ sequence_number: 1 });
    });

    it('answers an unknown log with an empty page at position 0', async () => {
      const store = await make();
      expect(await store.read('d:x:y', 0, 10)).toEqual({ entries: [], firstPos: 0, lastPos: 0 });
    });

    it('drops entries older than the retention age and numbers on after them', async () => {
      const store = await make(settings({ maxAgeMs: 300 }));
      for (let i = 1; i <= 20; i++) await store.append('d:a:b', message(`old${i}`));
      await sleep(450);
      await store.append('d:a:b', message('new1'));
      await store.append('d:a:b', message('new2'));
      const page = await store.read('d:a:b', 0, 10);
      expect(page).toMatchObject({ firstPos: 21, lastPos: 22 });
      expect(page.entries.map((e) => e.pos)).toEqual([21, 22]);
      expect(await store.findMessage('old20')).toEqual([]);
      await sleep(450);
      expect(await store.read('d:a:b', 0, 10)).toEqual({ entries: [], firstPos: 0, lastPos: 22 });
      const next = await store.append('d:a:b', message('newer'));
      expect(next.status === 'appended' && next.entry.pos).toBe(23);
    });

    it('finds every place a msg_id was stored', async () => {
      const store = await make();
      await store.append('d:alice:bob', message('shared', 'alice', 'bob'));
      await store.append('d:alice:bob', message('other', 'alice', 'bob'));
      await store.append('d:bob:carol', message('shared', 'carol', 'bob'));
      expect(byPosition(await store.findMessage('shared'))).toEqual([
        { conversation: 'd:alice:bob', pos: 1, senderId: 'alice' },
        { conversation: 'd:bob:carol', pos: 1, senderId: 'carol' },
      ]);
      expect(await store.findMessage('other')).toEqual([{ conversation: 'd:alice:bob', pos: 2, senderId: 'alice' }]);
      expect(await store.findMessage('nothing')).toEqual([]);
    });

    it('moves cursors forward only', async () => {
      const store = await make();
      await store.advanceCursor('bob', 'phone', 'd:a:b', 5);
      await store.advanceCursor('bob', 'phone', 'd:a:b', 3);
      await store.advanceCursor('bob', 'phone', 'g:team', 2);
      await Promise.all([7, 9, 8, 6].map((pos) => store.advanceCursor('bob', 'phone', 'g:team', pos)));
      expect(await store.cursors('bob', 'phone')).toEqual(new Map([['d:a:b', 5], ['g:team', 9]]));
      expect((await store.cursors('bob', 'laptop')).size).toBe(0);
    });

    it('records the positions of the group’s logs at join as the member’s floors', async () => {
      const store = await make();
      expect(await store.addMember('team', 'alice')).toEqual({ added: true, floor: { messages: 0, membership: 0 } });
      await store.append('m:team', membershipChange('team', 'alice'));
      await store.append('g:team', message('m1', 'alice', 'team'));
      await store.append('g:team', message('m2', 'alice', 'team'));
      const floor: GroupFloors = { messages: 2, membership: 1 };
      expect(await store.addMember('team', 'bob')).toEqual({ added: true, floor });
      // The joiner's own join comes after its floor; the messages' numbering is untouched.
      const join = await store.append('m:team', membershipChange('team', 'bob'));
      expect(join.status === 'appended' && join.entry.pos).toBe(2);
      expect(await store.addMember('team', 'bob')).toEqual({ added: false, floor });
      expect((await store.userGroups('bob')).get('team')).toEqual(floor);
      expect(await store.lastPositions(['g:team', 'm:team'])).toEqual([2, 2]);
      expect((await store.groupMembers('team')).sort()).toEqual(['alice', 'bob']);
      expect(await store.isMember('team', 'bob')).toBe(true);
      expect(await store.removeMember('team', 'bob')).toBe(true);
      expect(await store.removeMember('team', 'bob')).toBe(false);
      expect(await store.isMember('team', 'bob')).toBe(false);
      expect((await store.userGroups('bob')).size).toBe(0);
      expect(await store.groupCount()).toBe(1);
    });

    it('counts a group while it has members', async () => {
      const store = await make();
      await store.addMember('a', 'alice');
      await store.addMember('b', 'alice');
      await store.addMember('b', 'bob');
      expect(await store.groupCount()).toBe(2);
      const none: GroupFloors = { messages: 0, membership: 0 };
      expect(await store.userGroups('alice')).toEqual(new Map([['a', none], ['b', none]]));
      await store.removeMember('b', 'alice');
      expect(await store.groupCount()).toBe(2);
      await store.removeMember('b', 'bob');
      expect(await store.groupCount()).toBe(1);
      expect(await store.groupMembers('b')).toEqual([]);
      expect(await store.removeMember('nowhere', 'alice')).toBe(false);
    });

    it('gives every concurrent joiner the floors of both logs as they stood at that join', async () => {
      const store = await make();
      const joins: Promise<{ added: boolean; floor: GroupFloors }>[] = [];
      const appends: Promise<unknown>[] = [];
      for (let i = 0; i < 20; i++) {
        appends.push(store.append('g:team', message(`m${i}`, 'alice', 'team')));
        joins.push(store.addMember('team', `u${i}`));
        appends.push(store.append('m:team', membershipChange('team', `u${i}`)));
      }
      await Promise.all(appends);
      const floors = (await Promise.all(joins)).map(({ added, floor }) => {
        expect(added).toBe(true);
        for (const pos of [floor.messages, floor.membership]) {
          expect(pos).toBeGreaterThanOrEqual(0);
          expect(pos).toBeLessThanOrEqual(20);
        }
        return floor;
      });
      // Joins run in order, so each later joiner's floors are at or past the earlier's.
      for (let i = 1; i < 20; i++) {
        expect(floors[i]!.messages).toBeGreaterThanOrEqual(floors[i - 1]!.messages);
        expect(floors[i]!.membership).toBeGreaterThanOrEqual(floors[i - 1]!.membership);
      }
      const stored = await Promise.all(Array.from({ length: 20 }, (_, i) => store.userGroups(`u${i}`)));
      expect(stored.map((groups) => groups.get('team'))).toEqual(floors);
    });

    it('takes a rejoining member’s floors afresh, past what happened while away', async () => {
      const store = await make();
      await store.addMember('team', 'bob');
      await store.append('m:team', membershipChange('team', 'bob'));
      await store.removeMember('team', 'bob');
      await store.append('m:team', membershipChange('team', 'bob', 'leave'));
      await store.append('m:team', membershipChange('team', 'carol'));
      await store.append('g:team', message('m1', 'carol', 'team'));
      expect(await store.addMember('team', 'bob')).toEqual({ added: true, floor: { messages: 1, membership: 3 } });
      expect((await store.userGroups('bob')).get('team')).toEqual({ messages: 1, membership: 3 });
    });

    /** A send as the gateway makes it: rate and membership checked in the append itself. */
    const send = (store: Store, sender: string, at: number, msgId: string, group?: string): Promise<AppendResult> =>
      store.append(group === undefined ? privateLog(sender, 'zed') : `g:${group}`, message(msgId, sender, group ?? 'zed'), {
        dedup: { scope: sender, id: msgId },
        sender: group === undefined ? { userId: sender, now: at } : { userId: sender, now: at, mustBeMemberOf: group },
      });
    const statuses = (results: AppendResult[]): string[] => results.map((r) => (r.status === 'refused' ? r.reason : r.status));

    it('limits a user to the configured messages per window, refilling over time; a retry costs nothing', async () => {
      const store = await make(settings({ limit: 2 }));
      const t = 1_000_000;
      expect(statuses([
        await send(store, 'alice', t, 'a1'),
        await send(store, 'alice', t, 'a1'),
        await send(store, 'alice', t, 'a2'),
        await send(store, 'alice', t, 'a3'),
        await send(store, 'bob', t, 'b1'),
        await send(store, 'alice', t + 30_000, 'a4'),
        await send(store, 'alice', t + 30_000, 'a5'),
      ])).toEqual(['appended', 'duplicate', 'appended', 'rate_limited', 'appended', 'appended', 'rate_limited']);
      // Refused sends store nothing and take no position.
      expect((await store.read(privateLog('alice', 'zed'), 0, 10)).entries.map((e) => e.pos)).toEqual([1, 2, 3]);
    });

    it('takes a group message only from a member, without counting a refusal against the rate', async () => {
      const store = await make(settings({ limit: 1 }));
      await store.addMember('team', 'alice');
      const t = 1_500_000;
      expect(statuses([await send(store, 'mallory', t, 'x1', 'team'), await send(store, 'mallory', t, 'x2', 'team')])).toEqual(['not_member', 'not_member']);
      expect(statuses([await send(store, 'alice', t, 'a1', 'team')])).toEqual(['appended']);
      expect((await store.lastPositions(['g:team']))[0]).toBe(1);
    });

    it('shares one rate limit between the nodes of a fleet', async () => {
      const a = await make(settings({ limit: 3 }));
      const b = await make(settings({ limit: 3 }), a);
      const t = 2_000_000;
      expect(statuses([
        await send(a, 'alice', t, 'm1'),
        await send(b, 'alice', t, 'm2'),
        await send(a, 'alice', t, 'm3'),
        await send(b, 'alice', t, 'm4'),
        await send(a, 'alice', t, 'm5'),
        // A node whose clock lags does not refill the bucket again.
        await send(b, 'alice', t - 30_000, 'm6'),
      ])).toEqual(['appended', 'appended', 'appended', 'rate_limited', 'rate_limited', 'rate_limited']);
    });

    it('shares logs, cursors and groups between the nodes of a fleet', async () => {
      const a = await make();
      const b = await make(settings(), a);
      await a.append('d:alice:bob', message('m1'), { dedup: { scope: 'alice', id: 'm1' }, participants: ['alice', 'bob'] });
      expect(await b.append('d:alice:bob', message('m1'), { dedup: { scope: 'alice', id: 'm1' } })).toEqual({ status: 'duplicate', pos: 1 });
      expect(await b.userConversations('bob')).toEqual(['d:alice:bob']);
      await b.advanceCursor('bob', 'phone', 'd:alice:bob', 1);
      expect(await a.cursors('bob', 'phone')).toEqual(new Map([['d:alice:bob', 1]]));
      await a.addMember('team', 'bob');
      expect(await b.isMember('team', 'bob')).toBe(true);
    });
  });
}
