import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { getContainerRuntimeClient } from 'testcontainers';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freePort, waitUntil } from '../../../e2e/infra/net.ts';
import { startRedis, type RedisService } from '../../../e2e/infra/providers.ts';
import { RedisStore } from '../../src/store/redis-store.ts';
import type { Store } from '../../src/store/store.ts';
import { membershipChange, message, storeContract, type StoreSettings } from '../support/store-contract.ts';

const START_TIMEOUT_MS = 120_000;
const SETTINGS: StoreSettings = {
  retention: { maxEntries: 100, maxAgeMs: 60_000, dedupTtlMs: 60_000 },
  rate: { limit: 100, windowMs: 60_000 },
};

let prefixes = 0;
/** A key prefix no other test uses, so tests on one server do not see each other. */
const freshPrefix = (): string => `t${++prefixes}:`;

async function openStore(url: string, settings: StoreSettings, keyPrefix = freshPrefix(), nodeId = 'node-a'): Promise<RedisStore> {
  const store = new RedisStore({ url, keyPrefix, nodeId, ...settings });
  await store.start();
  return store;
}

describe('on a running Redis', () => {
  let redis: RedisService;
  beforeAll(async () => {
    redis = await startRedis();
  }, START_TIMEOUT_MS);
  afterAll(async () => redis?.stop());

  storeContract('redis', (settings, sharedWith?: Store) =>
    openStore(redis.url, settings, sharedWith === undefined ? undefined : (sharedWith as RedisStore).keyPrefix),
  );

  describe('outbox', () => {
    const stores: RedisStore[] = [];
    afterEach(async () => {
      await Promise.all(stores.splice(0).map((s) => s.close()));
    });
    const open = async (nodeId: string, prefix?: string): Promise<RedisStore> => {
      const store = await openStore(redis.url, SETTINGS, prefix, nodeId);
      stores.push(store);
      return store;
    };

    it('records an entry in its node’s outbox with the append, and forgets it once removed', async () => {
      const a = await open('node-a');
      // A node claims its outbox before it takes sends: the claim lists it.
      expect(await a.owners()).toEqual([]);
      expect(await a.claim('node-a', 'node-a', 10_000)).toBe(true);
      const plain = await a.append('d:alice:bob', message('m1'), { participants: ['alice', 'bob'] });
      const boxed = await a.append('d:alice:bob', message('m2'), { participants: ['alice', 'bob'], outbox: true });
      expect(plain.status === 'appended' && plain.outboxId).toBeUndefined();
      if (boxed.status !== 'appended' || boxed.outboxId === undefined) throw new Error('no outbox id');
      // Not stale yet by a minute; stale at once.
      expect(await a.stale('node-a', 60_000, 10)).toEqual([]);
      const items = await a.stale('node-a', 0, 10);
      expect(items).toEqual([{ id: boxed.outboxId, log: 'd:alice:bob', entry: boxed.entry }]);
      expect(items[0]!.entry.frame).toMatchObject({ msg_id: 'm2', sequence_number: 2 });
      expect(await a.owners()).toEqual(['node-a']);
      await a.remove('node-a', [boxed.outboxId]);
      expect(await a.stale('node-a', 0, 10)).toEqual([]);
      // A duplicate is not recorded again.
      const again = await a.append('d:alice:bob', message('m3'), { dedup: { scope: 'alice', id: 'm3' }, outbox: true });
      await a.append('d:alice:bob', message('m3'), { dedup: { scope: 'alice', id: 'm3' }, outbox: true });
      expect((await a.stale('node-a', 0, 10)).map((i) => i.id)).toEqual([again.status === 'appended' ? again.outboxId : '']);
    });

    it('lets another node claim an outbox only once its owner’s claim lapsed, and gives it back to the owner; an adopted, empty outbox is retired', async () => {
      const a = await open('node-a');
      const b = await open('node-b', a.keyPrefix);
      const c = await open('node-c', a.keyPrefix);
      expect(await a.claim('node-a', 'node-a', 300)).toBe(true);
      await a.append('g:team', message('m1', 'alice', 'team'), { outbox: true });
      expect(await b.claim('node-a', 'node-b', 300)).toBe(false);
      expect(await a.claim('node-a', 'node-a', 300)).toBe(true);
      await sleep(400);
      expect(await b.claim('node-a', 'node-b', 10_000)).toBe(true);
      // One adopter at a time.
      expect(await c.claim('node-a', 'node-c', 10_000)).toBe(false);
      // node-a back under the same id takes its outbox back; the adopter's next claim fails.
      expect(await a.claim('node-a', 'node-a', 300)).toBe(true);
      expect(await b.claim('node-a', 'node-b', 10_000)).toBe(false);
      await sleep(400);
      expect(await b.claim('node-a', 'node-b', 10_000)).toBe(true);
      const items = await b.stale('node-a', 0, 10);
      expect(items.map((i) => i.log)).toEqual(['g:team']);
      expect(await b.retire('node-a')).toBe(false);
      await b.remove('node-a', items.map((i) => i.id));
      expect(await b.retire('node-a')).toBe(true);
      expect(await b.owners()).toEqual([]);
    });
  });

  describe('keys', () => {
    let store: RedisStore;
    let raw: Redis;
    beforeAll(() => {
      raw = new Redis(redis.url);
    });
    afterAll(() => raw?.disconnect());
    afterEach(async () => store?.close());

    it('lets an idle log expire but keeps its position counter', async () => {
      store = await openStore(redis.url, SETTINGS);
      const p = store.keyPrefix;
      await store.append('d:alice:bob', message('m1'), { participants: ['alice', 'bob'] });
      await store.append('d:alice:bob', message('m2'));
      const logTtl = await raw.pttl(`${p}log:d:alice:bob`);
      expect(logTtl).toBeGreaterThan(SETTINGS.retention.maxAgeMs);
      expect(logTtl).toBeLessThanOrEqual(SETTINGS.retention.maxAgeMs + 60_000);
      expect(await raw.pttl(`${p}seq:d:alice:bob`)).toBe(-1);
      expect(await raw.pttl(`${p}convs:bob`)).toBeGreaterThan(logTtl);

      await raw.del(`${p}log:d:alice:bob`); // as its TTL would
      expect(await store.read('d:alice:bob', 0, 10)).toEqual({ entries: [], firstPos: 0, lastPos: 2 });
      const next = await store.append('d:alice:bob', message('m3'));
      expect(next.status === 'appended' && next.entry.pos).toBe(3);
    });

    it('keeps the g: floor where earlier versions read it and the m: floor beside it', async () => {
      store = await openStore(redis.url, SETTINGS);
      const p = store.keyPrefix;
      await store.append('g:team', message('m1', 'alice', 'team'));
      await store.append('m:team', membershipChange('team', 'alice'));
      await store.append('m:team', membershipChange('team', 'carol'));
      expect(await store.addMember('team', 'bob')).toEqual({ added: true, floor: { messages: 1, membership: 2 } });
      expect(await raw.hget(`${p}members:team`, 'bob')).toBe('1');
      expect(await raw.hget(`${p}groups:bob`, 'team')).toBe('1');
      expect(await raw.hget(`${p}mfloors:bob`, 'team')).toBe('2');
      expect(await store.addMember('team', 'bob')).toEqual({ added: false, floor: { messages: 1, membership: 2 } });
      expect(await raw.pttl(`${p}seq:m:team`)).toBe(-1);
      const logTtl = await raw.pttl(`${p}log:m:team`);
      expect(logTtl).toBeGreaterThan(SETTINGS.retention.maxAgeMs);
      expect(logTtl).toBeLessThanOrEqual(SETTINGS.retention.maxAgeMs + 60_000);

      // A member as an earlier version stored it: no m: floor, so every m: entry is after the join.
      await raw.hset(`${p}members:team`, 'dave', '1');
      await raw.hset(`${p}groups:dave`, 'team', '1');
      await raw.sadd(`${p}groupset`, 'team');
      expect(await store.userGroups('dave')).toEqual(new Map([['team', { messages: 1, membership: 0 }]]));
      expect(await store.addMember('team', 'dave')).toEqual({ added: false, floor: { messages: 1, membership: 0 } });
      expect((await store.groupMembers('team')).sort()).toEqual(['bob', 'dave']);
      expect(await store.removeMember('team', 'dave')).toBe(true);
      expect(await store.removeMember('team', 'bob')).toBe(true);
      expect((await store.userGroups('dave')).size).toBe(0);
      expect(await raw.exists(`${p}mfloors:bob`)).toBe(0);
    });

    it('stores the appends of one event-loop turn in one script call per 64, each as if made alone', async () => {
      store = await openStore(redis.url, { ...SETTINGS, rate: { limit: 20, windowMs: 60_000 } });
      // ioredis sends a script's first call on a connection as EVAL, the next ones as EVALSHA.
      const calls = async (): Promise<number> =>
        [...(await raw.info('commandstats')).matchAll(/cmdstat_eval(?:sha)?:calls=(\d+)/g)].reduce((sum, m) => sum + Number(m[1]), 0);
      await store.addMember('team', 'alice');
      const before = await calls();
      // 150 appends issued together: two conversations, a group only alice is in, a retry of each
      // message, and 25 messages of each sender against a limit of 20.
      const sends = Array.from({ length: 150 }, (_, i) => {
        const sender = ['alice', 'bob', 'carol'][i % 3]!;
        // i and i + 3 are one message and its retry.
        const n = Math.floor(i / 6);
        const id = `m${n}-${sender}`;
        const group = n % 5 === 0;
        const log = group ? 'g:team' : sender === 'alice' ? 'd:alice:bob' : 'd:bob:carol';
        return store.append(log, message(id, sender, group ? 'team' : 'bob'), {
          dedup: { scope: sender, id },
          sender: { userId: sender, now: Date.now(), ...(group ? { mustBeMemberOf: 'team' } : {}) },
        });
      });
      const results = await Promise.all(sends);
      expect((await calls()) - before).toBe(3);

      const byLog = new Map<string, number[]>();
      const firstOf = new Map<string, number>();
      const appendedBy = new Map<string, number>();
      results.forEach((result, i) => {
        const sender = ['alice', 'bob', 'carol'][i % 3]!;
        const n = Math.floor(i / 6);
        const key = `${sender}:m${n}-${sender}`;
        if (result.status === 'appended') {
          const log = n % 5 === 0 ? 'g:team' : sender === 'alice' ? 'd:alice:bob' : 'd:bob:carol';
          byLog.set(log, [...(byLog.get(log) ?? []), result.entry.pos]);
          firstOf.set(key, result.entry.pos);
          appendedBy.set(sender, (appendedBy.get(sender) ?? 0) + 1);
        } else if (result.status === 'duplicate') {
          expect(result.pos).toBe(firstOf.get(key));
        } else if (result.reason === 'not_member') {
          expect([sender, n % 5]).not.toEqual(['alice', 0]);
        }
      });
      for (const count of appendedBy.values()) expect(count).toBeLessThanOrEqual(20);
      // Positions per log contiguous from 1, in the order the appends were made.
      for (const positions of byLog.values()) expect(positions).toEqual(positions.map((_, i) => i + 1));
      expect(results.filter((r) => r.status === 'refused' && r.reason === 'rate_limited').length).toBeGreaterThan(0);
      expect(results.filter((r) => r.status === 'duplicate').length).toBeGreaterThan(0);
      expect(results.filter((r) => r.status === 'refused' && r.reason === 'not_member').length).toBeGreaterThan(0);
    });

    it('runs its scripts again after Redis forgot them', async () => {
      store = await openStore(redis.url, SETTINGS);
      await store.append('g:team', message('m1', 'alice', 'team'));
      await raw.script('FLUSH');
      const next = await store.append('g:team', message('m2', 'alice', 'team'));
      expect(next.status === 'appended' && next.entry.pos).toBe(2);
    });
  });
});

