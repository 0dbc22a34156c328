/**
 * Capacity and memory: N authenticated idle sockets held by the gateway, and
 * the same N by a bare `ws` server. Memory per connection is the growth of
 * the server's RSS and V8 heap (its /stats, each process forced through a
 * full GC first, through the inspector) over the same process's idle
 * figures, divided by N. Connect time is from the first connect until the
 * last socket is authenticated (gateway: auth_response; ws: open).
 *
 * One process can hold only as many sockets as its file limit allows. An N
 * above that is spread over as many server processes as needed and reported
 * as such: memory per connection is then the sum over the processes.
 */
import { readFileSync } from 'node:fs';
import { LoadPool, SOCKETS_PER_WORKER, split } from '../load/pool.ts';
import type { ConnSpec, UsageResult } from '../load/protocol.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { round } from '../lib/stats.ts';
import { combine, startBaseline, startGateway, type MemoryStats, type Target } from '../lib/targets.ts';

export interface CapacityOptions {
  sizes: number[];
  /** Most sockets one server process is given (its file limit, less room for its own files). */
  perProcess: number;
  /** Connects in flight per load worker. */
  concurrency: number;
  /** Pause after the last connect before measuring, so the servers are idle. */
  settleMs: number;
  gatewayMain?: string;
}

export interface CapacityRow {
  target: string;
  connections: number;
  /** Server processes that held them (1 unless N exceeds one process's file limit). */
  serverProcesses: number;
  loadWorkers: number;
  opened: number;
  failed: number;
  errors: Record<string, number>;
  connectMs: number;
  connectsPerSec: number;
  idle: MemoryStats;
  loaded: MemoryStats;
  /** Growth per connection after a full GC, in KB (1024 bytes). */
  rssPerConnKb: number;
  heapPerConnKb: number;
  /** Same, read just before the forced GC. */
  rssPerConnKbBeforeGc: number;
  heapPerConnKbBeforeGc: number;
  /** Client side: load workers' RSS growth per socket, KB (no GC forced there). */
  clientRssPerConnKb: number;
}

export async function runCapacity(options: CapacityOptions, log: (line: string) => void): Promise<CapacityRow[]> {
  const rows: CapacityRow[] = [];
  for (const n of options.sizes) {
    for (const kind of ['gateway', 'ws'] as const) {
      const row = await measure(kind, n, options, log);
      rows.push(row);
      log(
        `${row.target} ${n}: ${row.opened} open in ${round(row.connectMs / 1000, 1)} s (${row.connectsPerSec}/s), ` +
          `RSS ${row.rssPerConnKb} KB/conn, heap ${row.heapPerConnKb} KB/conn over ${row.serverProcesses} process(es)` +
          (row.failed > 0 ? `, ${row.failed} failed ${JSON.stringify(row.errors)}` : ''),
      );
    }
  }
  return rows;
}

/**
 * Waits (at most a little over a minute) until few sockets are left in
 * TIME_WAIT from the previous measurement: with 100,000 of them, finding a
 * free source port gets slow and connect times would measure the kernel's
 * search rather than the server.
 */
async function afterTimeWait(limit: number, log: (line: string) => void): Promise<void> {
  const timeWait = (): number => Number(/TCP:.*\btw (\d+)/.exec(readFileSync('/proc/net/sockstat', 'utf8'))?.[1] ?? 0);
  const deadline = Date.now() + 65_000;
  if (timeWait() > limit) log(`waiting for ${timeWait()} sockets in TIME_WAIT to clear`);
  while (timeWait() > limit && Date.now() < deadline) await sleep(1000);
}

async function measure(kind: 'gateway' | 'ws', n: number, options: CapacityOptions, log: (line: string) => void): Promise<CapacityRow> {
  await afterTimeWait(20_000, log);
  const processes = Math.ceil(n / options.perProcess);
  const start = (): Promise<Target> =>
    kind === 'gateway'
      ? startGateway({ inspect: true, ...(options.gatewayMain === undefined ? {} : { main: options.gatewayMain }) })
      : startBaseline('ws', { inspect: true });
  const parts = await Promise.all(Array.from({ length: processes }, start));
  const target = combine(parts[0]!.label, parts);
  const pool = new LoadPool(Math.ceil(n / SOCKETS_PER_WORKER));
  try {
    await target.collectGarbage();
    const idle = await target.memory();
    const clientIdle = await pool.all<UsageResult>({ op: 'usage' });
    const conns = split(Array.from({ length: n }, (_, i): ConnSpec => ({ id: `c${i}`, node: i % processes })), pool.size);
    const started = performance.now();
    const opened = await pool.open(target.spec, conns, options.concurrency, 120_000);
    const connectMs = performance.now() - started;
    if (opened.failed > 0) log(`${target.label} ${n}: ${opened.failed} connections failed: ${JSON.stringify(opened.errors)}`);
    await sleep(options.settleMs);
    const beforeGc = await target.memory();
    await target.collectGarbage();
    const loaded = await target.memory();
    const usage = await pool.all<UsageResult>({ op: 'usage' });
    const per = (after: MemoryStats[], field: 'rssBytes' | 'heapUsedBytes'): number =>
      round(after.reduce((sum, m, i) => sum + m[field] - idle[i]![field], 0) / 1024 / Math.max(1, opened.opened));
    return {
      target: target.label,
      connections: n,
      serverProcesses: processes,
      loadWorkers: pool.size,
      opened: opened.opened,
      failed: opened.failed,
      errors: opened.errors,
      connectMs: round(connectMs, 0),
      connectsPerSec: round((opened.opened * 1000) / connectMs, 0),
      idle: sum(idle),
      loaded: sum(loaded),
      rssPerConnKb: per(loaded, 'rssBytes'),
      heapPerConnKb: per(loaded, 'heapUsedBytes'),
      rssPerConnKbBeforeGc: per(beforeGc, 'rssBytes'),
      heapPerConnKbBeforeGc: per(beforeGc, 'heapUsedBytes'),
      clientRssPerConnKb: round(usage.reduce((s, u, i) => s + u.rssBytes - clientIdle[i]!.rssBytes, 0) / 1024 / Math.max(1, opened.opened)),
    };
  } finally {
    await pool.stop();
    await target.stop();
  }
}

function sum(stats: MemoryStats[]): MemoryStats {
  return {
    rssBytes: stats.reduce((s, m) => s + m.rssBytes, 0),
    heapUsedBytes: stats.reduce((s, m) => s + m.heapUsedBytes, 0),
  };
}
