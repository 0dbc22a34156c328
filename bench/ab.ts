/**
 * A/B of two gateway checkouts at fixed rates: private messages on the
 * throughput scenario's 500 pairs and settings, the two gateways taking
 * turns (A, B, A, B, ...) so that drift of the machine falls on both. Prints
 * per run the gateway's CPU per delivered message, split into user and
 * kernel time, latency and memory. The ladder of `npm run bench` finds a
 * maximum in steps of 1.6x; a change of a few percent in the cost of a
 * message shows here.
 *
 *   node bench/ab.ts <A gateway/src/main.ts> <B gateway/src/main.ts> [rates, e.g. 30000,45000] [rounds]
 *   PROFILE_DIR=/tmp/ab node bench/ab.ts ...   also writes each gateway's CPU profile there (A/, B/)
 */
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { LoadPool } from './load/pool.ts';
import { procCpuTimes } from './lib/procs.ts';
import { startGateway } from './lib/targets.ts';
import { runAtRate, type ThroughputOptions } from './scenarios/throughput.ts';

const [mainA, mainB, ratesText = '30000', roundsText = '2'] = process.argv.slice(2);
if (mainA === undefined || mainB === undefined) {
  process.stderr.write('usage: node bench/ab.ts <A main.ts> <B main.ts> [rates] [rounds]\n');
  process.exit(2);
}
const rates = ratesText.split(',').map(Number);
const rounds = Number(roundsText);
/** The full run's throughput settings (bench/run.ts), without the fractions. */
const OPTIONS: ThroughputOptions = { pairs: 500, refine: 2, stepMs: 6000, warmupMs: 1500, drainMs: 5000, holdMs: 8000, startRate: 2000, factor: 1.6, maxRate: 400_000, contentBytes: 100, fractions: [] };
const GATEWAY_ENV = { LOG_RETENTION_COUNT: '1000', DEDUP_TTL_MS: '60000' };
const WINDOW_MS = 8000;

/** User and kernel CPU seconds of the processes running `main` (found by command line: Target gives no pid). */
function userAndKernel(main: string): [number, number] {
  let [user, kernel] = [0, 0];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue; // ended between the listing and the read
    }
    const times = cmdline.includes(main) ? procCpuTimes(pid) : null;
    if (times !== null) [user, kernel] = [user + times.user, kernel + times.kernel];
  }
  return [user, kernel];
}

for (let round = 0; round < rounds; round++) {
  for (const [name, main] of [['A', resolve(mainA)], ['B', resolve(mainB)]] as const) {
    const profile = process.env.PROFILE_DIR === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', `${process.env.PROFILE_DIR}/${name}`];
    const target = await startGateway({ main, env: GATEWAY_ENV, nodeArgs: profile });
    const pool = new LoadPool(2);
    try {
      for (const rate of rates) {
        const before = userAndKernel(main);
        const { step } = await runAtRate({ target, pool, close: async () => {} }, OPTIONS, rate, WINDOW_MS);
        const after = userAndKernel(main);
        const [memory] = await target.memory();
        const mb = (bytes: number): number => Math.round(bytes / 2 ** 20);
        process.stdout.write(
          `${name} ${rate}/s: ${step.serverUsPerMsg} us/msg (user ${(after[0] - before[0]).toFixed(2)} s, kernel ${(after[1] - before[1]).toFixed(2)} s), ` +
            `delivered ${step.deliveredRate}/s, p50 ${step.latency.p50} p99 ${step.latency.p99} ms, RSS ${mb(memory!.rssBytes)} MB, heap ${mb(memory!.heapUsedBytes)} MB\n`,
        );
      }
    } finally {
      await pool.stop();
      await target.stop();
    }
  }
}
