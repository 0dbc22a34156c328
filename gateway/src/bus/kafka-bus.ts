/**
 * The fleet's bus on Kafka.
 *
 * Two topics:
 * - the message log (`im-gateway.messages`): one record per accepted private
 *   message, keyed by conversation id, for downstream storage and audit;
 * - the group topic (`im-gateway.group-messages`): one record per group
 *   message or membership change, keyed by group id. It is the group part of
 *   the message log and also the live broadcast: every node consumes it in a
 *   consumer group of its own (`im-gateway-fanout-<nodeId>`), so each node
 *   sees every record. A record is `{"groupId", "entry"}`, plus
 *   `"log": "membership"` for a membership change; a record without `log` is
 *   a group message (as every record of earlier versions).
 *
 * Keys keep one conversation (or group) on one partition, hence in order.
 *
 * The group topic is for live fan-out only: the durable group log is in the
 * store and replay on connect covers whatever a node missed. So a node never
 * reads history: it starts at the end of the topic, and within one process it
 * tracks its own position per partition, which it re-applies on every group
 * join. Committed offsets are neither written nor trusted.
 *
 * Failure: produce rejects within `sendTimeoutMs` when Kafka is down, so the
 * gateway can answer senders instead of hanging. Producer, consumer and the
 * health check reconnect by themselves when the broker returns.
 */
import type { LogId } from '../conversation-log/log-id.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { Kafka, Partitioners, logLevel } from 'kafkajs';
import type { Admin, Consumer, EachBatchPayload, KafkaMessage, Message, Producer, logCreator } from 'kafkajs';
import { createLogger, errorText } from '../observability/logger.ts';
import type { Logger } from '../observability/logger.ts';
import { decodeEntry, encodeEntry, type LogEntry } from '../conversation-log/entry.ts';
import { Backoff } from '../shared/backoff.ts';
import { DEFAULT_GROUP_TOPIC, DEFAULT_MESSAGES_TOPIC } from '../config/defaults.ts';
import type { Bus, GroupEvent, GroupEventHandler } from './bus.ts';

export interface KafkaBusOptions {
  /** host:port pairs. */
  brokers: string[];
  /** Unique per gateway node: names this node's fan-out consumer group. */
  nodeId: string;
  messagesTopic?: string;
  groupTopic?: string;
  /** Partitions of both topics when this bus creates them. */
  partitions?: number;
  replicationFactor?: number;
  clientId?: string;
  log?: Logger;
  /** Longest a publish may wait for Kafka before it rejects. */
  sendTimeoutMs?: number;
  /** How long a message-log record waits for others to share its produce request; 0 sends at once. Default 20. */
  lingerMs?: number;
}


/** Rejection of a publish or append: Kafka did not take the record. */
export class KafkaUnavailableError extends Error {
  override readonly name = 'KafkaUnavailableError';
}

export function fanoutGroupId(nodeId: string): string {
  return `im-gateway-fanout-${nodeId}`;
}

// Brokers sit next to the gateway: a connection that takes over a second is not coming.
const CONNECTION_TIMEOUT_MS = 1_000;
const REQUEST_TIMEOUT_MS = 5_000;
const DEFAULT_SEND_TIMEOUT_MS = 5_000;
// How long the broker may wait for in-sync replicas before failing a produce.
const PRODUCE_ACK_TIMEOUT_MS = 4_000;
const DEFAULT_LINGER_MS = 20;
// After a failed send, publishes fail at once for this long instead of each
// queueing behind another connection attempt.
const CIRCUIT_OPEN_MS = 1_000;
// One produce request carries at most this much (and one record no more):
// Kafka refuses batches over max.message.bytes (1 MiB by default) per partition.
const MAX_BATCH_RECORDS = 500;
const MAX_BATCH_BYTES = 512 * 1024;
const HEALTH_CACHE_MS = 1_000;
const HEALTH_TIMEOUT_MS = 1_000;
// A member that vanished without leaving the group (a node that died, or this
// node's own consumer that kafkajs replaced after a crash while the broker was
// down) holds the group's next join until its session expires or the
// rebalance times out: that wait is the fan-out gap after a restart or an
// outage. Each group has a single live member with nothing to hand over, so
// short timeouts cost at most a rejoin. 6 s is the broker's default minimum session.
const SESSION_TIMEOUT_MS = 6_000;
const REBALANCE_TIMEOUT_MS = 3_000;
const HEARTBEAT_INTERVAL_MS = 1_000;
// Bounds consumer.disconnect(), which waits for the current long poll.
const FETCH_MAX_WAIT_MS = 1_000;
const CONSUMER_RESTART_MIN_MS = 500;
const CONSUMER_RESTART_MAX_MS = 10_000;
// The same kafkajs complaint at most once per window: an outage repeats them several times a second.
const CLIENT_LOG_REPEAT_MS = 10_000;

