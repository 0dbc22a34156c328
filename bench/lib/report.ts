/**
 * The run's results as one object (written as JSON) and as the tables printed
 * on stdout, with the issue's targets checked against them.
 */
import type { CapacityRow } from '../scenarios/capacity.ts';
import type { DistributedResult } from '../scenarios/distributed.ts';
import type { FanoutResult } from '../scenarios/fanout.ts';
import type { StepResult, ThroughputResult } from '../scenarios/throughput.ts';
import type { ProfileSummary } from '../profile/summarize.ts';
import type { MachineInfo } from './machine.ts';
import { round } from './stats.ts';
import { table } from './table.ts';

export interface Failure {
  error: string;
}

export interface RunResults {
  startedAt: string;
  command: string;
  mode: 'quick' | 'full';
  profiled: boolean;
  gatewayMain: string;
  machine: MachineInfo;
  settings: Record<string, unknown>;
  capacity?: CapacityRow[] | Failure;
  throughput?: Array<ThroughputResult | (Failure & { target: string })>;
  fanout?: Array<FanoutResult | (Failure & { target: string; members: number })>;
  distributed?: DistributedResult | Failure;
  profiles?: ProfileSummary[];
  targets?: TargetCheck[];
  durationS?: number;
}

export interface TargetCheck {
  target: string;
  measured: string;
  verdict: 'met' | 'missed' | 'not measured';
}

const failed = (x: object): x is Failure => 'error' in x;

export function formatReport(r: RunResults): string {
  const m = r.machine;
  const out: string[] = [
    `im-gateway benchmarks, ${r.mode} run, ${r.startedAt}${r.profiled ? ' (gateway under --cpu-prof: slower than unprofiled)' : ''}`,
    `machine: ${m.cpus} cores (${m.cpuModel}), ${m.memoryGiB} GiB, Node ${m.node}, Linux ${m.kernel}, load average ${m.loadAverage} at start`,
    `open files per process: ${m.nofile.soft} (hard ${m.nofile.hard}); commit ${m.commit}` +
      (m.gatewayChanges.length > 0 ? `, gateway/src has ${m.gatewayChanges.length} uncommitted change(s)` : ''),
    `servers and load workers share the same ${m.cpus} cores: every figure is for both sides on one machine`,
    '',
  ];

  if (r.capacity !== undefined) {
    if (failed(r.capacity)) out.push(`capacity: FAILED ${r.capacity.error}`, '');
    else {
      out.push(
        table(
          '1. Capacity: idle authenticated sockets (memory growth over the idle process, after a full GC)',
          ['server', 'sockets', 'procs', 'opened', 'connect s', 'conn/s', 'RSS KB/conn', 'heap KB/conn', 'RSS before GC', 'client RSS KB/conn'],
          r.capacity.map((c) => [
            c.target,
            c.connections,
            c.serverProcesses,
            c.opened,
            round(c.connectMs / 1000, 1),
            c.connectsPerSec,
            c.rssPerConnKb,
            c.heapPerConnKb,
            c.rssPerConnKbBeforeGc,
            c.clientRssPerConnKb,
          ]),
        ),
      );
    }
  }

  const tputs = r.throughput?.filter((t): t is ThroughputResult => !failed(t)) ?? [];
  for (const t of r.throughput ?? []) if (failed(t)) out.push(`throughput ${t.target}: FAILED ${t.error}`);
  const dist = r.distributed !== undefined && !failed(r.distributed) ? r.distributed : undefined;
  if (r.distributed !== undefined && failed(r.distributed)) out.push(`distributed: FAILED ${r.distributed.error}`, '');
  const allTputs = dist?.throughput ? [...tputs, dist.throughput] : tputs;
  if (allTputs.length > 0) {
    const gw = tputs.find((t) => t.target === 'gateway');
    const common = commonRate(tputs);
    out.push(
      table(
        '2. Private messages: maximum sustained rate, and latency (send -> receipt) at fractions of it',
        ['server', 'procs', 'pairs', 'max msg/s', 'peak msg/s', 'gateway÷this', '25%: p50/p99/p999 ms', '50%: p50/p99/p999', '90%: p50/p99/p999', 'cpu at max', 'us/msg at max', `us/msg @${common ?? '-'}/s`],
        allTputs.map((t) => {
          const at = (f: number): string => {
            const s = t.atFractions.find((a) => a.fraction === f);
            return s === undefined ? '-' : `${s.latency.p50}/${s.latency.p99}/${s.latency.p999}`;
          };
          const best = t.steps.filter((s) => !s.saturated).sort((a, b) => b.deliveredRate - a.deliveredRate)[0];
          const atCommon = t.steps.find((s) => s.offered === common && !t.target.includes(' x'));
          return [
            t.target,
            t.processes,
            t.pairs,
            t.maxRate,
            t.peakRate,
            gw === undefined || t === gw || t.target.includes(' x') ? '' : `${round(gw.maxRate / t.maxRate)}x`,
            at(0.25),
            at(0.5),
            at(0.9),
            best === undefined ? '-' : `${best.serverCpuPct}%${best.servicesCpuPct === undefined ? '' : ` +${best.servicesCpuPct}% svc`}`,
            best?.serverUsPerMsg ?? '-',
            atCommon?.serverUsPerMsg ?? '-',
          ];
        }),
      ),
    );
    out.push(
      '   "max" is the highest delivered rate of a step that kept up (>=95% delivered, p50 <= 20 ms, p99 <= 500 ms, <=1% late);',
      '   "peak" the highest of any step. "cpu at max" is the server processes\' CPU in % of one core at that step; when',
      '   it is well under 100% the load workers or the machine, not the server, set the limit. "us/msg" is server CPU',
      '   per delivered message (idle CPU subtracted; a fleet\'s services not included), at the max step and at one',
      '   rate all three single-process servers kept up with: the cost comparison that does not depend on who',
      '   saturates first. "gateway÷this" is the gateway\'s max over this server\'s max.',
      '',
    );
  }

  const fans = r.fanout?.filter((f): f is FanoutResult => !failed(f)) ?? [];
  for (const f of r.fanout ?? []) if (failed(f)) out.push(`fan-out ${f.target} ${f.members}: FAILED ${f.error}`);
  const allFans = [...fans, ...(dist?.fanout ?? [])];
  if (allFans.length > 0) {
    out.push(
      table(
        '3. Group fan-out: one message to n online members (plus the sender), send -> last member\'s receipt',
        ['server', 'members', 'added via', 'build s', 'last p50 ms', 'last p99 ms', 'last max', 'first p50', 'deliveries/s', 'incomplete', 'sends'],
        allFans.map((f) => [
          f.target,
          f.members,
          f.membership,
          f.buildMs === null ? '' : round(f.buildMs / 1000, 1),
          f.lastP50,
          f.lastP99,
          f.lastMax,
          f.firstP50,
          f.deliveredPerSec,
          f.incomplete,
          f.sends,
        ]),
      ),
      '   "build s": adding the members through the admin API (each join announced to the members so far) or the store.',
      '   "deliveries/s": a burst of messages sent back to back, copies received per second.',
      '',
    );
  }

  if (dist !== undefined) {
    out.push(`4. Distributed: ${dist.nodes} gateway processes on ${dist.services}; fleet started in ${round(dist.startMs / 1000, 1)} s.`);
    if (dist.throughput) out.push(`   Idle CPU of the ${dist.nodes} gateways with sockets open: ${dist.throughput.idleCpuPct}% of one core (subtracted in us/msg).`);
    out.push('   Its rows are in tables 2 and 3 ("gateway x3").', '');
  }

  if (r.targets !== undefined) {
    out.push(table('Targets from the issue', ['target', 'measured', 'verdict'], r.targets.map((t) => [t.target, t.measured, t.verdict])));
  }
  for (const p of r.profiles ?? []) {
    out.push(`CPU profile ${p.file}: ${p.busyMs} ms busy; by area: ${p.areas.slice(0, 8).map((a) => `${a.area} ${a.pct}%`).join(', ')}`);
    out.push(`   top self time: ${p.self.slice(0, 8).map((f) => `${f.fn} ${f.pct}%`).join('; ')}`, '');
  }
  if (r.durationS !== undefined) out.push(`run took ${r.durationS} s`);
  return out.join('\n');
}

