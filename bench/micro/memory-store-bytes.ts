/**
 * Heap the in-memory store holds per log entry and per dedup key, measured
 * after a full GC, beside what the store counts an entry as against
 * MEMORY_LOG_MAX_MB (`entryBytes`), and per dedup key, with its entry in the
 * log and after it left (the key then holds the msg_id alone): the measured
 * figures must stay under the counted ones, or the documented bound would not
 * hold.
 *
 *   npx node --expose-gc bench/micro/memory-store-bytes.ts [entries] [contentChars]
 */
import { DEDUP_KEY_BYTES, entryBytes, MemoryStore } from '../../gateway/src/store/memory-store.ts';
import { privateLog } from '../../gateway/src/conversation-log/log-id.ts';
import type { MessageFrame, SendMsgFrame } from '../../gateway/src/protocol/frames.ts';

const entries = Number(process.argv[2] ?? 300_000);
const contentChars = Number(process.argv[3] ?? 100);
const PAIRS = 500;
const gc = globalThis.gc;
if (gc === undefined) throw new Error('run with --expose-gc');

/**
 * Heap growth per message over `entries` appends, with or without dedup keys;
 * `keysOnly`: each log keeps one entry, so what stays is the dedup keys.
 */
async function measure(withDedup: boolean, keysOnly = false): Promise<{ perMessage: number; counted: number }> {
  // Limits high enough that nothing else is dropped.
  const store = new MemoryStore({ maxEntries: keysOnly ? 1 : 1e9, maxAgeMs: 7 * 24 * 3600_000, dedupTtlMs: 3600_000 }, { limit: 1e9, windowMs: 1000 }, { maxDedupKeys: 1e9, maxLogBytes: 1e15 });
  gc!();
  const base = process.memoryUsage().heapUsed;
  const content = 'x'.repeat(contentChars);
  let counted = 0;
  for (let i = 0; i < entries; i++) {
    const sender = `sender${i % PAIRS}`;
    // Parsed as the gateway parses a client's frame: fresh strings per message.
    const sent = JSON.parse(JSON.stringify({ type: 'send_msg', msg_id: `msg_${sender}_${1_706_180_400_000 + i}_x`, recipient_id: `recipient${i % PAIRS}`, recipient_type: 'user', content })) as SendMsgFrame;
    const frame: MessageFrame = { type: 'message', msg_id: sent.msg_id, sender_id: sender, recipient_id: sent.recipient_id, recipient_type: 'user', content: sent.content, sequence_number: 0, timestamp: Date.now() };
    counted += entryBytes(frame);
    await store.append(privateLog(sender, sent.recipient_id), frame, {
      ...(withDedup ? { dedup: { scope: sender, id: sent.msg_id } } : {}),
      senderDevice: 'phone',
      participants: [sender, sent.recipient_id],
    });
  }
  gc!();
  const perMessage = (process.memoryUsage().heapUsed - base) / entries;
  await store.close();
  return { perMessage, counted: counted / entries };
}

const plain = await measure(false);
const deduped = await measure(true);
const keysOnly = await measure(true, true);
const round = (n: number): number => Math.round(n);
process.stdout.write(`${JSON.stringify({
  entries,
  contentChars,
  heapPerEntry: round(plain.perMessage),
  countedPerEntry: round(plain.counted),
  heapPerDedupKey: round(deduped.perMessage - plain.perMessage),
  heapPerDedupKeyOfDroppedEntry: round(keysOnly.perMessage),
  countedPerDedupKey: DEDUP_KEY_BYTES,
})}\n`);