interface Pending {
  topic: string;
  message: Message;
  bytes: number;
  resolve: () => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
  settled: boolean;
}

export class KafkaBus implements Bus {
  readonly name = 'kafka';
  readonly messagesTopic: string;
  readonly groupTopic: string;
  readonly consumerGroupId: string;

  private readonly partitions: number;
  private readonly replicationFactor: number;
  private readonly sendTimeoutMs: number;
  private readonly lingerMs: number;
  private readonly log: Logger;
  private readonly kafka: Kafka;
  private readonly admin: Admin;

  private state: 'new' | 'starting' | 'started' | 'closed' = 'new';
  private handler: GroupEventHandler | null = null;

  private producer: Promise<Producer> | null = null;
  private queue: Pending[] = [];
  private flushing: Promise<void> | null = null;
  private lingering: NodeJS.Timeout | null = null;
  private circuitOpenUntil = 0;
  private lastSendError = '';

  private consumer: Consumer | null = null;
  private consumerRestart: NodeJS.Timeout | null = null;
  private readonly consumerRestartBackoff = new Backoff({ initialMs: CONSUMER_RESTART_MIN_MS, maxMs: CONSUMER_RESTART_MAX_MS });
  private lastCrashLogged = 0;
  /** Next offset to deliver per group-topic partition: the end of the topic at start, then past each delivered record. */
  private readonly positions = new Map<number, bigint>();

  private health = { ok: false, at: 0 };
  private healthProbe: Promise<boolean> | null = null;
  private clusterCheck: Promise<unknown> | null = null;

  constructor(options: KafkaBusOptions) {
    if (options.brokers.length === 0) throw new Error('KafkaBus needs at least one broker');
    if (!options.nodeId) throw new Error('KafkaBus needs a nodeId');
    this.messagesTopic = options.messagesTopic ?? DEFAULT_MESSAGES_TOPIC;
    this.groupTopic = options.groupTopic ?? DEFAULT_GROUP_TOPIC;
    this.consumerGroupId = fanoutGroupId(options.nodeId);
    this.partitions = options.partitions ?? 12;
    this.replicationFactor = options.replicationFactor ?? 1;
    this.sendTimeoutMs = options.sendTimeoutMs ?? DEFAULT_SEND_TIMEOUT_MS;
    this.lingerMs = options.lingerMs ?? DEFAULT_LINGER_MS;
    this.log = options.log ?? createLogger('warn', { component: 'kafka-bus', node: options.nodeId });
    this.kafka = new Kafka({
      clientId: options.clientId ?? `im-gateway-${options.nodeId}`,
      brokers: options.brokers,
      connectionTimeout: CONNECTION_TIMEOUT_MS,
      requestTimeout: REQUEST_TIMEOUT_MS,
      retry: { initialRetryTime: 100, maxRetryTime: 1_000, retries: 3 },
      logLevel: logLevel.WARN,
      logCreator: clientLogCreator(this.log),
    });
    this.admin = this.kafka.admin();
  }

  onGroupEvent(handler: GroupEventHandler): void {
    this.handler = handler;
  }

