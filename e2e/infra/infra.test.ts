// Proves the e2e infrastructure: each service starts, serves the real client
// library the gateway uses, and comes back after restart().
import { Etcd3 } from 'etcd3';
import { Kafka, Partitioners, logLevel } from 'kafkajs';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEtcd, startKafka, startRedis } from './providers.ts';
import type { EtcdService, KafkaService, RedisService } from './providers.ts';

const START_TIMEOUT_MS = 120_000;
const KAFKA_TEST_TIMEOUT_MS = 60_000;

describe('redis', () => {
  let redis: RedisService;
  let client: Redis;

  beforeAll(async () => {
    redis = await startRedis();
    client = new Redis(redis.url, { maxRetriesPerRequest: 3 });
    // Refused connections while the server restarts are expected; ioredis
    // retries them, and a real failure rejects the command under test.
    client.on('error', () => {});
  }, START_TIMEOUT_MS);

  afterAll(async () => {
    client?.disconnect();
    await redis?.stop();
  });

  it('answers SET and GET', async () => {
    expect(await client.set('e2e:key', 'value')).toBe('OK');
    expect(await client.get('e2e:key')).toBe('value');
  });

  it('serves again after restart(), with its data', async () => {
    await redis.restart();
    // Started with an fsync-always AOF: a kill loses nothing acknowledged. The client reconnects by itself.
    expect(await client.ping()).toBe('PONG');
    expect(await client.get('e2e:key')).toBe('value');
  }, START_TIMEOUT_MS);
});

describe('etcd', () => {
  let etcd: EtcdService;
  let client: Etcd3;

  beforeAll(async () => {
    etcd = await startEtcd();
    client = new Etcd3({ hosts: etcd.endpoints });
  }, START_TIMEOUT_MS);

  afterAll(async () => {
    client?.close();
    await etcd?.stop();
  });

  it('keeps a key under a lease until the lease is revoked', async () => {
    const lease = client.lease(30);
    await lease.put('e2e/leased').value('alive');
    expect(await client.get('e2e/leased').string()).toBe('alive');
    await lease.revoke();
    expect(await client.get('e2e/leased').string()).toBeNull();
  });

  it('keeps its data across restart()', async () => {
    await client.put('e2e/durable').value('kept');
    await etcd.restart();
    expect(await client.get('e2e/durable').string()).toBe('kept');
  }, START_TIMEOUT_MS);
});

describe('kafka', () => {
  let kafka: KafkaService;
  let client: Kafka;
  const topic = 'e2e-infra';

  beforeAll(async () => {
    kafka = await startKafka();
    // kafkajs logs its own retries (such as "coordinator is loading" on a
    // fresh broker) as errors; real failures reject the calls below.
    client = new Kafka({ clientId: 'e2e-infra', brokers: kafka.brokers, logLevel: logLevel.NOTHING });
  }, START_TIMEOUT_MS);

  afterAll(async () => {
    await kafka?.stop();
  });

  it('creates a topic, produces and consumes one message in a consumer group', async () => {
    const admin = client.admin();
    await admin.connect();
    try {
      expect(await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true })).toBe(true);
    } finally {
      await admin.disconnect();
    }

    const producer = client.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    try {
      const sent = await producer.send({ topic, messages: [{ key: 'k1', value: 'hello' }] });
      expect(sent.map((record) => record.errorCode)).toEqual([0]);
    } finally {
      await producer.disconnect();
    }

    const consumer = client.consumer({ groupId: 'e2e-infra-group' });
    await consumer.connect();
    try {
      await consumer.subscribe({ topic, fromBeginning: true });
      const received = new Promise<{ key: string; value: string }>((resolve) => {
        void consumer.run({
          eachMessage: async ({ message }) => {
            resolve({ key: String(message.key), value: String(message.value) });
          },
        });
      });
      expect(await received).toEqual({ key: 'k1', value: 'hello' });
    } finally {
      await consumer.disconnect();
    }
  }, KAFKA_TEST_TIMEOUT_MS);

  it('keeps its topics across restart()', async () => {
    await kafka.restart();
    const admin = client.admin();
    await admin.connect();
    try {
      expect(await admin.listTopics()).toContain(topic);
    } finally {
      await admin.disconnect();
    }
  }, START_TIMEOUT_MS);
});
