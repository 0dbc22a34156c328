/**
 * The in-memory store's append path as the gateway drives it for private
 * messages (dedup key, message index, per-conversation retention), timed
 * against the same store of another checkout in the same process: rounds
 * alternate between the two, and the ratio is this checkout's time over the
 * baseline's.
 *
 *   npx node --expose-gc bench/micro/memory-store-append.ts /tmp/before/gateway/src/store/memory-store.ts
 */
import { resolve } from 'node:path';
import { MemoryStore } from '../../gateway/src/store/memory-store.ts';
import type { MessageFrame } from '../../gateway/src/protocol/frames.ts';
import type { Store } from '../../gateway/src/store/store.ts';

type StoreClass = new (...args: ConstructorParameters<typeof MemoryStore>) => Store;

const baselinePath = process.argv[2];
if (baselinePath === undefined) throw new Error('usage: memory-store-append.ts <baseline memory-store.ts> [messages] [rounds]');
const messages = Number(process.argv[3] ?? 1_000_000);
const rounds = Number(process.argv[4] ?? 3);
const PAIRS = 500;
const SENDERS = Array.from({ length: PAIRS }, (_, pair) => `sender${pair}`);
const RECIPIENTS = Array.from({ length: PAIRS }, (_, pair) => `recipient${pair}`);
const Baseline = ((await import(resolve(baselinePath))) as { MemoryStore: StoreClass }).MemoryStore;

/** Nanoseconds per append over `messages` appends to a fresh store, after a warm-up. */
async function run(Store: StoreClass): Promise<number> {
  const store = new Store({ maxEntries: 1000, maxAgeMs: 7 * 24 * 3600_000, dedupTtlMs: 60_000 }, { limit: 1e9, windowMs: 1000 });
  globalThis.gc?.();
  const started = process.hrtime.bigint();
  for (let i = 0; i < messages; i++) {
    const pair = i % PAIRS;
    // The sender is its socket's user id, one string for all its messages.
    const sender = SENDERS[pair]!;
    const recipient = RECIPIENTS[pair]!;
    const msgId = `msg_${sender}_${1_706_180_400_000 + i}_x`;
    const frame: MessageFrame = { type: 'message', msg_id: msgId, sender_id: sender, recipient_id: recipient, recipient_type: 'user', content: 'hello there', sequence_number: 0, timestamp: 1_706_180_400_000 + i };
    // Both forms of the dedup option: a baseline from before `dedup` took `dedupKey`.
    const options = { dedup: { scope: sender, id: msgId }, dedupKey: `${sender}:${msgId}`, senderDevice: 'phone', participants: [sender, recipient] };
    await store.append(`d:${recipient}:${sender}`, frame, options);
  }
  const ns = Number(process.hrtime.bigint() - started) / messages;
  await store.close();
  return ns;
}

const times: Record<'this' | 'baseline', number[]> = { this: [], baseline: [] };
for (let round = 0; round < rounds; round++) {
  times.baseline.push(await run(Baseline));
  times.this.push(await run(MemoryStore as unknown as StoreClass));
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
process.stdout.write(`${JSON.stringify({
  messages,
  rounds,
  nsPerAppend: { this: times.this.map(Math.round), baseline: times.baseline.map(Math.round) },
  ratio: Number((median(times.this) / median(times.baseline)).toFixed(3)),
})}\n`);
