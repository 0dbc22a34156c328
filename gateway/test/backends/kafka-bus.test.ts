// KafkaBus against a real broker: topics, one record per group message and
// its broadcast to every node, the private message log, starting at the end
// of the group topic, and failing fast then recovering when the broker is down.
import { setTimeout as sleep } from 'node:timers/promises';
import { Kafka, logLevel } from 'kafkajs';
import type { Admin } from 'kafkajs';
import { getContainerRuntimeClient } from 'testcontainers';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { startKafka } from '../../../e2e/infra/providers.ts';
import type { KafkaService } from '../../../e2e/infra/providers.ts';
import type { GroupEvent } from '../../src/bus/bus.ts';
import { KafkaBus, KafkaUnavailableError, fanoutGroupId } from '../../src/bus/kafka-bus.ts';
import type { KafkaBusOptions } from '../../src/bus/kafka-bus.ts';
import { createLogger } from '../../src/observability/logger.ts';
import type { LogEntry } from '../../src/conversation-log/entry.ts';

const START_TIMEOUT_MS = 120_000;
// Long enough to see a duplicate delivery arrive if there were one.
const SETTLE_MS = 300;

let kafka: KafkaService;
let admin: Admin;
let client: Kafka;
const buses: KafkaBus[] = [];
// What the buses logged; KAFKA_BUS_TEST_LOGS=1 prints it after the run.
const logs: string[] = [];
let topicSet = 0;

interface TestNode {
  bus: KafkaBus;
  received: GroupEvent[];
}

interface Topics {
  messagesTopic: string;
  groupTopic: string;
}

/** Fresh topics per test, so counts and offsets start at zero. */
function topics(): Topics {
  topicSet += 1;
  return { messagesTopic: `test-${topicSet}.messages`, groupTopic: `test-${topicSet}.group-messages` };
}

function node(nodeId: string, t: Topics, options: Partial<KafkaBusOptions> = {}): TestNode {
  const received: GroupEvent[] = [];
  const bus = new KafkaBus({
    brokers: kafka.brokers,
    nodeId,
    partitions: 3,
    log: createLogger('warn', { node: nodeId }, (line) => logs.push(line)),
    ...t,
    ...options,
  });
  bus.onGroupEvent((event) => received.push(event));
  buses.push(bus);
  return { bus, received };
}

function entry(pos: number, conversation: string): LogEntry {
  return {
    pos,
    frame: {
      type: 'message',
      msg_id: `m-${conversation}-${pos}`,
      sender_id: 'alice',
      recipient_id: conversation,
      recipient_type: conversation.startsWith('d:') ? 'user' : 'group',
      content: `hello ${pos}`,
      sequence_number: pos,
      timestamp: 1_700_000_000_000 + pos,
    },
    senderDevice: 'phone',
    storedAt: 1_700_000_000_000 + pos,
  };
}

function groupEvent(groupId: string, pos: number): GroupEvent {
  return { groupId, entry: entry(pos, groupId) };
}

/** Records ever written to the topic: the sum of its partitions' end offsets (nothing is deleted here). */
async function recordCount(topic: string): Promise<number> {
  const offsets = await admin.fetchTopicOffsets(topic);
  return offsets.reduce((sum, { high }) => sum + Number(high), 0);
}

/** Reads the first `count` records of a topic with a consumer group of its own. */
async function readTopic(topic: string, count: number): Promise<{ key: string; value: string; partition: number }[]> {
  const consumer = client.consumer({ groupId: `reader-${topic}`, maxWaitTimeInMs: 200 });
  const records: { key: string; value: string; partition: number }[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        records.push({ key: String(message.key), value: String(message.value), partition });
      },
    });
    await vi.waitFor(() => expect(records.length).toBeGreaterThanOrEqual(count), { timeout: 15_000, interval: 50 });
  } finally {
    await consumer.disconnect();
  }
  return records;
}

