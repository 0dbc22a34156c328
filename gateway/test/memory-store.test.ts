import { afterEach, describe, expect, it } from 'vitest';
import { MemoryStore } from '../src/store/memory-store.ts';
import { privateLog } from '../src/store/store.ts';
import type { MessageFrame } from '../src/protocol/frames.ts';

const message = (msgId: string, sender = 'alice'): MessageFrame => ({
  type: 'message',
  msg_id: msgId,
  sender_id: sender,
  recipient_id: 'bob',
  recipient_type: 'user',
  content: 'x',
  sequence_number: 0,
  timestamp: Date.now(),
});

describe('memory store', () => {
  let store: MemoryStore;
  const make = (maxEntries = 100, maxAgeMs = 60_000, limit = 100): MemoryStore =>
    (store = new MemoryStore({ maxEntries, maxAgeMs, dedupTtlMs: 60_000 }, { limit, windowMs: 60_000 }));
  afterEach(async () => store.close());

  it('numbers a conversation log from 1 and writes the number into the message', async () => {
    make();
    const log = privateLog('bob', 'alice');
    expect(log).toBe('d:alice:bob');
    const first = await store.append(log, message('m1'), { participants: ['alice', 'bob'] });
    const second = await store.append(log, message('m2'), {});
    expect(first.status === 'appended' && first.entry.pos).toBe(1);
    expect(second.status === 'appended' && second.entry.frame).toMatchObject({ sequence_number: 2 });
    expect(await store.userConversations('bob')).toEqual([log]);
  });

  it('refuses a repeated dedup key and reports the original position', async () => {
    make();
    await store.append('d:a:b', message('m1'), { dedupKey: 'alice:m1' });
    expect(await store.append('d:a:b', message('m1'), { dedupKey: 'alice:m1' })).toEqual({ status: 'duplicate', pos: 1 });
    expect(await store.lastPositions(['d:a:b', 'd:x:y'])).toEqual([1, 0]);
  });

  it('reads after a position, pages, and keeps numbering after retention drops old entries', async () => {
    make(3);
    for (let i = 1; i <= 5; i++) await store.append('d:a:b', message(`m${i}`));
    const page = await store.read('d:a:b', 0, 10);
    expect(page.firstPos).toBe(3);
    expect(page.entries.map((e) => e.pos)).toEqual([3, 4, 5]);
    expect((await store.read('d:a:b', 3, 1)).entries.map((e) => e.pos)).toEqual([4]);
    expect(await store.findMessage('m1')).toEqual([]);
    expect(await store.findMessage('m5')).toEqual([{ conversation: 'd:a:b', pos: 5, senderId: 'alice' }]);
  });

  it('drops entries older than the retention age', async () => {
    make(100, 1000);
    await store.append('d:a:b', message('old'));
    store.sweep(Date.now() + 2000);
    const page = await store.read('d:a:b', 0, 10);
    expect(page.entries).toEqual([]);
    expect(page.lastPos).toBe(1);
  });

  it('moves cursors forward only', async () => {
    make();
    await store.advanceCursor('bob', 'phone', 'd:a:b', 5);
    await store.advanceCursor('bob', 'phone', 'd:a:b', 3);
    expect((await store.cursors('bob', 'phone')).get('d:a:b')).toBe(5);
    expect((await store.cursors('bob', 'laptop')).size).toBe(0);
  });

  it('records the group log position at join as the member’s floor', async () => {
    make();
    await store.addMember('team', 'alice');
    await store.append('g:team', message('m1'));
    expect(await store.addMember('team', 'bob')).toEqual({ added: true, floor: 1 });
    expect(await store.addMember('team', 'bob')).toEqual({ added: false, floor: 1 });
    expect((await store.userGroups('bob')).get('team')).toBe(1);
    expect(await store.removeMember('team', 'bob')).toBe(true);
    expect(await store.isMember('team', 'bob')).toBe(false);
    expect(await store.groupCount()).toBe(1);
  });

  it('limits a user to the configured messages per window, refilling over time', async () => {
    make(100, 60_000, 2);
    const t = 1_000_000;
    expect(await store.consumeRate('alice', t)).toBe(true);
    expect(await store.consumeRate('alice', t)).toBe(true);
    expect(await store.consumeRate('alice', t)).toBe(false);
    expect(await store.consumeRate('bob', t)).toBe(true);
    expect(await store.consumeRate('alice', t + 30_000)).toBe(true);
  });
});
