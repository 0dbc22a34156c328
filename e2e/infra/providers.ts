// Disposable Redis, etcd and Kafka instances for e2e tests: each on its own
// free loopback port on the host network, ready to serve when returned.
import { Wait } from 'testcontainers';
import type { GenericContainer, StartedTestContainer } from 'testcontainers';
import { getEngine, serviceContainer } from './engine.ts';
import { LOOPBACK, freePort, tcpAccepts, tcpRequest, waitUntil } from './net.ts';

export interface Service {
  container: StartedTestContainer;
  /** Stops and removes the container; safe to call twice. */
  stop(): Promise<void>;
  /** Kills and restarts the process on the same ports and waits until it serves again. */
  restart(): Promise<void>;
}

export interface RedisService extends Service {
  /** redis://127.0.0.1:PORT */
  url: string;
  port: number;
}

export interface EtcdService extends Service {
  /** Client URLs, as the etcd3 client's `hosts` option takes them. */
  endpoints: string[];
}

export interface KafkaService extends Service {
  /** host:port pairs, as kafkajs's `brokers` option takes them. */
  brokers: string[];
}

const READY_TIMEOUT_MS = 30_000;
// A JVM broker on 2 cores, possibly beside other test workers.
const KAFKA_READY_TIMEOUT_MS = 120_000;

export async function startRedis(): Promise<RedisService> {
  const { source, images } = await getEngine();
  const port = await freePort();
  let container = await serviceContainer('redis', images.redis);
  // As the gateway's docs ask of production: every acked write is fsynced to
  // the AOF before Redis answers, so a killed Redis loses nothing acknowledged.
  const durability = ['--appendonly', 'yes', '--appendfsync', 'always', '--dir', '/tmp'];
  // The local image takes its port from the environment; the official one
  // from redis-server flags (its entrypoint prepends redis-server to them).
  container =
    source === 'local'
      ? container.withEnvironment({ REDIS_PORT: String(port) }).withCommand(durability)
      : container.withCommand(['--port', String(port), '--bind', LOOPBACK, '--save', '', ...durability]);
  const ready = () =>
    waitUntil(`redis on ${port}`, async () => (await tcpRequest(port, 'PING\r\n')).startsWith('+PONG'), READY_TIMEOUT_MS);
  const started = await start(container, /Ready to accept connections/, READY_TIMEOUT_MS, ready);
  return { ...started, url: `redis://${LOOPBACK}:${port}`, port };
}

export async function startEtcd(): Promise<EtcdService> {
  const { images } = await getEngine();
  const [clientPort, peerPort] = [await freePort(), await freePort()];
  const client = `http://${LOOPBACK}:${clientPort}`;
  const peer = `http://${LOOPBACK}:${peerPort}`;
  // etcd reads every flag from ETCD_* variables, so both images take the same environment.
  const container = (await serviceContainer('etcd', images.etcd)).withEnvironment({
    ETCD_NAME: 'e2e',
    ETCD_DATA_DIR: '/var/lib/imgw-etcd',
    ETCD_LISTEN_CLIENT_URLS: client,
    ETCD_ADVERTISE_CLIENT_URLS: client,
    ETCD_LISTEN_PEER_URLS: peer,
    ETCD_INITIAL_ADVERTISE_PEER_URLS: peer,
    ETCD_INITIAL_CLUSTER: `e2e=${peer}`,
  });
  const ready = () =>
    waitUntil(
      `etcd on ${clientPort}`,
      async () => {
        const response = await fetch(`${client}/health`, { signal: AbortSignal.timeout(1000) });
        return response.ok && ((await response.json()) as { health?: string }).health === 'true';
      },
      READY_TIMEOUT_MS,
    );
  const started = await start(container, /ready to serve client requests/, READY_TIMEOUT_MS, ready);
  return { ...started, endpoints: [client] };
}

export async function startKafka(): Promise<KafkaService> {
  const { images } = await getEngine();
  const [port, controllerPort] = [await freePort(), await freePort()];
  // Single-node KRaft. The local image and apache/kafka both turn KAFKA_<NAME>
  // variables into broker properties, so they take the same environment.
  const container = (await serviceContainer('kafka', images.kafka)).withEnvironment({
    CLUSTER_ID: 'M6TksNWYQBKxqyFpud1vNw',
    KAFKA_NODE_ID: '1',
    KAFKA_PROCESS_ROLES: 'broker,controller',
    KAFKA_LISTENERS: `PLAINTEXT://${LOOPBACK}:${port},CONTROLLER://${LOOPBACK}:${controllerPort}`,
    KAFKA_ADVERTISED_LISTENERS: `PLAINTEXT://${LOOPBACK}:${port}`,
    KAFKA_LISTENER_SECURITY_PROTOCOL_MAP: 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    KAFKA_CONTROLLER_LISTENER_NAMES: 'CONTROLLER',
    KAFKA_INTER_BROKER_LISTENER_NAME: 'PLAINTEXT',
    KAFKA_CONTROLLER_QUORUM_VOTERS: `1@${LOOPBACK}:${controllerPort}`,
    KAFKA_NUM_PARTITIONS: '1',
    KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: '1',
    KAFKA_OFFSETS_TOPIC_NUM_PARTITIONS: '1',
    KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: '1',
    KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: '1',
    KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR: '1',
    KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR: '1',
    KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS: '0',
    // After a kill the broker waits for its old registration's session to
    // expire before it serves again: 9 s by default.
    KAFKA_BROKER_HEARTBEAT_INTERVAL_MS: '500',
    KAFKA_BROKER_SESSION_TIMEOUT_MS: '2000',
  });
  // The broker accepts connections only once it has finished starting.
  const ready = () => waitUntil(`kafka on ${port}`, () => tcpAccepts(port), KAFKA_READY_TIMEOUT_MS);
  const started = await start(container, /Kafka Server started/, KAFKA_READY_TIMEOUT_MS, ready);
  return { ...started, brokers: [`${LOOPBACK}:${port}`] };
}

/**
 * Starts the container, waits for its ready log line, then for the service's
 * own probe: the log line alone may be the one from before a restart.
 */
async function start(
  container: GenericContainer,
  readyLine: RegExp,
  timeoutMs: number,
  ready: () => Promise<void>,
): Promise<Service> {
  const started = await container
    .withWaitStrategy(Wait.forLogMessage(readyLine))
    .withStartupTimeout(timeoutMs)
    .start();
  await ready();
  let stopped = false;
  return {
    container: started,
    async stop() {
      if (stopped) return;
      stopped = true;
      await started.stop({ remove: true, timeout: 0 });
    },
    async restart() {
      await started.restart({ timeout: 0 });
      await ready();
    },
  };
}
