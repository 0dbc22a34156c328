/**
 * Private message throughput and latency. Sender/recipient pairs over real
 * sockets; the offered load (open loop, spread evenly over the pairs) steps
 * up until the delivered rate stops keeping up or latency explodes. The
 * highest delivered rate seen is the maximum; then the load is held at 25%,
 * 50% and 90% of it for the latency percentiles (send -> recipient's receipt,
 * both stamped in the load workers).
 */
import type { LoadPool } from '../load/pool.ts';
import { split } from '../load/pool.ts';
import type { ConnSpec, OpenResult, PrivateResult } from '../load/protocol.ts';
import { machineCpu } from '../lib/procs.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { Histogram, round, type LatencySummary } from '../lib/stats.ts';
import type { MemoryStats, Target } from '../lib/targets.ts';

export interface ThroughputOptions {
  pairs: number;
  /** Bisection steps between the last rate kept up with and the first one not. */
  refine: number;
  /** Each step: warm-up, then the measured window, then up to drainMs for stragglers. */
  stepMs: number;
  warmupMs: number;
  drainMs: number;
  /** Fixed-load phases at fractions of the maximum run this long. */
  holdMs: number;
  startRate: number;
  factor: number;
  maxRate: number;
  contentBytes: number;
  fractions: number[];
}

export interface StepResult {
  offered: number;
  /** Messages per second written by the load workers. */
  sentRate: number;
  /** Deliveries to recipients per second inside the window. */
  deliveredRate: number;
  /** Acks to senders per second (gateway only; the relays do not ack). */
  ackedRate: number;
  latency: LatencySummary;
  /** Share of the window's messages not delivered by the drain deadline. */
  lostPct: number;
  skipped: number;
  errors: Record<string, number>;
  /** Server processes' CPU, in % of one core, over the window. */
  serverCpuPct: number;
  /** Server CPU time per delivered message, in microseconds, idle CPU subtracted. */
  serverUsPerMsg: number;
  /** A fleet's Redis, etcd and Kafka together, in % of one core. */
  servicesCpuPct?: number;
  /** Their CPU time per delivered message, in microseconds, their idle CPU subtracted. */
  servicesUsPerMsg?: number;
  /** Load workers' CPU, in % of one core. */
  loadCpuPct: number;
  /** Whole machine (all processes, both cores), in % of its capacity: shows neighbours too. */
  machineBusyPct: number;
  saturated: boolean;
}

export interface ThroughputResult {
  target: string;
  processes: number;
  pairs: number;
  loadWorkers: number;
  connect: OpenResult;
  /** Server CPU with every socket open and no traffic, % of one core (a fleet's leases, consumers, polls). */
  idleCpuPct: number;
  /** The same for a fleet's services (Redis, etcd, Kafka), % of one core. */
  idleServicesCpuPct?: number;
  steps: StepResult[];
  /** Highest delivered rate of a step that kept up (the maximum sustained rate), messages/s. */
  maxRate: number;
  /** Highest delivered rate of any step, overloaded ones included. */
  peakRate: number;
  atFractions: Array<StepResult & { fraction: number }>;
  /**
   * The servers' /stats with every socket open, before the first step, and
   * after the last step of the search, before and after a forced full GC
   * (where the server was started with its inspector): what the message
   * state left in memory, garbage included and not.
   */
  memoryIdle: MemoryStats[];
  memoryAfter: MemoryStats[];
  memoryAfterGc: MemoryStats[];
}

/**
 * A step that misses any of these did not keep up: it delivered under 95% of
 * the offered rate; its median latency passed 20 ms (a standing queue: a GC
 * pause or a noisy neighbour lifts the tail, not the median); its p99 passed
 * 500 ms; more than 1% of its messages had not arrived by the drain
 * deadline; or a sender had to skip a turn because its socket was backed up.
 */
const KEEP_UP = 0.95;
const MAX_P50_MS = 20;
const MAX_P99_MS = 500;
const MAX_LOST_PCT = 1;
/** How long the servers' idle CPU is sampled before the first step. */
const IDLE_SAMPLE_MS = 2000;

