/**
 * CPU per record of the Kafka bus's producer at a steady rate, against a real
 * broker (a container of the e2e harness): the message-log record that
 * follows every private message in a fleet. Rounds alternate between the
 * linger settings given, in one process and on one broker.
 *
 *   npx node bench/micro/kafka-produce.ts [ratePerSecond=1000] [seconds=8] [rounds=3] [lingers=0,3,10]
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { KafkaBus } from '../../gateway/src/bus/kafka-bus.ts';
import { createLogger } from '../../gateway/src/observability/logger.ts';
import type { LogEntry } from '../../gateway/src/conversation-log/entry.ts';
import { startKafka } from '../../e2e/infra/providers.ts';

const rate = Number(process.argv[2] ?? 1000);
const seconds = Number(process.argv[3] ?? 8);
const rounds = Number(process.argv[4] ?? 3);
const lingers = (process.argv[5] ?? '0,3,10').split(',').map(Number);

const kafka = await startKafka();
const log = createLogger('error');
const buses = new Map<number, KafkaBus>();
for (const lingerMs of lingers) {
  const bus = new KafkaBus({ brokers: kafka.brokers, nodeId: `micro-${lingerMs}`, lingerMs, log });
  bus.onGroupEvent(() => {});
  await bus.start();
  buses.set(lingerMs, bus);
}

function entry(i: number): LogEntry {
  return {
    pos: i,
    storedAt: Date.now(),
    senderDevice: 'phone',
    frame: { type: 'message', msg_id: `msg_${i}`, sender_id: 'alice', recipient_id: 'bob', recipient_type: 'user', content: 'hello there, a message of a typical length', sequence_number: i, timestamp: Date.now() },
  };
}

/** CPU µs per record while sending `rate` records a second for `seconds`, one per conversation in turn. */
async function round(bus: KafkaBus): Promise<number> {
  const total = rate * seconds;
  const pending: Array<Promise<void>> = [];
  const cpu = process.cpuUsage();
  const started = performance.now();
  for (let i = 0; i < total; i++) {
    // Spread evenly: the records of each millisecond leave in that millisecond's turn.
    const due = started + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    pending.push(bus.appendPrivate(`d:u${i % 500}:v${i % 500}`, entry(i)));
  }
  await Promise.all(pending);
  const used = process.cpuUsage(cpu);
  return (used.user + used.system) / total;
}

const results = new Map<number, number[]>(lingers.map((l) => [l, []]));
for (let r = 0; r < rounds; r++) {
  for (const lingerMs of lingers) results.get(lingerMs)!.push(await round(buses.get(lingerMs)!));
}
for (const [lingerMs, us] of results) {
  const sorted = [...us].sort((a, b) => a - b);
  process.stdout.write(`linger ${lingerMs} ms: ${sorted.map((u) => u.toFixed(1)).join(' / ')} us per record (median ${sorted[Math.floor(sorted.length / 2)]!.toFixed(1)}) at ${rate}/s\n`);
}
await Promise.all([...buses.values()].map((b) => b.close()));
await kafka.stop();
