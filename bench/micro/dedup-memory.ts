/**
 * Heap the in-memory store keeps for its dedup keys after N accepted
 * messages, with a given cap (MEMORY_DEDUP_MAX_KEYS), and how long a full GC
 * of that heap takes. Logs are trimmed to one entry so the keys are what is
 * left.
 *
 *   npx node --expose-gc bench/micro/dedup-memory.ts 3000000 500000
 *   npx node --expose-gc bench/micro/dedup-memory.ts 3000000 1e12      # no cap in effect
 */
import { MemoryStore } from '../../gateway/src/store/memory-store.ts';

const messages = Number(process.argv[2] ?? 3_000_000);
const cap = Number(process.argv[3] ?? 500_000);
const gc = globalThis.gc;
if (gc === undefined) throw new Error('run with --expose-gc');

const store = new MemoryStore({ maxEntries: 1, maxAgeMs: 7 * 24 * 3600_000, dedupTtlMs: 24 * 3600_000 }, { limit: 1e9, windowMs: 1000 }, { maxDedupKeys: cap });
gc();
const base = process.memoryUsage().heapUsed;
for (let i = 0; i < messages; i++) {
  const sender = `user${i % 1000}`;
  const msgId = `msg_${sender}_${1_706_180_400_000 + i}_x`;
  const frame = { type: 'message', msg_id: msgId, sender_id: sender, recipient_id: 'peer', recipient_type: 'user', content: 'x', sequence_number: 0, timestamp: Date.now() } as const;
  await store.append(`d:${sender}:peer`, { ...frame }, { dedup: { scope: sender, id: msgId } });
}
gc();
const started = performance.now();
gc();
const fullGcMs = performance.now() - started;
const heapMB = (process.memoryUsage().heapUsed - base) / 2 ** 20;
process.stdout.write(`${JSON.stringify({ messages, cap, heapMB: Number(heapMB.toFixed(1)), fullGcMs: Number(fullGcMs.toFixed(1)) })}\n`);
await store.close();