/** A server with load workers attached; `close` ends both (for a fleet, only the workers: the fleet stays up). */
export interface Session {
  target: Target;
  pool: LoadPool;
  close(): Promise<void>;
}

/**
 * Finds the maximum on one session, then holds the fractions of it on a
 * fresh one: a server pushed past its limit can stay slow for a while after
 * its backlog is gone (Socket.IO does), which would skew the latencies.
 */
export async function runThroughput(open: () => Promise<Session>, options: ThroughputOptions): Promise<ThroughputResult> {
  let session = await open();
  let ladder: Awaited<ReturnType<typeof findMax>>;
  try {
    ladder = await findMax(await prepare(session, options), options);
  } finally {
    await session.close();
  }
  const atFractions: ThroughputResult['atFractions'] = [];
  if (options.fractions.length > 0) {
    session = await open();
    try {
      const run = await prepare(session, options);
      for (const fraction of options.fractions) {
        const result = await run.step(Math.max(1, Math.round(ladder.maxRate * fraction)), options.holdMs);
        atFractions.push({ fraction, ...result });
        log(session.target.label, `${Math.round(fraction * 100)}%`, result);
      }
    } finally {
      await session.close();
    }
  }
  const { target, pool } = session;
  return {
    target: target.label,
    processes: target.processes,
    pairs: options.pairs,
    loadWorkers: pool.size,
    ...ladder,
    atFractions,
  };
}

/** One step at a fixed offered rate on fresh connections: the cost of a message at that rate. */
export async function runAtRate(
  session: Session,
  options: ThroughputOptions,
  rate: number,
  windowMs: number,
): Promise<Pick<ThroughputResult, 'target' | 'processes' | 'pairs' | 'connect' | 'idleCpuPct'> & { windowMs: number; step: StepResult }> {
  const run = await prepare(session, options);
  const step = await run.step(rate, windowMs);
  log(session.target.label, 'fixed rate', step);
  const { label, processes } = session.target;
  return { target: label, processes, pairs: options.pairs, connect: run.connect, idleCpuPct: run.idleCpuPct, windowMs, step };
}

/** The highest offered rate every one of `results` kept up with (steps of a shared ladder); null when there is none. */
export function commonRate(results: readonly ThroughputResult[]): number | null {
  if (results.length === 0) return null;
  const kept = results.map((t) => new Set(t.steps.filter((s) => !s.saturated).map((s) => s.offered)));
  const shared = [...kept[0]!].filter((rate) => kept.every((k) => k.has(rate)));
  return shared.length === 0 ? null : Math.max(...shared);
}

interface Prepared {
  session: Session;
  connect: OpenResult;
  idleCpuPct: number;
  idleServicesCpuPct?: number;
  memoryIdle: MemoryStats[];
  /** Runs one step at `rate` with a window of `windowMs` after the warm-up. */
  step(rate: number, windowMs: number): Promise<StepResult>;
}