/** The highest offered rate every single-process server kept up with, from their shared step ladder. */
function commonRate(results: ThroughputResult[]): number | undefined {
  if (results.length === 0) return undefined;
  const kept = (t: ThroughputResult): Set<number> => new Set(t.steps.filter((s: StepResult) => !s.saturated).map((s) => s.offered));
  const sets = results.map(kept);
  const shared = [...sets[0]!].filter((rate) => sets.every((s) => s.has(rate)));
  return shared.length === 0 ? undefined : Math.max(...shared);
}

export function checkTargets(r: RunResults): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const cap = r.capacity !== undefined && !failed(r.capacity) ? r.capacity : [];
  const gw100k = cap.find((c) => c.target === 'gateway' && c.connections >= 100_000);
  checks.push(
    gw100k === undefined
      ? { target: '100k idle sockets at <= 8 KB RSS each', measured: 'not measured (needs the full run)', verdict: 'not measured' }
      : {
          target: '100k idle sockets at <= 8 KB RSS each',
          measured: `${gw100k.rssPerConnKb} KB/conn over ${gw100k.serverProcesses} process(es), ${gw100k.opened} opened`,
          verdict: gw100k.rssPerConnKb <= 8 && gw100k.failed === 0 ? 'met' : 'missed',
        },
  );
  const tputs = r.throughput?.filter((t): t is ThroughputResult => !failed(t)) ?? [];
  const by = (name: string): ThroughputResult | undefined => tputs.find((t) => t.target === name);
  const [gw, ws, sio] = [by('gateway'), by('ws relay'), by('socket.io relay')];
  if (gw && ws) {
    const ratio = gw.maxRate / ws.maxRate;
    checks.push({ target: 'private throughput >= 0.6x bare ws relay', measured: `${round(ratio)}x (${gw.maxRate} vs ${ws.maxRate} msg/s)`, verdict: ratio >= 0.6 ? 'met' : 'missed' });
  }
  if (gw && sio) {
    checks.push({
      target: 'private throughput ahead of Socket.IO',
      measured: `${round(gw.maxRate / sio.maxRate)}x (${gw.maxRate} vs ${sio.maxRate} msg/s)`,
      verdict: gw.maxRate > sio.maxRate ? 'met' : 'missed',
    });
  }
  const half = gw?.atFractions.find((a) => a.fraction === 0.5);
  if (half) {
    checks.push({ target: 'p99 < 20 ms at half the max rate', measured: `${half.latency.p99} ms at ${half.offered} msg/s`, verdict: half.latency.p99 < 20 ? 'met' : 'missed' });
  }
  const fans = r.fanout?.filter((f): f is FanoutResult => !failed(f)) ?? [];
  const f10k = fans.find((f) => f.target === 'gateway' && f.members >= 10_000);
  checks.push(
    f10k === undefined
      ? { target: '10k-member fan-out p99 < 100 ms', measured: 'not measured (needs the full run)', verdict: 'not measured' }
      : { target: '10k-member fan-out p99 < 100 ms', measured: `${f10k.lastP99} ms (p50 ${f10k.lastP50})`, verdict: f10k.lastP99 < 100 ? 'met' : 'missed' },
  );
  return checks;
}
