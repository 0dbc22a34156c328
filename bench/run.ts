/**
 * Runs the benchmarks (see bench/README.md): capacity, private-message
 * throughput and latency, group fan-out, and the same on a three-node fleet,
 * each beside a baseline started in the same run. Prints tables on stdout,
 * progress on stderr, and writes bench/results/<timestamp>.json.
 *
 *   npm run bench                      full run
 *   npm run bench -- --quick           small and short (under 3 minutes)
 *   npm run bench -- --only throughput --profile
 *   npm run bench -- --gateway-main /tmp/copy/gateway/src/main.ts
 */
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { LoadPool } from './load/pool.ts';
import { machineInfo } from './lib/machine.ts';
import { BENCH_DIR, DEFAULT_GATEWAY_MAIN } from './lib/procs.ts';
import { checkTargets, formatReport, type RunResults } from './lib/report.ts';
import { startBaseline, startGateway, type Target } from './lib/targets.ts';
import { formatSummary, summarize } from './profile/summarize.ts';
import { runCapacity, type CapacityOptions } from './scenarios/capacity.ts';
import { runDistributed, type DistributedOptions } from './scenarios/distributed.ts';
import { runFanout, type FanoutOptions } from './scenarios/fanout.ts';
import { runThroughput, type Session, type ThroughputOptions } from './scenarios/throughput.ts';

const SCENARIOS = ['capacity', 'throughput', 'fanout', 'distributed'] as const;
type Scenario = (typeof SCENARIOS)[number];

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    skip: { type: 'string' },
    profile: { type: 'boolean', default: false },
    'gateway-main': { type: 'string' },
    sizes: { type: 'string' },
    'fanout-sizes': { type: 'string' },
    'fleet-sizes': { type: 'string' },
    servers: { type: 'string' },
    out: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});

if (values.help) {
  process.stdout.write(`usage: npm run bench -- [--quick] [--only ${SCENARIOS.join(',')}] [--skip ...] [--profile]
    [--gateway-main path/to/gateway/src/main.ts] [--servers gateway,ws,socketio] [--sizes 10000,50000]
    [--fanout-sizes 100,1000] [--fleet-sizes 1,2,3] [--out dir]\n`);
  process.exit(0);
}

const list = (text: string | undefined): string[] => (text ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
const numbers = (text: string | undefined): number[] | undefined => (text === undefined ? undefined : list(text).map(Number));
for (const name of [...list(values.only), ...list(values.skip)]) {
  if (!(SCENARIOS as readonly string[]).includes(name)) throw new Error(`unknown scenario ${name}: expected ${SCENARIOS.join(', ')}`);
}
const selected = SCENARIOS.filter((s) => (values.only === undefined || list(values.only).includes(s)) && !list(values.skip).includes(s));
const quick = values.quick;
const gatewayMain = values['gateway-main'] === undefined ? DEFAULT_GATEWAY_MAIN : resolve(values['gateway-main']);
const outDir = values.out ?? join(BENCH_DIR, 'results');
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const profileDir = join(outDir, `profiles-${stamp}`);

const machine = machineInfo(join(BENCH_DIR, '..'));
// A server process holds at most its file limit in sockets, less room for its own files.
const perProcess = Number.isFinite(machine.nofile.soft) ? machine.nofile.soft - 500 : 1_000_000;

const capacity: CapacityOptions = {
  sizes: numbers(values.sizes) ?? (quick ? [2000] : [10_000, ...(perProcess < 50_000 ? [perProcess] : []), 50_000, 100_000]),
  perProcess,
  concurrency: 100,
  settleMs: quick ? 1000 : 3000,
  gatewayMain,
};

const throughput: ThroughputOptions = quick
  ? { pairs: 100, refine: 1, stepMs: 2500, warmupMs: 700, drainMs: 2000, holdMs: 2500, startRate: 4000, factor: 2.5, maxRate: 400_000, contentBytes: 100, fractions: [0.25, 0.5, 0.9] }
  : { pairs: 500, refine: 2, stepMs: 6000, warmupMs: 1500, drainMs: 5000, holdMs: 8000, startRate: 2000, factor: 1.6, maxRate: 400_000, contentBytes: 100, fractions: [0.25, 0.5, 0.9] };

const fanoutSizes = numbers(values['fanout-sizes']) ?? (quick ? [100, 1000] : [100, 1000, 10_000]);
const fanout: FanoutOptions = quick
  ? { sends: 20, warmupSends: 2, burst: 5, contentBytes: 100, addConcurrency: 16, timeoutMs: 30_000 }
  : { sends: 100, warmupSends: 3, burst: 20, contentBytes: 100, addConcurrency: 16, timeoutMs: 30_000 };

const fleetSizes = numbers(values['fleet-sizes']) ?? (quick ? [3] : [1, 2, 3]);
if (fleetSizes.length === 0) throw new Error('--fleet-sizes: expected sizes such as 1,2,3');
for (const n of fleetSizes) if (!Number.isInteger(n) || n < 1) throw new Error(`--fleet-sizes: ${n} is not a number of nodes`);
const distributed: DistributedOptions = quick
  ? {
      fleetSizes,
      loadWorkers: 2,
      throughput: { ...throughput, pairs: 60, startRate: 200, factor: 2.5, refine: 0, fractions: [0.5] },
      singleNodeWindowMs: 5000,
      fanoutSizes: [100],
      fanout,
      adminApiUpTo: 100,
    }
  : {
      fleetSizes,
      loadWorkers: 2,
      throughput: { ...throughput, pairs: 150, startRate: 200 },
      singleNodeWindowMs: 10_000,
      fanoutSizes: fanoutSizes,
      fanout,
      adminApiUpTo: 100,
    };

/** Load workers for the throughput and fan-out scenarios: two, so that clients can use both cores when the server leaves room. */
const LOAD_WORKERS = 2;
/** Throughput-run gateways keep less history than the defaults: see README ("Settings"). */
const THROUGHPUT_GATEWAY_ENV = { LOG_RETENTION_COUNT: '1000', DEDUP_TTL_MS: '60000' };
const FANOUT_GATEWAY_ENV = { LOG_RETENTION_COUNT: '20' };

/** The servers the throughput and fan-out scenarios compare (`--servers` narrows them, e.g. for an A/B of two gateways). */
const SERVERS = ['gateway', 'ws', 'socketio'] as const;
const chosen = values.servers === undefined ? SERVERS : SERVERS.filter((s) => list(values.servers).includes(s));

const results: RunResults = {
  startedAt: new Date().toISOString(),
  command: `npm run bench --${process.argv.slice(2).map((a) => ` ${a}`).join('')}`,
  mode: quick ? 'quick' : 'full',
  profiled: values.profile,
  gatewayMain,
  machine,
  settings: { selected, servers: chosen, capacity, throughput, fanoutSizes, fanout, distributed, loadWorkers: LOAD_WORKERS, THROUGHPUT_GATEWAY_ENV, FANOUT_GATEWAY_ENV },
};

const log = (line: string): void => void process.stderr.write(`${line}\n`);
const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));
const started = performance.now();

