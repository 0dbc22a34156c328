// GroupFanout's slicing, on the real memory store with LocalDelivery replaced
// by a recorder: a large group is written a slice per event-loop turn, other
// work runs between slices, and every member still gets each group's events
// once and in order.
import { describe, expect, it } from 'vitest';
import type { LocalDelivery } from '../../src/delivery/local-delivery.ts';
import { TextFrame } from '../../src/connections/text-frame.ts';
import { GroupFanout } from '../../src/delivery/group-fanout.ts';
import { RetryQueue } from '../../src/delivery/retry-queue.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { MemoryStore } from '../../src/store/memory-store.ts';
import type { LogEntry } from '../../src/conversation-log/entry.ts';

const MEMBERS = 2500;
const SLICE = 1000;

function entry(pos: number): LogEntry {
  return {
    pos,
    storedAt: Date.now(),
    frame: { type: 'message', msg_id: `m${pos}`, sender_id: 'u0', recipient_id: 'big', recipient_type: 'group', content: 'x', sequence_number: pos, timestamp: Date.now() },
  };
}

describe('group fan-out', () => {
  it('writes a slice of members per turn, lets other work run between slices, and keeps each member’s order', async () => {
    const store = new MemoryStore({ maxEntries: 100, maxAgeMs: 60_000, dedupTtlMs: 60_000 }, { limit: 100, windowMs: 60_000 });
    for (let i = 0; i < MEMBERS; i++) await store.addMember('big', `u${i}`);
    const received = new Map<string, number[]>();
    let calls = 0;
    const local = {
      toUser(userId: string, logId: string, e: LogEntry, text: string | TextFrame): number {
        calls++;
        expect(logId).toBe('g:big');
        // Framed once for every member.
        expect(text).toBeInstanceOf(TextFrame);
        received.set(userId, [...(received.get(userId) ?? []), e.pos]);
        return 1;
      },
    } as unknown as LocalDelivery;
    const retries = new RetryQueue({ maxItems: 10, maxAgeMs: 1000, baseDelayMs: 10, maxDelayMs: 10 }, createLogger('error'));
    const fanout = new GroupFanout(store, local, retries, createLogger('error'), SLICE);

    fanout.onEvent({ groupId: 'big', entry: entry(1) });
    fanout.onEvent({ groupId: 'big', entry: entry(2) });
    let atOtherWork = -1;
    setImmediate(() => (atOtherWork = calls));
    while (calls < 2 * MEMBERS) await new Promise((resolve) => setImmediate(resolve));

    // Other work ran after the first slice of each event, before the rest.
    expect(atOtherWork).toBe(2 * SLICE);
    expect(received.size).toBe(MEMBERS);
    for (const positions of received.values()) expect(positions).toEqual([1, 2]);
    retries.close();
    await store.close();
  });
});
