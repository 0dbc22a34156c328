/**
 * Distributed mode: the throughput scenario against fleets of 1, 2, 3...
 * gateway processes on real Redis, etcd and Kafka, started by the e2e harness
 * (`startFleet`: containers through Podman after `bash e2e/infra/setup.sh`),
 * group fan-out on the largest of them, and one gateway on embedded defaults
 * (no services) at a rate every fleet size kept up with: what a message costs
 * in a fleet against what it costs on one node, in the same run. Everything
 * shares this machine's cores, the services included; their CPU is reported
 * beside the gateways'.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startFleet, type Fleet } from '../../e2e/fleet/fleet.ts';
import { FLEET_ADMIN_TOKEN, FLEET_JWT_SECRET } from '../../e2e/fleet/gateway-process.ts';
import { RedisStore } from '../../gateway/src/store/redis-store.ts';
import { LoadPool } from '../load/pool.ts';
import { procCpuSeconds } from '../lib/procs.ts';
import { GATEWAY_BENCH_ENV, metricsCpuSeconds, startGateway, type Target } from '../lib/targets.ts';
import { runFanout, type FanoutOptions, type FanoutResult } from './fanout.ts';
import { commonRate, runAtRate, runThroughput, type Session, type StepResult, type ThroughputOptions, type ThroughputResult } from './throughput.ts';

export interface DistributedOptions {
  /** Fleet sizes, each a fresh fleet on fresh services; fan-out runs on the largest. */
  fleetSizes: number[];
  loadWorkers: number;
  throughput: ThroughputOptions | null;
  /** Measured window of the single node's step at the fixed rate (it burns little CPU there: a longer window, less noise). */
  singleNodeWindowMs: number;
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

export interface FleetSizeResult {
  nodes: number;
  /** Services and gateways up, ms. */
  startMs: number;
  throughput: ThroughputResult | null;
  error?: string;
}

/** One gateway on embedded defaults (memory store, local registry, no services) at the fixed rate. */
export interface SingleNodeAtRate {
  target: string;
  pairs: number;
  idleCpuPct: number;
  windowMs: number;
  step: StepResult;
}

export interface DistributedResult {
  services: string;
  sizes: FleetSizeResult[];
  /**
   * The highest offered rate every fleet size kept up with (their ladders
   * share their rates): where the CPU per message of every size and of the
   * single node is compared. Null when no such rate (or no fleet) was measured.
   */
  fixedRate: number | null;
  singleNode: SingleNodeAtRate | { error: string } | null;
  /** Fleet size the fan-out ran on (the largest that started), or null. */
  fanoutNodes: number | null;
  fanout: FanoutResult[];
  fanoutError?: string;
}

const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export async function runDistributed(options: DistributedOptions, log: (line: string) => void): Promise<DistributedResult> {
  const sizes = [...new Set(options.fleetSizes)].sort((a, b) => a - b);
  const result: DistributedResult = {
    services: 'Redis (appendfsync always), etcd, Kafka (KRaft, 1 broker), Podman containers on the host network',
    sizes: [],
    fixedRate: null,
    singleNode: null,
    fanoutNodes: null,
    fanout: [],
  };
  for (const nodes of sizes) {
    // Fresh services for every size: no state, registry entries, topics or consumer groups left by the last one,
    // and the services' CPU is this fleet's alone. They start in a few seconds.
    const started = performance.now();
    const sized: FleetSizeResult = { nodes, startMs: 0, throughput: null };
    result.sizes.push(sized);
    let target: Target;
    let fleet: Fleet;
    try {
      fleet = await startFleet(nodes, fleetEnv(options, nodes));
      target = await fleetTarget(fleet);
    } catch (err) {
      sized.error = `fleet of ${nodes} did not start: ${errorText(err)}`;
      log(sized.error);
      continue;
    }
    sized.startMs = Math.round(performance.now() - started);
    log(`fleet of ${nodes} up in ${(sized.startMs / 1000).toFixed(1)} s (redis ${fleet.backends.redisUrl}, kafka ${fleet.backends.kafkaBrokers.join(',')})`);
    try {
      if (options.throughput !== null) {
        // Fresh clients for the fixed-load phases; the fleet itself stays up.
        const clients = async (): Promise<Session> => {
          const pool = new LoadPool(options.loadWorkers);
          return { target, pool, close: () => pool.stop() };
        };
        sized.throughput = await runThroughput(clients, options.throughput).catch((err: unknown) => {
          sized.error = errorText(err);
          return null;
        });
      }
      if (nodes === sizes[sizes.length - 1]) {
        result.fanoutNodes = nodes;
        await fanoutOn(fleet, target, options, result, log).catch((err: unknown) => {
          result.fanoutError = errorText(err);
        });
      }
    } finally {
      await target.stop();
    }
  }
  result.fixedRate = commonRate(result.sizes.flatMap((s) => (s.throughput === null ? [] : [s.throughput])));
  if (result.fixedRate !== null && options.throughput !== null) {
    log(`single gateway on embedded defaults at ${result.fixedRate} msg/s, the rate every fleet size kept up with`);
    result.singleNode = await singleNodeAt(result.fixedRate, options, options.throughput).catch((err: unknown) => ({ error: errorText(err) }));
  }
  return result;
}

function fleetEnv(options: DistributedOptions, nodes: number): Record<string, string> {
  // Info-level logs stay on: the harness waits for the `gateway_started` line.
  const { LOG_LEVEL: _info, ...env } = GATEWAY_BENCH_ENV;
  if (options.profileDir !== undefined) env.NODE_OPTIONS = `--cpu-prof --cpu-prof-dir=${join(options.profileDir, `x${nodes}`)}`;
  return env;
}

/** Group fan-out at each size on this fleet; groups above `adminApiUpTo` members are seeded through the store. */
async function fanoutOn(fleet: Fleet, target: Target, options: DistributedOptions, result: DistributedResult, log: (line: string) => void): Promise<void> {
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
}

/**
 * One gateway on embedded defaults, the fleet's pairs and clients, one step
 * at `rate`. Its CPU comes from its /metrics (microseconds, as the fleet's):
 * at a fleet's rates it burns a few ms a second, under the 10 ms tick of /proc.
 */
async function singleNodeAt(rate: number, options: DistributedOptions, throughput: ThroughputOptions): Promise<SingleNodeAtRate> {
  const profile = options.profileDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', join(options.profileDir, 'single-node')];
  const gateway = await startGateway({ nodeArgs: profile });
  const target: Target = { ...gateway, cpuSeconds: () => metricsCpuSeconds(gateway.httpUrls[0]!) };
  const pool = new LoadPool(options.loadWorkers);
  try {
    const run = await runAtRate({ target, pool, close: () => pool.stop() }, throughput, rate, options.singleNodeWindowMs);
    return { target: run.target, pairs: run.pairs, idleCpuPct: run.idleCpuPct, windowMs: run.windowMs, step: run.step };
  } finally {
    await pool.stop();
    await gateway.stop();
  }
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