/** Commits `offset` for every partition of `topic` in the consumer group, as a member of it. */
async function commitOffsets(groupId: string, topic: string, offset: string): Promise<void> {
  // admin.setOffsets would do, but it waits out a whole default fetch (5 s).
  const consumer = client.consumer({ groupId, maxWaitTimeInMs: 100 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic });
    await consumer.run({ autoCommit: false, eachMessage: async () => {} });
    const partitions = (await admin.fetchTopicOffsets(topic)).map(({ partition }) => ({ topic, partition, offset }));
    await consumer.commitOffsets(partitions);
  } finally {
    await consumer.disconnect();
  }
  const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
  expect(committed!.partitions.every((partition) => partition.offset === offset)).toBe(true);
}

/** Stops the broker's container without removing it; `kafka.restart()` starts it again. */
async function stopBroker(): Promise<void> {
  const runtime = await getContainerRuntimeClient();
  await runtime.container.stop(runtime.container.getById(kafka.container.getId()), { timeout: 0 });
}

beforeAll(async () => {
  kafka = await startKafka();
  client = new Kafka({ clientId: 'kafka-bus-test', brokers: kafka.brokers, logLevel: logLevel.NOTHING });
  admin = client.admin();
  await admin.connect();
}, START_TIMEOUT_MS);

afterAll(async () => {
  await admin?.disconnect();
  await kafka?.stop();
  if (process.env.KAFKA_BUS_TEST_LOGS) process.stderr.write(logs.join('\n') + '\n');
}, START_TIMEOUT_MS);

afterEach(async () => {
  await Promise.allSettled(buses.splice(0).map((bus) => bus.close()));
});

