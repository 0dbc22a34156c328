/**
 * Group fan-out. For each size n: n online members plus one sender, all in
 * one group; the sender sends one message at a time and we time it until the
 * last member has it (each member stamps its receipt against the send time in
 * the content). p50/p99 over repeated sends; then a burst of messages sent
 * back to back gives messages delivered per second.
 *
 * The gateway's members are added through the admin REST API (or, where the
 * caller says so, straight into the store: see `seed`); the baselines' by the
 * group named in each socket's URL.
 */
import type { LoadPool } from '../load/pool.ts';
import { split } from '../load/pool.ts';
import type { ConnSpec, GroupCollectResult, OpenResult } from '../load/protocol.ts';
import { addMembers } from '../lib/admin.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { median, percentile, round } from '../lib/stats.ts';
import type { Target } from '../lib/targets.ts';

export interface FanoutOptions {
  /** Sends timed one at a time, after `warmupSends` untimed ones. */
  sends: number;
  warmupSends: number;
  /** Messages sent back to back for the delivery rate. */
  burst: number;
  contentBytes: number;
  /** Admin API requests in flight while building the group. */
  addConcurrency: number;
  /** How long one send may take to reach every member before it counts as incomplete. */
  timeoutMs: number;
  /**
   * Adds members some other way than the admin API (a fleet's 10,000-member
   * group: see distributed.ts). Resolves with the wall time in ms.
   */
  seed?: (groupId: string, users: string[]) => Promise<number>;
}

export interface FanoutResult {
  target: string;
  members: number;
  /** How members were added, and how long that took (ms); the baselines have none. */
  membership: 'admin-api' | 'store' | 'url';
  buildMs: number | null;
  connect: OpenResult;
  /** Frames that reached members before the first send (the gateway replays membership changes on connect). */
  framesBeforeSends: number;
  sends: number;
  /** Send -> last member's receipt, over the timed sends (ms). */
  lastP50: number;
  lastP99: number;
  lastMax: number;
  /** Send -> first member's receipt, median (ms). */
  firstP50: number;
  /** Sends that did not reach every member within the timeout. */
  incomplete: number;
  /** Deliveries per second during the burst. */
  deliveredPerSec: number;
  burst: number;
}

export async function runFanout(
  target: Target,
  pool: LoadPool,
  members: number,
  options: FanoutOptions,
  log: (line: string) => void,
): Promise<FanoutResult> {
  const nodes = target.spec.urls.length;
  const group = `g${members}`;
  const sender = `g${members}-sender`;
  const users = Array.from({ length: members }, (_, i) => `g${members}-m${i}`);

  let membership: FanoutResult['membership'] = 'url';
  let buildMs: number | null = null;
  if (target.spec.kind === 'gateway') {
    // Members join while offline: a join notifies every existing member, and
    // live notifications to 10,000 open sockets would dwarf the fan-out itself.
    if (options.seed !== undefined) {
      membership = 'store';
      buildMs = await options.seed(group, [sender, ...users]);
    } else {
      membership = 'admin-api';
      buildMs = await addMembers(target.httpUrls[0]!, target.adminToken ?? '', group, [sender, ...users], options.addConcurrency);
    }
    log(`built ${group} (${members + 1} members) via ${membership} in ${round(buildMs / 1000, 1)} s`);
  }

  // Members spread over the nodes (a fleet) and the workers; the sender is on node 0 in worker 0.
  const memberConns: ConnSpec[] = users.map((id, i) => ({ id, node: i % nodes, group }));
  const parts = split(memberConns, pool.size);
  parts[0]!.unshift({ id: sender, node: 0, group });
  const started = performance.now();
  const connect = { ...(await pool.open(target.spec, parts, 100, 60_000)), ms: performance.now() - started };
  if (connect.failed > 0) throw new Error(`${target.label}: ${connect.failed} member connections failed: ${JSON.stringify(connect.errors)}`);
  // Replay of what members missed while offline (their membership changes) must be over before timing.
  const quiet = await pool.all<{ frames: number }>({ op: 'quiesce', idleMs: 1000, timeoutMs: 120_000 });
  const framesBeforeSends = quiet.reduce((n, q) => n + q.frames, 0);
  log(`connected ${members + 1} in ${round(connect.ms / 1000, 1)} s; ${framesBeforeSends} frames of replay`);

  let seq = 0;
  const send = async (count: number): Promise<GroupCollectResult['messages'][number][]> => {
    const ids = Array.from({ length: count }, () => `${group}-${++seq}`);
    await pool.call(0, { op: 'group-send', sender, group, ids, contentBytes: options.contentBytes });
    const collected = await pool.all<GroupCollectResult>({ op: 'group-collect', group, sender, ids, timeoutMs: options.timeoutMs });
    // One row per message: counts summed, first and last receipt across workers.
    return ids.map((id, i) => {
      const rows = collected.map((c) => c.messages[i]!);
      return {
        id,
        count: rows.reduce((n, r) => n + r.count, 0),
        expected: rows.reduce((n, r) => n + r.expected, 0),
        firstMs: Math.min(...rows.filter((r) => r.count > 0).map((r) => r.firstMs)),
        lastMs: Math.max(...rows.filter((r) => r.count > 0).map((r) => r.lastMs)),
      };
    });
  };

  for (let i = 0; i < options.warmupSends; i++) await send(1);
  const last: number[] = [];
  const first: number[] = [];
  let incomplete = 0;
  for (let i = 0; i < options.sends; i++) {
    const [m] = await send(1);
    if (m!.count < m!.expected) incomplete++;
    else last.push(m!.lastMs);
    first.push(m!.firstMs);
    await sleep(20);
  }
  const burst = await send(options.burst);
  const received = burst.reduce((n, m) => n + m.count, 0);
  const burstMs = Math.max(...burst.map((m) => m.lastMs));
  const result: FanoutResult = {
    target: target.label,
    members,
    membership,
    buildMs: buildMs === null ? null : round(buildMs, 0),
    connect,
    framesBeforeSends,
    sends: options.sends,
    lastP50: round(median(last)),
    lastP99: round(percentile(last, 99)),
    lastMax: round(Math.max(...last)),
    firstP50: round(median(first)),
    incomplete,
    deliveredPerSec: round((received * 1000) / burstMs, 0),
    burst: options.burst,
  };
  log(
    `${members} members: last receipt p50 ${result.lastP50} p99 ${result.lastP99} ms, first p50 ${result.firstP50} ms, ` +
      `${result.deliveredPerSec} deliveries/s, ${incomplete} incomplete`,
  );
  await pool.all({ op: 'close' });
  return result;
}