  /** Fails when Kafka is unreachable: a node should not serve without its bus. */
  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error(`KafkaBus.start() called when ${this.state}`);
    this.state = 'starting';
    try {
      await this.admin.connect();
      await this.ensureTopics();
      await this.connectedProducer();
      // The end of the topic now: everything published from here on is
      // delivered, nothing before, whatever offsets the group committed in an
      // earlier life. (Right after another node created the topic, its
      // leaders may still be on their way.)
      const ends = await retryRetriable(() => this.admin.fetchTopicOffsets(this.groupTopic));
      for (const { partition, high } of ends) {
        this.positions.set(partition, BigInt(high));
      }
      this.state = 'started';
      // Resolves once joined. After an unclean restart of this node id, the
      // old member holds the group until its session expires; records
      // published meanwhile still arrive, from the positions above.
      await this.runConsumer();
      this.health = { ok: true, at: Date.now() };
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  async healthy(): Promise<boolean> {
    if (this.state !== 'started') return false;
    if (Date.now() < this.circuitOpenUntil) return false;
    if (Date.now() - this.health.at < HEALTH_CACHE_MS) return this.health.ok;
    this.healthProbe ??= this.probe().finally(() => {
      this.healthProbe = null;
    });
    return this.healthProbe;
  }

  appendPrivate(logId: LogId, entry: LogEntry): Promise<void> {
    return this.send(this.messagesTopic, logId, encodeEntry(entry));
  }

  publishGroup(event: GroupEvent): Promise<void> {
    const value: GroupEvent = { groupId: event.groupId, entry: event.entry };
    // Group messages keep the record format of earlier versions.
    if (event.log === 'membership') value.log = 'membership';
    return this.send(this.groupTopic, event.groupId, JSON.stringify(value));
  }

  /** Sends what was already accepted, then disconnects. Safe to call twice. */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    if (this.consumerRestart) clearTimeout(this.consumerRestart);
    this.consumerRestart = null;
    if (this.lingering !== null) {
      clearTimeout(this.lingering);
      this.lingering = null;
      this.startFlush();
    }
    const consumer = this.consumer;
    this.consumer = null;
    // Records already taken get their answer; a hung broker does not hold shutdown past the send bound.
    await Promise.race([this.flushing, sleep(this.sendTimeoutMs, undefined, { ref: false })]);
    for (const pending of this.queue) settle(pending, new KafkaUnavailableError('kafka bus is closed'));
    this.queue = [];
    const producer = this.producer;
    this.producer = null;
    await Promise.allSettled([
      consumer?.disconnect(),
      producer?.then((p) => p.disconnect()),
      this.admin.disconnect(),
    ]);
    this.handler = null;
  }

  // ---- producing ----

  /**
   * Queues one record. Records queued while a request is in flight go out
   * together in the next one: the idempotent producer allows one request per
   * broker at a time, so batching is what keeps throughput up.
   */
  private send(topic: string, key: string, value: string): Promise<void> {
    if (this.state !== 'started') {
      return Promise.reject(new KafkaUnavailableError(`kafka bus is ${this.state === 'closed' ? 'closed' : 'not started'}`));
    }
    if (Date.now() < this.circuitOpenUntil) {
      return Promise.reject(new KafkaUnavailableError(`kafka unavailable: ${this.lastSendError}`));
    }
    const bytes = Buffer.byteLength(key) + Buffer.byteLength(value);
    if (bytes > MAX_BATCH_BYTES) {
      // Kafka would refuse it, failing every record batched with it.
      return Promise.reject(new Error(`record of ${bytes} bytes exceeds the ${MAX_BATCH_BYTES}-byte limit`));
    }
    return new Promise<void>((resolve, reject) => {
      const pending: Pending = {
        topic,
        message: { key, value },
        bytes,
        resolve,
        reject,
        settled: false,
        // The hard bound: kafkajs's own timeouts and retries compound.
        timer: setTimeout(() => {
          settle(pending, new KafkaUnavailableError(`kafka did not take the record within ${this.sendTimeoutMs} ms`));
        }, this.sendTimeoutMs),
      };
      this.queue.push(pending);
      this.kick(topic);
    });
  }

