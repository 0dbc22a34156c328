/**
 * CPU per append of the Redis store, in the gateway and in Redis, at a steady
 * rate, against a real Redis (a container of the e2e harness, fsyncing every
 * write as production should): the one store call of every send in a fleet.
 * Appends are spread evenly over each millisecond's turn of the event loop,
 * one private message each (dedup, rate, outbox, two conversation indexes).
 * Give a second checkout's store to compare: rounds alternate between the
 * two, in one process and on one Redis.
 *
 *   npx node bench/micro/redis-append.ts [ratePerSecond=2000] [seconds=6] [rounds=3] [other/gateway/src/store/redis-store.ts]
 */
import { Redis } from 'ioredis';
import { startRedis } from '../../e2e/infra/providers.ts';
import { cpuPerCall } from '../lib/steady.ts';
import { RedisStore } from '../../gateway/src/store/redis-store.ts';
import type { MessageFrame } from '../../gateway/src/protocol/frames.ts';
import type { Store } from '../../gateway/src/store/store.ts';

const rate = Number(process.argv[2] ?? 2000);
const seconds = Number(process.argv[3] ?? 6);
const rounds = Number(process.argv[4] ?? 3);
const otherPath = process.argv[5];

const redis = await startRedis();
const raw = new Redis(redis.url);
const settings = {
  url: redis.url,
  nodeId: 'micro',
  retention: { maxEntries: 1000, maxAgeMs: 3_600_000, dedupTtlMs: 3_600_000 },
  rate: { limit: 1_000_000, windowMs: 1000 },
};
type StoreClass = new (options: typeof settings & { keyPrefix: string }) => Store & { start(): Promise<void>; close(): Promise<void> };
const variants: Array<{ label: string; open: StoreClass }> = [{ label: 'this checkout', open: RedisStore }];
if (otherPath !== undefined) variants.unshift({ label: otherPath, open: ((await import(otherPath)) as { RedisStore: StoreClass }).RedisStore });

/** Redis' own CPU seconds (main thread and its helpers). */
async function redisCpuSeconds(): Promise<number> {
  const info = await raw.info('cpu');
  const field = (name: string): number => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? NaN);
  return field('used_cpu_user') + field('used_cpu_sys');
}

function frame(i: number): MessageFrame {
  return { type: 'message', msg_id: `msg_${i}`, sender_id: `u${i % 500}`, recipient_id: `v${i % 500}`, recipient_type: 'user', content: 'hello there, a message of a typical length', sequence_number: 0, timestamp: Date.now() };
}

/** µs of CPU per append in this process and in Redis. */
async function round(store: Store, r: number): Promise<{ gateway: number; redis: number }> {
  const total = rate * seconds;
  const redisFrom = await redisCpuSeconds();
  const gateway = await cpuPerCall(rate, total, (i) => {
    const f = frame(i);
    return store.append(`d:${f.sender_id}:${f.recipient_id}`, f, {
      dedup: { scope: f.sender_id, id: `${r}:${f.msg_id}` },
      participants: [f.sender_id, f.recipient_id],
      outbox: true,
      sender: { userId: f.sender_id, now: Date.now() },
    });
  });
  return { gateway, redis: ((await redisCpuSeconds()) - redisFrom) * 1e6 / total };
}

const stores = await Promise.all(
  variants.map(async (v, i) => {
    const store = new v.open({ ...settings, keyPrefix: `micro${i}:` });
    await store.start();
    return store;
  }),
);
const results = variants.map(() => ({ gateway: [] as number[], redis: [] as number[] }));
for (let r = 0; r < rounds; r++) {
  for (const [i, store] of stores.entries()) {
    const { gateway, redis: inRedis } = await round(store, r);
    results[i]!.gateway.push(gateway);
    results[i]!.redis.push(inRedis);
  }
}
const median = (xs: number[]): string => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!.toFixed(1);
for (const [i, v] of variants.entries()) {
  const { gateway, redis: inRedis } = results[i]!;
  process.stdout.write(`${v.label}: gateway ${median(gateway)} us per append (${gateway.map((u) => u.toFixed(1)).join(' / ')}), redis ${median(inRedis)} (${inRedis.map((u) => u.toFixed(1)).join(' / ')}) at ${rate}/s\n`);
}
await Promise.all(stores.map((s) => s.close()));
raw.disconnect();
await redis.stop();
