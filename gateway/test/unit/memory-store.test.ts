import { afterEach, describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/store/memory-store.ts';
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
    store = new MemoryStore({ maxEntries: 100, maxAgeMs: 60_000, dedupTtlMs: 60_000 }, { limit: 100, windowMs: 60_000 }, 4);
    for (const id of ['m1', 'm2', 'm3', 'm4', 'm5']) {
      expect((await store.append('d:a:b', message(id), { dedupKey: `a:${id}` })).status).toBe('appended');
    }
    expect(await store.append('d:a:b', message('m3'), { dedupKey: 'a:m3' })).toEqual({ status: 'duplicate', pos: 3 });
    expect(await store.append('d:a:b', message('m5'), { dedupKey: 'a:m5' })).toEqual({ status: 'duplicate', pos: 5 });
    // m1 and m2 were forgotten: their retries are new messages.
    expect((await store.append('d:a:b', message('m2'), { dedupKey: 'a:m2' })).status).toBe('appended');
    expect((await store.append('d:a:b', message('m1'), { dedupKey: 'a:m1' })).status).toBe('appended');
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
});