/** Connects the pairs, measures the servers' idle CPU, and returns the step runner. */
async function prepare(session: Session, options: ThroughputOptions): Promise<Prepared> {
  const { target, pool } = session;
  const nodes = target.spec.urls.length;
  const pairs: Array<[string, string]> = [];
  const conns: ConnSpec[] = [];
  for (let i = 0; i < options.pairs; i++) {
    const [sender, recipient] = [`s${i}`, `r${i}`];
    // On a fleet, a third of the pairs share a node and two thirds cross nodes, as random placement would.
    const senderNode = i % nodes;
    const recipientNode = (i + senderNode) % nodes;
    pairs.push([sender, recipient]);
    conns.push({ id: sender, node: senderNode, peer: recipient }, { id: recipient, node: recipientNode, peer: sender });
  }
  // Both ends of a pair live in the same worker.
  const pairsOf = split(pairs, pool.size);
  const connsOf = split(conns, pool.size);
  const connect = await pool.open(target.spec, connsOf, 100, 30_000);
  if (connect.failed > 0) throw new Error(`${target.label}: ${connect.failed} connections failed: ${JSON.stringify(connect.errors)}`);

  // What the servers burn with no traffic is not the messages' cost: measured here, subtracted below.
  const idleFrom = await target.cpuSeconds();
  const idleServicesFrom = (await target.serviceCpuSeconds?.()) ?? NaN;
  await sleep(IDLE_SAMPLE_MS);
  const idleCpuPct = round((100 * ((await target.cpuSeconds()) - idleFrom) * 1000) / IDLE_SAMPLE_MS, 0);
  const idleServices = round((100 * (((await target.serviceCpuSeconds?.()) ?? NaN) - idleServicesFrom) * 1000) / IDLE_SAMPLE_MS, 0);
  const idleServicesCpuPct = Number.isNaN(idleServices) ? undefined : idleServices;

  const step = async (rate: number, windowMs: number): Promise<StepResult> => {
    const durationMs = options.warmupMs + windowMs;
    // Server and machine CPU are sampled at the window's edges, while the workers run.
    const sample = async (): Promise<Sample> => ({
      server: await target.cpuSeconds(),
      services: (await target.serviceCpuSeconds?.()) ?? NaN,
      machine: machineCpu(),
      at: performance.now(),
    });
    const edges = [
      new Promise<Sample>((r) => setTimeout(() => void sample().then(r), options.warmupMs)),
      new Promise<Sample>((r) => setTimeout(() => void sample().then(r), durationMs)),
    ];
    const results = await pool.all<PrivateResult>((w) => ({
      op: 'private',
      pairs: pairsOf[w]!,
      rate: rate / pool.size,
      durationMs,
      warmupMs: options.warmupMs,
      drainMs: options.drainMs,
      contentBytes: options.contentBytes,
    }));
    const [from, to] = await Promise.all(edges);
    // An overloaded step leaves a backlog behind: the next one starts once the server has worked it off.
    await pool.all({ op: 'quiesce', idleMs: 300, timeoutMs: 60_000 });
    return summarise(rate, results, from!, to!, idleCpuPct, idleServicesCpuPct ?? 0);
  };
  const memoryIdle = await target.memory();
  return { session, connect, idleCpuPct, ...(idleServicesCpuPct === undefined ? {} : { idleServicesCpuPct }), memoryIdle, step };
}

/** Steps the offered load up by `factor` until a step does not keep up, then bisects between the last two. */
async function findMax(
  run: Prepared,
  options: ThroughputOptions,
): Promise<Pick<ThroughputResult, 'connect' | 'idleCpuPct' | 'idleServicesCpuPct' | 'steps' | 'maxRate' | 'peakRate' | 'memoryIdle' | 'memoryAfter' | 'memoryAfterGc'>> {
  const label = run.session.target.label;
  const steps: StepResult[] = [];
  const step = async (rate: number, what: string): Promise<StepResult> => {
    const result = await run.step(rate, options.stepMs - options.warmupMs);
    steps.push(result);
    log(label, what, result);
    return result;
  };
  let good: StepResult | null = null;
  let bad: StepResult | null = null;
  for (let rate = options.startRate; rate <= options.maxRate; rate = Math.round(rate * options.factor)) {
    const result = await step(rate, 'step');
    if (result.saturated) {
      bad = result;
      break;
    }
    good = result;
  }
  for (let i = 0; i < options.refine && good !== null && bad !== null; i++) {
    const result = await step(Math.round(Math.sqrt(good.offered * bad.offered)), 'refine');
    if (result.saturated) bad = result;
    else good = result;
  }
  return {
    connect: run.connect,
    idleCpuPct: run.idleCpuPct,
    ...(run.idleServicesCpuPct === undefined ? {} : { idleServicesCpuPct: run.idleServicesCpuPct }),
    steps,
    maxRate: good?.deliveredRate ?? 0,
    peakRate: Math.max(...steps.map((s) => s.deliveredRate)),
    memoryIdle: run.memoryIdle,
    ...(await memoryAfter(run.session.target)),
  };
}

