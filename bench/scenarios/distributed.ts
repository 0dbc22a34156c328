/**
 * Distributed mode: the throughput and fan-out scenarios against three
 * gateway processes on real Redis, etcd and Kafka, started by the e2e
 * harness (`startFleet`: containers through Podman after
 * `bash e2e/infra/setup.sh`). Everything shares this machine's cores, the
 * services included; their CPU is reported beside the gateways'.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { startFleet, type Fleet } from '../../e2e/fleet/fleet.ts';
import { FLEET_ADMIN_TOKEN, FLEET_JWT_SECRET } from '../../e2e/fleet/gateway-process.ts';
import { RedisStore } from '../../gateway/src/store/redis-store.ts';
import { LoadPool } from '../load/pool.ts';
import { procCpuSeconds } from '../lib/procs.ts';
import { GATEWAY_BENCH_ENV, metricsCpuSeconds, type Target } from '../lib/targets.ts';
import { runFanout, type FanoutOptions, type FanoutResult } from './fanout.ts';
import { runThroughput, type Session, type ThroughputOptions, type ThroughputResult } from './throughput.ts';

export interface DistributedOptions {
  nodes: number;
  loadWorkers: number;
  throughput: ThroughputOptions | null;
  fanoutSizes: number[];
  fanout: FanoutOptions;
  /**
   * Groups up to this size are built through the admin API. Each join there
   * notifies every member so far, one Redis append and registry read each,
   * so building n members costs ~n^2/2 of them; larger groups are written
   * straight into Redis with the gateway's own store (no notifications).
   */
  adminApiUpTo: number;
  /** Directory for the gateways' CPU profiles (`--cpu-prof` through NODE_OPTIONS), or none. */
  profileDir?: string;
}

export interface DistributedResult {
  nodes: number;
  services: string;
  startMs: number;
  throughput: ThroughputResult | null;
  fanout: FanoutResult[];
}

export async function runDistributed(options: DistributedOptions, log: (line: string) => void): Promise<DistributedResult> {
  const started = performance.now();
  // Info-level logs stay on: the harness waits for the `gateway_started` line.
  const { LOG_LEVEL: _info, ...env } = GATEWAY_BENCH_ENV;
  if (options.profileDir !== undefined) env.NODE_OPTIONS = `--cpu-prof --cpu-prof-dir=${options.profileDir}`;
  const fleet = await startFleet(options.nodes, env);
  const startMs = Math.round(performance.now() - started);
  log(`fleet of ${options.nodes} up in ${(startMs / 1000).toFixed(1)} s (redis ${fleet.backends.redisUrl}, kafka ${fleet.backends.kafkaBrokers.join(',')})`);
  const target = await fleetTarget(fleet);
  const result: DistributedResult = {
    nodes: options.nodes,
    services: 'Redis (appendfsync always), etcd, Kafka (KRaft, 1 broker), Podman containers on the host network',
    startMs,
    throughput: null,
    fanout: [],
  };
  try {
    if (options.throughput !== null) {
      // Fresh clients for the fixed-load phases; the fleet itself stays up.
      const clients = async (): Promise<Session> => {
        const pool = new LoadPool(options.loadWorkers);
        return { target, pool, close: () => pool.stop() };
      };
      result.throughput = await runThroughput(clients, options.throughput);
    }
    const store = new RedisStore({
      url: fleet.backends.redisUrl,
      retention: { maxEntries: 10_000, maxAgeMs: 7 * 24 * 3600_000, dedupTtlMs: 24 * 3600_000 },
      rate: { limit: 1_000_000_000, windowMs: 1000 },
    });
    await store.start();
    try {
      for (const size of options.fanoutSizes) {
        const seed = size > options.adminApiUpTo ? (group: string, users: string[]) => seedMembers(store, group, users) : undefined;
        const pool = new LoadPool(options.loadWorkers);
        try {
          result.fanout.push(await runFanout(target, pool, size, { ...options.fanout, ...(seed === undefined ? {} : { seed }) }, log));
        } finally {
          await pool.stop();
        }
      }
    } finally {
      await store.close();
    }
  } finally {
    await target.stop();
  }
  return result;
}

/** Group membership written with the gateway's own store, 64 at a time; resolves with the wall time in ms. */
async function seedMembers(store: RedisStore, groupId: string, users: string[]): Promise<number> {
  const started = performance.now();
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < users.length) await store.addMember(groupId, users[next++]!);
  };
  await Promise.all(Array.from({ length: 64 }, lane));
  return performance.now() - started;
}

async function fleetTarget(fleet: Fleet): Promise<Target> {
  const httpUrls = fleet.nodes.map((n) => n.httpUrl);
  const servicePids = await containerPids([fleet.redis.container.getId(), fleet.etcd.container.getId(), fleet.kafka.container.getId()]);
  return {
    label: `gateway x${fleet.nodes.length}`,
    spec: { kind: 'gateway', urls: fleet.nodes.map((n) => n.wsUrl), jwtSecret: FLEET_JWT_SECRET },
    httpUrls,
    adminToken: FLEET_ADMIN_TOKEN,
    processes: fleet.nodes.length,
    cpuSeconds: async () => (await Promise.all(httpUrls.map(metricsCpuSeconds))).reduce((a, b) => a + b, 0),
    serviceCpuSeconds: async () => servicePids.reduce((sum, pid) => sum + procCpuSeconds(pid), 0),
    memory: async () => [],
    collectGarbage: async () => {},
    stop: async () => {
      // A graceful exit first: a SIGKILLed node would not write its CPU profile.
      await Promise.allSettled(fleet.nodes.map((n) => n.terminate()));
      await fleet.stop();
    },
  };
}

/** Host pids of the containers' main processes (their CPU includes every thread). */
async function containerPids(ids: string[]): Promise<number[]> {
  try {
    const { stdout } = await promisify(execFile)('podman', ['inspect', '--format', '{{.State.Pid}}', ...ids]);
    return stdout.trim().split('\n').map(Number).filter((pid) => pid > 0);
  } catch {
    return [];
  }
}
