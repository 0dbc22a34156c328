import { afterEach, describe, expect, it } from 'vitest';
import { ENTRY_OVERHEAD_BYTES, entryBytes, MemoryStore } from '../../src/store/memory-store.ts';
import { message, storeContract } from '../support/store-contract.ts';

// One process is the whole backend: a "second node" on it is the same store.
storeContract('memory', async ({ retention, rate }, sharedWith) => sharedWith ?? new MemoryStore(retention, rate));

describe('memory store sweep', () => {
  let store: MemoryStore;
  afterEach(async () => store.close());

  it('drops entries older than the retention age', async () => {
    store = new MemoryStore({ maxEntries: 100, maxAgeMs: 1000, dedupTtlMs: 60_000 }, { limit: 100, windowMs: 60_000 });
    await store.append('d:a:b', message('old'));
    store.sweep(Date.now() + 2000);
    const page = await store.read('d:a:b', 0, 10);
    expect(page.entries).toEqual([]);
    expect(page.lastPos).toBe(1);
  });

  it('forgets the oldest dedup keys past its cap, and keeps the newest', async () => {
    store = new MemoryStore({ maxEntries: 100, maxAgeMs: 60_000, dedupTtlMs: 60_000 }, { limit: 100, windowMs: 60_000 }, { maxDedupKeys: 4 });
    for (const id of ['m1', 'm2', 'm3', 'm4', 'm5']) {
      expect((await store.append('d:a:b', message(id), { dedup: { scope: 'a', id } })).status).toBe('appended');
    }
    expect(await store.append('d:a:b', message('m3'), { dedup: { scope: 'a', id: 'm3' } })).toEqual({ status: 'duplicate', pos: 3 });
    expect(await store.append('d:a:b', message('m5'), { dedup: { scope: 'a', id: 'm5' } })).toEqual({ status: 'duplicate', pos: 5 });
    // m1 and m2 were forgotten: their retries are new messages.
    expect((await store.append('d:a:b', message('m2'), { dedup: { scope: 'a', id: 'm2' } })).status).toBe('appended');
    expect((await store.append('d:a:b', message('m1'), { dedup: { scope: 'a', id: 'm1' } })).status).toBe('appended');
  });

  it('forgets one place of a msg_id several senders used when its entry leaves the log, and keeps the others', async () => {
    store = new MemoryStore({ maxEntries: 1, maxAgeMs: 60_000, dedupTtlMs: 60_000 }, { limit: 100, windowMs: 60_000 });
    await store.append('d:a:b', message('shared', 'a', 'b'));
    await store.append('d:c:d', message('shared', 'c', 'd'));
    await store.append('d:e:f', message('shared', 'e', 'f'));
    expect((await store.findMessage('shared')).map((l) => l.conversation).sort()).toEqual(['d:a:b', 'd:c:d', 'd:e:f']);
    await store.append('d:c:d', message('next', 'c', 'd'));
    expect((await store.findMessage('shared')).map((l) => l.conversation).sort()).toEqual(['d:a:b', 'd:e:f']);
    await store.append('d:a:b', message('next2', 'a', 'b'));
    expect(await store.findMessage('shared')).toEqual([{ conversation: 'd:e:f', pos: 1, senderId: 'e' }]);
    await store.append('d:e:f', message('next3', 'e', 'f'));
    expect(await store.findMessage('shared')).toEqual([]);
    expect(await store.findMessage('next3')).toEqual([{ conversation: 'd:e:f', pos: 2, senderId: 'e' }]);
  });

  it('keeps all logs within maxLogBytes by dropping the oldest entries of the whole store first', async () => {
    const each = entryBytes(message('m00'));
    store = new MemoryStore({ maxEntries: 100, maxAgeMs: 60_000, dedupTtlMs: 60_000 }, { limit: 1000, windowMs: 60_000 }, { maxLogBytes: 5 * each });
    // Three conversations, interleaved: a1 b1 c1 a2 b2 c2 a3 b3 c3.
    for (let round = 1; round <= 3; round++) {
      for (const log of ['d:a:x', 'd:b:x', 'd:c:x'] as const) await store.append(log, message(`m${log[2]}${round}`));
      expect(store.usage().logBytes).toBeLessThanOrEqual(5 * each);
    }
    expect(store.usage()).toMatchObject({ entries: 5, logBytes: 5 * each });
    // The four oldest (a1 b1 c1 a2) went, whichever log they were in; numbering goes on.
    expect((await store.read('d:a:x', 0, 10)).entries.map((e) => e.pos)).toEqual([3]);
    expect((await store.read('d:b:x', 0, 10)).entries.map((e) => e.pos)).toEqual([2, 3]);
    expect((await store.read('d:c:x', 0, 10)).entries.map((e) => e.pos)).toEqual([2, 3]);
    expect(await store.findMessage('ma2')).toEqual([]);
    expect(await store.findMessage('mb2')).toEqual([{ conversation: 'd:b:x', pos: 2, senderId: 'alice' }]);
    const next = await store.append('d:a:x', message('ma4'));
    expect(next.status === 'appended' && next.entry.pos).toBe(4);
  });

  it('counts an entry at least at the heap it holds, text at two bytes a character', () => {
    const short = entryBytes(message('m1'));
    const long = entryBytes({ ...message('m1'), content: 'ü'.repeat(1000) });
    expect(long - short).toBe(2 * (1000 - message('m1').content.length));
    expect(short).toBeGreaterThanOrEqual(ENTRY_OVERHEAD_BYTES);
  });

  it('keeps its store-order queue within twice the entries when logs drop their own entries', async () => {
    store = new MemoryStore({ maxEntries: 1, maxAgeMs: 60_000, dedupTtlMs: 60_000 }, { limit: 1e9, windowMs: 60_000 });
    for (let i = 0; i < 20_000; i++) await store.append(`d:u${i % 10}:x`, message(`m${i}`));
    const usage = store.usage();
    expect(usage.entries).toBe(10);
    expect(usage.ageSlots).toBeLessThanOrEqual(2 * usage.entries + 1024);
  });
});