describe('KafkaBus', () => {
  it('refuses records until started and after close, and fails start fast without a broker', async () => {
    const t = topics();
    const { bus } = node('lifecycle', t);
    await expect(bus.publishGroup(groupEvent('g', 1))).rejects.toBeInstanceOf(KafkaUnavailableError);
    expect(await bus.healthy()).toBe(false);
    await bus.start();
    expect(await bus.healthy()).toBe(true);
    await bus.close();
    await bus.close();
    await expect(bus.appendPrivate('d:a:b', entry(1, 'd:a:b'))).rejects.toBeInstanceOf(KafkaUnavailableError);
    expect(await bus.healthy()).toBe(false);

    // Nothing listens on port 1.
    const unreachable = node('unreachable', t, { brokers: ['127.0.0.1:1'] });
    const began = Date.now();
    await expect(unreachable.bus.start()).rejects.toThrow();
    expect(Date.now() - began).toBeLessThan(6_000);
  });

  it('creates both topics with the configured partition count, and starts again on existing ones', async () => {
    const t = topics();
    const first = node('topics-1', t, { partitions: 6 });
    await first.bus.start();
    const { topics: created } = await admin.fetchTopicMetadata({ topics: [t.messagesTopic, t.groupTopic] });
    expect(created.map(({ name, partitions }) => [name, partitions.length]).sort()).toEqual(
      [
        [t.groupTopic, 6],
        [t.messagesTopic, 6],
      ].sort(),
    );

    const second = node('topics-2', t, { partitions: 6 });
    await second.bus.start();
    expect(await second.bus.healthy()).toBe(true);
    expect(first.bus.consumerGroupId).toBe('im-gateway-fanout-topics-1');
  });

  it('writes one record per group message and every node delivers it once, in order per group', async () => {
    const t = topics();
    const nodes = [node('a', t), node('b', t), node('c', t)];
    await Promise.all(nodes.map(({ bus }) => bus.start()));

    const first = groupEvent('g1', 1);
    await nodes[0]!.bus.publishGroup(first);
    expect(await recordCount(t.groupTopic)).toBe(1);
    await vi.waitFor(() => nodes.forEach(({ received }) => expect(received).toHaveLength(1)), { timeout: 10_000 });
    await sleep(SETTLE_MS);
    for (const { received } of nodes) expect(received).toEqual([first]);

    // Concurrent publishes from another node go out in batches; each group's events keep their order.
    const burst = [...Array(20).keys()].map((i) => groupEvent(i % 2 ? 'g1' : 'g2', 2 + i));
    await Promise.all(burst.map((event) => nodes[1]!.bus.publishGroup(event)));
    expect(await recordCount(t.groupTopic)).toBe(21);
    await vi.waitFor(() => nodes.forEach(({ received }) => expect(received).toHaveLength(21)), { timeout: 10_000 });
    await sleep(SETTLE_MS);
    for (const { received } of nodes) {
      for (const groupId of ['g1', 'g2']) {
        const expected = [first, ...burst].filter((event) => event.groupId === groupId);
        expect(received.filter((event) => event.groupId === groupId)).toEqual(expected);
      }
    }
    expect(await recordCount(t.messagesTopic)).toBe(0);
  });

  it('carries a membership change with its log, keyed by group, and reads a record without one as a group message', async () => {
    const t = topics();
    const a = node('log-a', t);
    const b = node('log-b', t);
    await Promise.all([a.bus.start(), b.bus.start()]);
    const change: GroupEvent = {
      groupId: 'g',
      log: 'membership',
      entry: { pos: 1, frame: { type: 'membership_change', group_id: 'g', change_type: 'join', user_id: 'bob', timestamp: 1 }, storedAt: 1 },
    };
    const message = groupEvent('g', 1);
    await a.bus.publishGroup(change);
    await a.bus.publishGroup(message);
    // A record as earlier versions wrote it, and one naming a log this version does not know.
    const producer = client.producer();
    await producer.connect();
    const legacy = groupEvent('g', 2);
    await producer.send({
      topic: t.groupTopic,
      messages: [
        { key: 'g', value: JSON.stringify({ groupId: 'g', entry: legacy.entry }) },
        { key: 'g', value: JSON.stringify({ ...groupEvent('g', 3), log: 'reactions' }) },
      ],
    });
    await producer.disconnect();
    await vi.waitFor(() => [a, b].forEach(({ received }) => expect(received).toHaveLength(3)), { timeout: 10_000 });
    await sleep(SETTLE_MS);
    for (const { received } of [a, b]) expect(received).toEqual([change, message, legacy]);
    // Group messages keep the record format they always had.
    const records = await readTopic(t.groupTopic, 4);
    expect(records.every((record) => record.key === 'g')).toBe(true);
    expect(JSON.parse(records[0]!.value)).toEqual(change);
    expect(Object.keys(JSON.parse(records[1]!.value))).toEqual(['groupId', 'entry']);
  });

  it('appends a private message keyed by its conversation', async () => {
    const t = topics();
    const { bus, received } = node('private', t);
    await bus.start();
    const ab = [entry(1, 'd:alice:bob'), entry(2, 'd:alice:bob')];
    const cd = entry(1, 'd:carol:dave');
    await bus.appendPrivate('d:alice:bob', ab[0]!);
    await bus.appendPrivate('d:alice:bob', ab[1]!);
    await bus.appendPrivate('d:carol:dave', cd);

    const records = await readTopic(t.messagesTopic, 3);
    expect(records).toHaveLength(3);
    const abRecords = records.filter((record) => record.key === 'd:alice:bob');
    expect(abRecords.map((record) => JSON.parse(record.value))).toEqual(ab);
    expect(new Set(abRecords.map((record) => record.partition)).size).toBe(1);
    expect(records.filter((record) => record.key === 'd:carol:dave').map((record) => JSON.parse(record.value))).toEqual([cd]);
    expect(await recordCount(t.groupTopic)).toBe(0);
    expect(received).toEqual([]);
  });

  it('starts at the end of the group topic, also when restarted with the same node id', async () => {
    const t = topics();
    const publisher = node('publisher', t);
    await publisher.bus.start();
    await publisher.bus.publishGroup(groupEvent('g', 1));
    await publisher.bus.publishGroup(groupEvent('g', 2));

    const late = node('late', t);
    await late.bus.start();
    await publisher.bus.publishGroup(groupEvent('g', 3));
    await vi.waitFor(() => expect(late.received).toHaveLength(1), { timeout: 10_000 });
    await sleep(SETTLE_MS);
    expect(late.received).toEqual([groupEvent('g', 3)]);

    await late.bus.close();
    // Missed while down: replay from the store covers it, not the bus.
    await publisher.bus.publishGroup(groupEvent('g', 4));
    // As if an earlier life had committed offsets at the very beginning.
    await commitOffsets(fanoutGroupId('late'), t.groupTopic, '0');

    const restarted = node('late', t);
    await restarted.bus.start();
    await publisher.bus.publishGroup(groupEvent('g', 5));
    await vi.waitFor(() => expect(restarted.received).toHaveLength(1), { timeout: 10_000 });
    await sleep(SETTLE_MS);
    expect(restarted.received).toEqual([groupEvent('g', 5)]);
    expect(publisher.received).toEqual([1, 2, 3, 4, 5].map((pos) => groupEvent('g', pos)));
  });

  it('rejects within the send bound while the broker hangs, then carries on', async () => {
    const t = topics();
    const { bus, received } = node('hang', t, { sendTimeoutMs: 2_000 });
    await bus.start();
    const runtime = await getContainerRuntimeClient();
    const container = runtime.container.getById(kafka.container.getId());
    await container.pause();
    const began = Date.now();
    try {
      await expect(bus.publishGroup(groupEvent('g', 1))).rejects.toBeInstanceOf(KafkaUnavailableError);
      expect(Date.now() - began).toBeLessThan(3_000);
      await vi.waitFor(async () => expect(await bus.healthy()).toBe(false), { timeout: 5_000, interval: 200 });
    } finally {
      await container.unpause();
    }
    // Event 1 may still land once the broker wakes: a rejection means "not confirmed" (at-least-once).
    await vi.waitFor(() => bus.publishGroup(groupEvent('g', 2)), { timeout: 20_000, interval: 250 });
    await vi.waitFor(() => expect(received).toContainEqual(groupEvent('g', 2)), { timeout: 20_000 });
    expect(await bus.healthy()).toBe(true);
  }, 60_000);

  it('fails fast while the broker is down and recovers by itself when it returns', async () => {
    const t = topics();
    const nodes = [node('up-1', t), node('up-2', t)];
    await Promise.all(nodes.map(({ bus }) => bus.start()));
    const [a] = nodes as [TestNode, TestNode];
    await a.bus.publishGroup(groupEvent('g', 1));
    await vi.waitFor(() => nodes.forEach(({ received }) => expect(received).toHaveLength(1)), { timeout: 10_000 });

    await stopBroker();
    let began = Date.now();
    await expect(a.bus.publishGroup(groupEvent('g', 2))).rejects.toBeInstanceOf(KafkaUnavailableError);
    expect(Date.now() - began).toBeLessThan(6_000);
    began = Date.now();
    await expect(a.bus.appendPrivate('d:alice:bob', entry(1, 'd:alice:bob'))).rejects.toBeInstanceOf(KafkaUnavailableError);
    expect(Date.now() - began).toBeLessThan(6_000);
    await vi.waitFor(async () => expect(await nodes[1]!.bus.healthy()).toBe(false), { timeout: 5_000, interval: 200 });
    expect(await a.bus.healthy()).toBe(false);

    await kafka.restart();
    await vi.waitFor(async () => expect(await a.bus.healthy()).toBe(true), { timeout: 30_000, interval: 200 });
    // The first attempts may meet a partition whose leader is still being elected.
    await vi.waitFor(() => a.bus.publishGroup(groupEvent('g', 3)), { timeout: 30_000, interval: 250 });
    await vi.waitFor(() => nodes.forEach(({ received }) => expect(received).toContainEqual(groupEvent('g', 3))), {
      timeout: 30_000,
      interval: 100,
    });
    await nodes[1]!.bus.appendPrivate('d:alice:bob', entry(2, 'd:alice:bob'));
    expect(await nodes[1]!.bus.healthy()).toBe(true);
    for (const { received } of nodes) expect(received).not.toContainEqual(groupEvent('g', 2));
  }, 90_000);
});