  /**
   * Starts a produce request for what is queued. A group record goes at once
   * (it is the live fan-out); a message-log record waits up to lingerMs for
   * others to share its request: a request costs far more than a record in it
   * (bench/micro/kafka-produce.ts: at 3,000 records/s, 124 µs of CPU per record
   * sent at once, 67 with 5 ms of linger; at 2,000/s, 84 with 5 ms, 76 with 20).
   * The record follows its delivery, so waiting costs no client anything; in
   * a fleet of three at 5,366 msg/s the services' CPU per message fell from
   * 101 to 93 µs with 20 ms instead of 5 (`npm run bench -- --only distributed`).
   */
  private kick(topic: string): void {
    if (this.flushing) return;
    if (topic === this.groupTopic || this.lingerMs === 0) {
      if (this.lingering !== null) clearTimeout(this.lingering);
      this.lingering = null;
      this.startFlush();
      return;
    }
    this.lingering ??= setTimeout(() => {
      this.lingering = null;
      this.startFlush();
    }, this.lingerMs);
  }

  private startFlush(): void {
    if (this.flushing) return;
    this.flushing = this.flush().finally(() => {
      this.flushing = null;
      // A caller resumed by the last batch may have queued more before this ran.
      if (this.queue.length > 0 && this.state === 'started') this.startFlush();
    });
  }

  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.takeBatch();
      if (batch.length === 0) continue;
      try {
        const producer = await this.connectedProducer();
        await producer.sendBatch({ acks: -1, timeout: PRODUCE_ACK_TIMEOUT_MS, topicMessages: byTopic(batch) });
        for (const pending of batch) settle(pending);
        this.health = { ok: true, at: Date.now() };
      } catch (err) {
        this.onSendFailed(err);
        const error = new KafkaUnavailableError(`kafka unavailable: ${errorText(err)}`, { cause: err });
        for (const pending of batch) settle(pending, error);
        // The rest of the queue was waiting on a broker that just failed.
        for (const pending of this.queue) settle(pending, error);
        this.queue = [];
      }
    }
  }

  /** Oldest unsettled records, within the request size limits. */
  private takeBatch(): Pending[] {
    const batch: Pending[] = [];
    let bytes = 0;
    while (this.queue.length > 0 && batch.length < MAX_BATCH_RECORDS) {
      const next = this.queue[0]!;
      if (next.settled) {
        this.queue.shift();
        continue;
      }
      if (batch.length > 0 && bytes + next.bytes > MAX_BATCH_BYTES) break;
      this.queue.shift();
      batch.push(next);
      bytes += next.bytes;
    }
    return batch;
  }

  private onSendFailed(err: unknown): void {
    this.lastSendError = errorText(err);
    this.circuitOpenUntil = Date.now() + CIRCUIT_OPEN_MS;
    this.health = { ok: false, at: Date.now() };
    this.log.warn('kafka_send_failed', { error: this.lastSendError });
    // A request that timed out may still have been written. The idempotent
    // producer would reuse its sequence number for the next record, which the
    // broker would then drop as a duplicate; a new producer gets a new id.
    const old = this.producer;
    this.producer = null;
    void old?.then((p) => p.disconnect()).catch(() => {});
  }

  private connectedProducer(): Promise<Producer> {
    this.producer ??= this.connectProducer();
    return this.producer;
  }

  private async connectProducer(): Promise<Producer> {
    const producer = this.kafka.producer({
      idempotent: true,
      allowAutoTopicCreation: false,
      // Java-compatible murmur2: a key lands on the same partition as from any other client.
      createPartitioner: Partitioners.DefaultPartitioner,
      // Bounded, unlike the idempotent default (forever): a send must fail fast.
      retry: { initialRetryTime: 100, maxRetryTime: 1_000, retries: 2 },
    });
    try {
      await producer.connect();
      return producer;
    } catch (err) {
      this.producer = null;
      void producer.disconnect().catch(() => {});
      throw err;
    }
  }

  // ---- consuming ----

  /** Creates, joins and runs a fresh consumer; a crashed kafkajs consumer is not reused. */
  private async runConsumer(): Promise<void> {
    const consumer = this.kafka.consumer({
      groupId: this.consumerGroupId,
      sessionTimeout: SESSION_TIMEOUT_MS,
      rebalanceTimeout: REBALANCE_TIMEOUT_MS,
      heartbeatInterval: HEARTBEAT_INTERVAL_MS,
      maxWaitTimeInMs: FETCH_MAX_WAIT_MS,
      allowAutoTopicCreation: false,
      retry: {
        initialRetryTime: 300,
        maxRetryTime: 2_000,
        retries: 10,
        restartOnFailure: async () => this.state === 'started',
      },
    });
    this.consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      // Runs inside the join, before the first fetch of this generation.
      for (const partition of payload.memberAssignment[this.groupTopic] ?? []) {
        const position = this.positions.get(partition);
        if (position !== undefined) consumer.seek({ topic: this.groupTopic, partition, offset: position.toString() });
      }
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      // While the broker is down this repeats every second or so.
      if (!payload.restart || Date.now() - this.lastCrashLogged >= CLIENT_LOG_REPEAT_MS) {
        this.lastCrashLogged = Date.now();
        this.log.warn('kafka_consumer_crashed', { error: errorText(payload.error), restart: payload.restart });
      }
      // kafkajs restarts it after retriable errors only; otherwise start a new one.
      if (!payload.restart && this.consumer === consumer) this.scheduleConsumerRestart();
    });
    try {
      await consumer.connect();
      await consumer.subscribe({ topic: this.groupTopic, fromBeginning: false });
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        eachBatch: (payload) => this.onBatch(payload),
      });
    } catch (err) {
      if (this.consumer === consumer) this.consumer = null;
      await consumer.disconnect().catch(() => {});
      throw err;
    }
    if (this.state !== 'started') {
      // Closed while joining: close() may have missed this consumer.
      await consumer.disconnect().catch(() => {});
      return;
    }
    this.consumerRestartBackoff.reset();
  }

  private scheduleConsumerRestart(): void {
    if (this.state !== 'started' || this.consumerRestart) return;
    const delay = this.consumerRestartBackoff.next();
    this.consumerRestart = setTimeout(() => {
      this.consumerRestart = null;
      const old = this.consumer;
      this.consumer = null;
      void (async () => {
        await old?.disconnect().catch(() => {});
        if (this.state !== 'started') return;
        await this.runConsumer();
      })().catch((err: unknown) => {
        this.log.warn('kafka_consumer_restart_failed', { error: errorText(err), retry_in_ms: this.consumerRestartBackoff.peek() });
        this.scheduleConsumerRestart();
      });
    }, delay);
    this.consumerRestart.unref();
  }

  private async onBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    const { partition } = batch;
    for (const message of batch.messages) {
      if (!isRunning() || isStale()) return;
      const offset = BigInt(message.offset);
      // Below the position: history from before this process, or already delivered.
      if (offset >= (this.positions.get(partition) ?? 0n)) {
        this.deliver(partition, message);
        this.positions.set(partition, offset + 1n);
      }
      resolveOffset(message.offset);
    }
    await heartbeat();
  }

  private deliver(partition: number, message: KafkaMessage): void {
    let event: GroupEvent;
    try {
      event = parseGroupEvent(message.value);
    } catch (err) {
      this.log.error('kafka_group_record_invalid', { partition, offset: message.offset, error: errorText(err) });
      return;
    }
    try {
      this.handler?.(event);
    } catch (err) {
      // One failing delivery must not stall the partition for every other group.
      this.log.error('kafka_group_handler_failed', { group_id: event.groupId, error: errorText(err) });
    }
  }

  // ---- admin ----

  private async ensureTopics(): Promise<void> {
    const topics = [this.messagesTopic, this.groupTopic];
    const existing = new Set(await this.admin.listTopics());
    const missing = topics.filter((topic) => !existing.has(topic));
    if (missing.length > 0) {
      // Another node may create them at the same moment: kafkajs then returns false, which is fine.
      await this.admin.createTopics({
        waitForLeaders: true,
        topics: missing.map((topic) => ({
          topic,
          numPartitions: this.partitions,
          replicationFactor: this.replicationFactor,
          // With acks=all, a write is safe once it is on this many replicas.
          configEntries: [{ name: 'min.insync.replicas', value: String(minInSyncReplicas(this.replicationFactor)) }],
        })),
      });
    }
    const { topics: found } = await retryRetriable(() => this.admin.fetchTopicMetadata({ topics }));
    for (const { name, partitions } of found) {
      if (partitions.length !== this.partitions) {
        // Changing it would move keys between partitions; that is an operator's decision.
        this.log.warn('kafka_topic_partitions_differ', { topic: name, partitions: partitions.length, configured: this.partitions });
      }
    }
  }

  private async probe(): Promise<boolean> {
    // One metadata request at a time, however often /ready is asked.
    this.clusterCheck ??= this.admin.describeCluster().finally(() => {
      this.clusterCheck = null;
    });
    let ok = false;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.clusterCheck,
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('timed out')), HEALTH_TIMEOUT_MS);
        }),
      ]);
      ok = true;
    } catch {
      ok = false;
    } finally {
      clearTimeout(timer);
    }
    this.health = { ok, at: Date.now() };
    return ok;
  }
}

