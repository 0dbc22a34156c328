/**
 * Chooses the backends from config. With none configured the node runs alone
 * on the in-memory engines; REDIS_URL alone keeps one node's state in Redis;
 * ETCD_ENDPOINTS, REDIS_URL and KAFKA_BROKERS together make a fleet.
 */
import { KafkaBus } from './bus/kafka-bus.ts';
import { MemoryBus } from './bus/memory-bus.ts';
import type { GatewayConfig } from './config/config.ts';
import type { Backends } from './node.ts';
import type { Logger } from './observability/logger.ts';
import { EtcdRegistry } from './registry/etcd-registry.ts';
import { MemoryRegistry } from './registry/memory-registry.ts';
import { MemoryStore } from './store/memory-store.ts';
import { RedisStore } from './store/redis-store.ts';

function rateLimit(config: GatewayConfig): { limit: number; windowMs: number } {
  return { limit: config.limits.rateLimitMessages, windowMs: config.limits.rateLimitWindowMs };
}

export function memoryBackends(config: GatewayConfig): Backends {
  return {
    store: new MemoryStore(config.retention, rateLimit(config), { maxDedupKeys: config.memoryDedupMaxKeys, maxLogBytes: config.memoryLogMaxBytes }),
    registry: localRegistry(config),
    bus: new MemoryBus(),
    fleet: false,
  };
}

function localRegistry(config: GatewayConfig): MemoryRegistry {
  return new MemoryRegistry({ nodeId: config.nodeId, grpcAddress: config.grpcAdvertiseAddress });
}

export function createBackends(config: GatewayConfig, log: Logger): Backends {
  const { etcdEndpoints, redisUrl, kafkaBrokers } = config.backends;
  if (redisUrl === undefined) return memoryBackends(config);
  const store = new RedisStore({ url: redisUrl, keyPrefix: config.redis.keyPrefix, retention: config.retention, rate: rateLimit(config), nodeId: config.nodeId });
  if (etcdEndpoints === undefined || kafkaBrokers === undefined) {
    return { store, registry: localRegistry(config), bus: new MemoryBus(), fleet: false };
  }
  const registry = new EtcdRegistry({
    endpoints: etcdEndpoints,
    prefix: config.etcd.prefix,
    nodeId: config.nodeId,
    grpcAddress: config.grpcAdvertiseAddress,
    leaseTtlSeconds: config.etcd.leaseTtlSeconds,
    log,
  });
  const bus = new KafkaBus({
    brokers: kafkaBrokers,
    nodeId: config.nodeId,
    messagesTopic: config.kafka.messagesTopic,
    groupTopic: config.kafka.groupTopic,
    partitions: config.kafka.partitions,
    replicationFactor: config.kafka.replicationFactor,
    log,
  });
  return { store, registry, bus, fleet: true };
}

export async function closeBackends(backends: Backends): Promise<void> {
  await Promise.allSettled([backends.store.close(), backends.registry.close(), backends.bus.close()]);
}
