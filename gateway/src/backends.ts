/**
 * Chooses the backends from config. With no etcd, Redis or Kafka configured
 * the node runs alone on the in-memory implementations.
 */
import { MemoryBus } from './bus/memory-bus.ts';
import type { GatewayConfig } from './config/config.ts';
import { ConfigError } from './config/config.ts';
import type { Backends } from './node.ts';
import { MemoryRegistry } from './registry/memory-registry.ts';
import { MemoryStore } from './store/memory-store.ts';

export function memoryBackends(config: GatewayConfig): Backends {
  return {
    store: new MemoryStore(config.retention, { limit: config.limits.rateLimitMessages, windowMs: config.limits.rateLimitWindowMs }),
    registry: new MemoryRegistry(),
    bus: new MemoryBus(),
  };
}

export async function createBackends(config: GatewayConfig): Promise<Backends> {
  const { etcdEndpoints, redisUrl, kafkaBrokers } = config.backends;
  if (etcdEndpoints !== undefined || redisUrl !== undefined || kafkaBrokers !== undefined) {
    throw new ConfigError('ETCD_ENDPOINTS, REDIS_URL and KAFKA_BROKERS are not supported by this build yet; unset them to run one node on embedded defaults');
  }
  return memoryBackends(config);
}

export async function closeBackends(backends: Backends): Promise<void> {
  await Promise.allSettled([backends.store.close(), backends.registry.close(), backends.bus.close()]);
}