/** Retries what kafkajs marks retriable (a leader being elected, a topic being created), for up to ~5 s. */
async function retryRetriable<T>(action: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await action();
    } catch (err) {
      if (attempt >= 25 || (err as { retriable?: unknown }).retriable !== true) throw err;
      await sleep(200, undefined, { ref: false });
    }
  }
}

function settle(pending: Pending, err?: Error): void {
  if (pending.settled) return;
  pending.settled = true;
  clearTimeout(pending.timer);
  if (err) pending.reject(err);
  else pending.resolve();
}

function byTopic(batch: Pending[]): { topic: string; messages: Message[] }[] {
  const topics = new Map<string, Message[]>();
  for (const { topic, message } of batch) {
    const messages = topics.get(topic);
    if (messages) messages.push(message);
    else topics.set(topic, [message]);
  }
  return [...topics].map(([topic, messages]) => ({ topic, messages }));
}

/** Tolerates one replica down; with replication 1 or 2 any live replica will do. */
function minInSyncReplicas(replicationFactor: number): number {
  return Math.max(1, Math.min(2, replicationFactor - 1));
}

function parseGroupEvent(value: Buffer | null): GroupEvent {
  if (!value) throw new Error('empty record');
  const event = JSON.parse(value.toString('utf8')) as { groupId?: unknown; log?: unknown; entry?: unknown } | null;
  const entry = decodeEntry(event?.entry);
  if (typeof event?.groupId !== 'string' || entry === undefined) throw new Error('not a group event');
  // An unknown log (from a newer version) is skipped rather than delivered as a group message.
  if (event.log !== undefined && event.log !== 'messages' && event.log !== 'membership') {
    throw new Error(`unknown group log ${JSON.stringify(event.log)}`);
  }
  return event.log === undefined ? { groupId: event.groupId, entry } : { groupId: event.groupId, log: event.log, entry };
}