describe('when Redis goes away', () => {
  let redis: RedisService;
  let store: RedisStore | undefined;
  beforeAll(async () => {
    redis = await startRedis();
  }, START_TIMEOUT_MS);
  afterEach(async () => store?.close());
  afterAll(async () => redis?.stop());

  it('gives up starting after connectTimeoutMs when Redis cannot be reached', async () => {
    store = new RedisStore({ url: `redis://127.0.0.1:${await freePort()}`, connectTimeoutMs: 500, ...SETTINGS });
    const started = Date.now();
    await expect(store.start()).rejects.toThrow(/not ready after 500 ms/);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(await store.healthy()).toBe(false);
  });

  it('fails fast while Redis is down and serves its data again after restart()', async () => {
    store = await openStore(redis.url, SETTINGS);
    await store.append('d:alice:bob', message('m1'), { dedup: { scope: 'alice', id: 'm1' }, participants: ['alice', 'bob'] });
    await store.advanceCursor('bob', 'phone', 'd:alice:bob', 1);
    await store.addMember('team', 'bob');
    expect(await store.healthy()).toBe(true);
    // The e2e image keeps nothing across a restart unless told to; a
    // snapshot stands in for the AOF a production Redis runs with.
    const raw = new Redis(redis.url);
    await raw.save();
    raw.disconnect();

    const client = await getContainerRuntimeClient();
    await client.container.stop(client.container.getById(redis.container.getId()), { timeout: 0 });
    expect(await store.healthy()).toBe(false);
    for (const call of [
      () => store!.append('d:alice:bob', message('m2'), { dedup: { scope: 'alice', id: 'm2' } }),
      () => store!.read('d:alice:bob', 0, 10),
      () => store!.cursors('bob', 'phone'),
    ]) {
      const began = Date.now();
      await expect(call()).rejects.toThrow();
      expect(Date.now() - began).toBeLessThan(1_000);
    }

    await redis.restart();
    await waitUntil('store healthy again', () => store!.healthy(), 10_000);
    expect(await store.read('d:alice:bob', 0, 10)).toMatchObject({ firstPos: 1, lastPos: 1, entries: [{ pos: 1 }] });
    expect(await store.append('d:alice:bob', message('m1'), { dedup: { scope: 'alice', id: 'm1' } })).toEqual({ status: 'duplicate', pos: 1 });
    const next = await store.append('d:alice:bob', message('m2'), { dedup: { scope: 'alice', id: 'm2' } });
    expect(next.status === 'appended' && next.entry.pos).toBe(2);
    expect(await store.cursors('bob', 'phone')).toEqual(new Map([['d:alice:bob', 1]]));
    expect(await store.isMember('team', 'bob')).toBe(true);
  }, START_TIMEOUT_MS);
});
