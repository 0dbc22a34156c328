/**
 * A fleet for the e2e suite: real Redis, etcd and Kafka in containers and
 * gateway nodes as processes, all on loopback.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { startEtcd, startKafka, startRedis, type EtcdService, type KafkaService, type RedisService } from '../infra/providers.ts';
import { FLEET_ADMIN_TOKEN, GatewayProcess, type FleetBackends } from './gateway-process.ts';

export interface Fleet {
  redis: RedisService;
  etcd: EtcdService;
  kafka: KafkaService;
  backends: FleetBackends;
  nodes: GatewayProcess[];
  stop(): Promise<void>;
}

export async function startServices(): Promise<Omit<Fleet, 'nodes' | 'stop'>> {
  const [redis, etcd, kafka] = await Promise.all([startRedis(), startEtcd(), startKafka()]);
  return { redis, etcd, kafka, backends: { etcdEndpoints: etcd.endpoints, redisUrl: redis.url, kafkaBrokers: kafka.brokers } };
}

export async function startFleet(size: number, env: Record<string, string> = {}): Promise<Fleet> {
  const services = await startServices();
  const nodes = Array.from({ length: size }, (_, i) => new GatewayProcess(`gw-${i}`, services.backends, env));
  try {
    await Promise.all(nodes.map((n) => n.start()));
  } catch (err) {
    await Promise.allSettled(nodes.map((n) => n.kill()));
    await Promise.allSettled([services.redis.stop(), services.etcd.stop(), services.kafka.stop()]);
    throw err;
  }
  return {
    ...services,
    nodes,
    async stop() {
      await Promise.allSettled(nodes.map((n) => n.kill()));
      await Promise.allSettled([services.redis.stop(), services.etcd.stop(), services.kafka.stop()]);
    },
  };
}

export async function addMember(node: GatewayProcess, groupId: string, userId: string): Promise<void> {
  const res = await fetch(`${node.httpUrl}/v1/groups/${groupId}/members/${userId}`, {
    method: 'PUT',
    headers: { Authorization: `Bearer ${FLEET_ADMIN_TOKEN}` },
  });
  if (!res.ok) throw new Error(`add ${userId} to ${groupId}: ${res.status} ${await res.text()}`);
}

/** Polls until `probe` holds, or fails naming `what`. */
export async function eventually(what: string, probe: () => Promise<boolean> | boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(100);
  }
}