// kafkajs repeats warnings we act on ourselves.
const EXPECTED_CLIENT_WARNINGS = ['Limiting retries for the idempotent producer'];

/**
 * kafkajs logs (warn and error only) into the gateway's structured log at
 * warn, repeats throttled: its errors are mostly requests it retries itself.
 * The bus logs the outcomes (failed sends, consumer crashes) on its own.
 */
function clientLogCreator(log: Logger): logCreator {
  const lastLogged = new Map<string, number>();
  return () =>
    ({ namespace, level, log: entry }) => {
      const { message, timestamp: _timestamp, logger: _logger, stack: _stack, ...fields } = entry;
      if (EXPECTED_CLIENT_WARNINGS.some((expected) => message.startsWith(expected))) return;
      // Numbers vary between repeats ("Restarting the consumer in 337.5ms").
      const key = `${namespace}\n${message.replace(/\d+(\.\d+)?/g, '#')}`;
      const now = Date.now();
      const last = lastLogged.get(key);
      if (last !== undefined && now - last < CLIENT_LOG_REPEAT_MS) return;
      if (lastLogged.size >= 1_000) lastLogged.clear();
      lastLogged.set(key, now);
      log.warn('kafka_client', { namespace, message, kafka_level: level === logLevel.ERROR ? 'error' : 'warn', ...fields });
    };
}