/** A gateway for one scenario; under --profile it writes its CPU profile to that scenario's folder on exit. */
function gateway(env: Record<string, string>, scenario: string): Promise<Target> {
  // The inspector lets a scenario force a GC (what stays after one is what a server holds); it costs nothing unused.
  return startGateway({ main: gatewayMain, env, inspect: true, nodeArgs: values.profile ? ['--cpu-prof', '--cpu-prof-dir', join(profileDir, scenario)] : [] });
}

/** A server with a fresh pool of load workers; closing stops both. */
async function session(start: () => Promise<Target>): Promise<Session> {
  const target = await start();
  const pool = new LoadPool(LOAD_WORKERS);
  return {
    target,
    pool,
    async close() {
      await pool.stop();
      await target.stop();
    },
  };
}

const serversFor = (gatewayEnv: Record<string, string>, scenario: string): Array<[string, () => Promise<Target>]> =>
  chosen.map((kind): [string, () => Promise<Target>] =>
    kind === 'gateway'
      ? ['gateway', () => gateway(gatewayEnv, scenario)]
      : [kind === 'ws' ? 'ws relay' : 'socket.io relay', () => startBaseline(kind, { inspect: true })],
  );

const run: Record<Scenario, () => Promise<void>> = {
  async capacity() {
    log(`== capacity: ${capacity.sizes.join(', ')} sockets (one process holds at most ${perProcess})`);
    results.capacity = await runCapacity(capacity, log).catch((err: unknown) => ({ error: errorText(err) }));
  },
  async throughput() {
    results.throughput = [];
    for (const [name, start] of serversFor(THROUGHPUT_GATEWAY_ENV, 'throughput')) {
      log(`== throughput: ${name}, ${throughput.pairs} pairs`);
      results.throughput.push(
        await runThroughput(() => session(start), throughput).catch((err: unknown) => ({ target: name, error: errorText(err) })),
      );
    }
  },
  async fanout() {
    results.fanout = [];
    for (const members of fanoutSizes) {
      for (const [name, start] of serversFor(FANOUT_GATEWAY_ENV, `fanout-${members}`)) {
        log(`== fan-out: ${name}, ${members} members`);
        results.fanout.push(
          await session(start)
            .then(async (s) => {
              try {
                return await runFanout(s.target, s.pool, members, fanout, (l) => log(`  [${name}] ${l}`));
              } finally {
                await s.close();
              }
            })
            .catch((err: unknown) => ({ target: name, members, error: errorText(err) })),
        );
      }
    }
  },
  async distributed() {
    log(`== distributed: fleets of ${distributed.fleetSizes.join(', ')} gateways on Redis, etcd and Kafka, then one gateway without them`);
    const options = values.profile ? { ...distributed, profileDir: join(profileDir, 'distributed') } : distributed;
    results.distributed = await runDistributed(options, (l) => log(`  [fleet] ${l}`)).catch((err: unknown) => ({ error: errorText(err) }));
  },
};

for (const scenario of selected) await run[scenario]();

if (values.profile) {
  try {
    const files = readdirSync(profileDir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.cpuprofile'));
    results.profiles = files.sort().map((f) => summarize(join(profileDir, f)));
    for (const p of results.profiles) log(formatSummary(p));
  } catch (err) {
    log(`no CPU profiles in ${profileDir}: ${errorText(err)}`);
  }
}

results.targets = checkTargets(results);
results.durationS = Math.round((performance.now() - started) / 1000);
mkdirSync(outDir, { recursive: true });
const file = join(outDir, `${stamp}.json`);
writeFileSync(file, JSON.stringify(results, null, 2) + '\n');
process.stdout.write(formatReport(results) + '\n');
process.stdout.write(`results: ${file}\n`);