interface Sample {
  server: number;
  services: number;
  machine: { busy: number; total: number };
  at: number;
}

function summarise(offered: number, results: PrivateResult[], from: Sample, to: Sample, idleCpuPct: number, idleServicesCpuPct: number): StepResult {
  const latency = new Histogram();
  let delivered = 0;
  let acked = 0;
  let sentInWindow = 0;
  let arrived = 0;
  let skipped = 0;
  let loadCpuMs = 0;
  const errors: Record<string, number> = {};
  const windowMs = results[0]?.windowMs ?? 1;
  for (const r of results) {
    latency.merge(r.latency);
    delivered += r.deliveredInWindow;
    acked += r.ackedInWindow;
    sentInWindow += r.sentInWindow;
    arrived += r.arrivedOfWindow;
    skipped += r.skipped;
    loadCpuMs += r.cpuMs;
    for (const [code, n] of Object.entries(r.errors)) errors[code] = (errors[code] ?? 0) + n;
  }
  const wallS = (to.at - from.at) / 1000;
  const serverS = to.server - from.server;
  const servicesS = to.services - from.services;
  const deliveredRate = (delivered * 1000) / windowMs;
  // CPU seconds per second over the window, less the idle share, per delivered message, in us.
  const usPerMsg = (cpuS: number, idlePct: number): number => round((Math.max(0, cpuS / wallS - idlePct / 100) * 1e6) / Math.max(1, deliveredRate), 1);
  const summary = latency.summary();
  const lostPct = sentInWindow === 0 ? 0 : (100 * (sentInWindow - arrived)) / sentInWindow;
  // The workers' CPU covers their whole step, warm-up and drain included.
  const workerWallMs = Math.max(1, ...results.map((r) => r.wallMs));
  return {
    offered,
    sentRate: round((sentInWindow * 1000) / windowMs, 0),
    deliveredRate: round(deliveredRate, 0),
    ackedRate: round((acked * 1000) / windowMs, 0),
    latency: summary,
    lostPct: round(lostPct),
    skipped,
    errors,
    serverCpuPct: round((100 * serverS) / wallS, 0),
    serverUsPerMsg: usPerMsg(serverS, idleCpuPct),
    loadCpuPct: round((100 * loadCpuMs) / workerWallMs, 0),
    machineBusyPct: round((100 * (to.machine.busy - from.machine.busy)) / Math.max(1, to.machine.total - from.machine.total), 0),
    ...(Number.isNaN(servicesS) ? {} : { servicesCpuPct: round((100 * servicesS) / wallS, 0), servicesUsPerMsg: usPerMsg(servicesS, idleServicesCpuPct) }),
    saturated:
      deliveredRate < KEEP_UP * offered || summary.p50 > MAX_P50_MS || summary.p99 > MAX_P99_MS || lostPct > MAX_LOST_PCT || skipped > 0,
  };
}

function log(label: string, what: string, r: StepResult): void {
  process.stderr.write(
    `  [${label}] ${what} offered ${r.offered}/s sent ${r.sentRate}/s delivered ${r.deliveredRate}/s ` +
      `p50 ${r.latency.p50} p99 ${r.latency.p99} ms, server cpu ${r.serverCpuPct}% ` +
      `(${r.serverUsPerMsg} us/msg)${r.servicesCpuPct === undefined ? '' : `, services cpu ${r.servicesCpuPct}%`}, load cpu ${r.loadCpuPct}%, machine ${r.machineBusyPct}%${r.saturated ? ' SATURATED' : ''}\n`,
  );
}

async function memoryAfter(target: Session['target']): Promise<Pick<ThroughputResult, 'memoryAfter' | 'memoryAfterGc'>> {
  const before = await target.memory();
  await target.collectGarbage();
  return { memoryAfter: before, memoryAfterGc: await target.memory() };
}
