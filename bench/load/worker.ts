/**
 * A load generator process, driven over IPC by the orchestrator (pool.ts).
 * It holds client sockets to a gateway or a baseline and runs what it is told:
 * open connections, send private messages at a set rate, send group messages,
 * and report what arrived. Send and receipt times are process.hrtime
 * (CLOCK_MONOTONIC), which every process on the machine shares, so latency is
 * exact even when sender and receiver live in different workers.
 */
import { createHmac } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { WebSocket } from 'ws';
import { io, type ManagerOptions, type Socket, type SocketOptions } from 'socket.io-client';
import { Histogram } from '../lib/stats.ts';
import type {
  Command,
  ConnSpec,
  GroupCollectResult,
  OpenResult,
  PrivateResult,
  Reply,
  Request,
  TargetSpec,
  UsageResult,
} from './protocol.ts';

function now(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** A client socket of any kind, reduced to what the scenarios need. */
interface Conn {
  spec: ConnSpec;
  send(text: string): void;
  /** Bytes queued in the client, not yet written to the kernel. */
  buffered(): number;
  close(): void;
}

// ---------------------------------------------------------------- receiving

/** Counters of the private-message step in progress; null between steps. */
interface Step {
  start: number;
  windowStart: number;
  windowEnd: number;
  deliveredInWindow: number;
  ackedInWindow: number;
  arrivedOfWindow: number;
  /** Every message of this step that arrived, window or not: the drain waits for all of them. */
  arrivedAll: number;
  latency: Histogram;
  errors: Record<string, number>;
}

let step: Step | null = null;
let lastFrameAt = now();
let frames = 0;
/** Group message id -> copies received and receipt latencies. */
const groupSeen = new Map<string, { count: number; firstMs: number; lastMs: number }>();
/** Settles a pending group-collect once its counts are complete. */
let groupWaiter: (() => void) | null = null;

const CONTENT = '"content":"';
const MSG_ID = '"msg_id":"';

/**
 * One inbound frame, as text. Deliveries are found by their content, which
 * starts with `p` (private) or `g` (group) and the sender's send time: the
 * same test works on the gateway's `message` frames and on the baselines'
 * relayed `send_msg` frames, without a JSON parse per frame.
 */
function onFrame(text: string): void {
  const t = now();
  lastFrameAt = t;
  frames++;
  const c = text.indexOf(CONTENT);
  if (c >= 0) {
    const kind = text.charCodeAt(c + CONTENT.length);
    const bar = text.indexOf('|', c);
    const sentAt = Number(text.slice(c + CONTENT.length + 1, bar));
    if (kind === 112 /* p */) onPrivate(sentAt, t);
    else if (kind === 103 /* g */) onGroup(text, sentAt, t);
    return;
  }
  if (text.startsWith('{"type":"ack"')) {
    if (step !== null && t >= step.windowStart && t <= step.windowEnd) step.ackedInWindow++;
    return;
  }
  if (text.startsWith('{"type":"error"')) {
    const code = /"error_code":"([A-Z_]+)"/.exec(text)?.[1] ?? 'UNKNOWN';
    counts(step?.errors ?? strayErrors, code);
  }
}

function onPrivate(sentAt: number, t: number): void {
  const s = step;
  if (s === null || sentAt < s.start) return; // left over from an earlier step
  s.arrivedAll++;
  if (t >= s.windowStart && t <= s.windowEnd) s.deliveredInWindow++;
  // Sent after warm-up: the sender counts the same messages (the last tick may send just past windowEnd).
  if (sentAt >= s.windowStart) {
    s.arrivedOfWindow++;
    s.latency.record(t - sentAt);
  }
}

function onGroup(text: string, sentAt: number, t: number): void {
  const m = text.indexOf(MSG_ID);
  if (m < 0) return;
  const id = text.slice(m + MSG_ID.length, text.indexOf('"', m + MSG_ID.length));
  const ms = t - sentAt;
  const seen = groupSeen.get(id);
  if (seen === undefined) groupSeen.set(id, { count: 1, firstMs: ms, lastMs: ms });
  else {
    seen.count++;
    if (ms < seen.firstMs) seen.firstMs = ms;
    if (ms > seen.lastMs) seen.lastMs = ms;
  }
  groupWaiter?.();
}

/** Error frames that came outside a private-message step. */
const strayErrors: Record<string, number> = {};
function counts(into: Record<string, number>, key: string): void {
  into[key] = (into[key] ?? 0) + 1;
}

// ---------------------------------------------------------------- connecting

const conns = new Map<string, Conn>();

function base64url(text: string | Buffer): string {
  return Buffer.from(text).toString('base64url');
}

/** HS256 token as the gateway expects it: user_id/sub, device_id, exp. */
function mintToken(secret: string, userId: string): string {
  const header = base64url('{"alg":"HS256","typ":"JWT"}');
  const iat = Math.floor(Date.now() / 1000);
  const payload = base64url(JSON.stringify({ sub: userId, user_id: userId, device_id: 'bench', iat, exp: iat + 24 * 3600 }));
  const signature = createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url');
  return `${header}.${payload}.${signature}`;
}

function openOne(target: TargetSpec, spec: ConnSpec, localAddress: string, timeoutMs: number): Promise<Conn> {
  const url = target.urls[spec.node];
  if (url === undefined) return Promise.reject(new Error(`no url for node ${spec.node}`));
  return target.kind === 'socketio' ? openSocketIo(url, spec, localAddress, timeoutMs) : openWs(target, url, spec, localAddress, timeoutMs);
}

function openWs(target: TargetSpec, url: string, spec: ConnSpec, localAddress: string, timeoutMs: number): Promise<Conn> {
  const gateway = target.kind === 'gateway';
  const query = new URLSearchParams({ id: spec.id });
  if (spec.peer !== undefined) query.set('peer', spec.peer);
  if (spec.group !== undefined) query.set('group', spec.group);
  const ws = new WebSocket(gateway ? url : `${url}?${query}`, {
    headers: gateway ? { Authorization: `Bearer ${mintToken(target.jwtSecret ?? '', spec.id)}` } : {},
    localAddress,
    perMessageDeflate: false,
    handshakeTimeout: timeoutMs,
  });
  const conn: Conn = {
    spec,
    send: (text) => ws.send(text),
    buffered: () => ws.bufferedAmount,
    close: () => ws.terminate(),
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error('timeout')), timeoutMs);
    const fail = (err: Error): void => {
      clearTimeout(timer);
      ws.terminate();
      reject(err);
    };
    ws.once('error', fail);
    ws.once('close', (code) => fail(new Error(`closed ${code}`)));
    const ready = (): void => {
      clearTimeout(timer);
      ws.removeAllListeners('error');
      ws.removeAllListeners('close');
      ws.on('error', () => {});
      ws.on('message', (data: Buffer) => onFrame(data.toString()));
      resolve(conn);
    };
    if (!gateway) {
      ws.once('open', ready);
      return;
    }
    // The gateway's first frame says whether the token was accepted.
    ws.once('message', (data: Buffer) => {
      const text = data.toString();
      if (text.includes('"auth_response"') && text.includes('"success":true')) ready();
      else fail(new Error(/"error_code":"([A-Z_]+)"/.exec(text)?.[1] ?? 'no auth_response'));
    });
  });
}

function openSocketIo(url: string, spec: ConnSpec, localAddress: string, timeoutMs: number): Promise<Conn> {
  const query: Record<string, string> = { id: spec.id };
  if (spec.peer !== undefined) query.peer = spec.peer;
  if (spec.group !== undefined) query.group = spec.group;
  // localAddress goes through engine.io-client to `ws`, though its types do not list it.
  const options: Partial<ManagerOptions & SocketOptions> & { localAddress: string } = {
    transports: ['websocket'],
    query,
    forceNew: true,
    reconnection: false,
    timeout: timeoutMs,
    localAddress,
  };
  const socket: Socket = io(url, options);
  const conn: Conn = {
    spec,
    send: (text) => socket.emit('m', text),
    buffered: () => 0,
    close: () => socket.disconnect(),
  };
  return new Promise((resolve, reject) => {
    socket.once('connect', () => {
      socket.on('m', (text: string) => onFrame(text));
      resolve(conn);
    });
    socket.once('connect_error', (err: Error) => {
      socket.disconnect();
      reject(err);
    });
  });
}

async function open(cmd: Extract<Command, { op: 'open' }>): Promise<OpenResult> {
  const started = now();
  let next = 0;
  let opened = 0;
  let failed = 0;
  const errors: Record<string, number> = {};
  const lane = async (): Promise<void> => {
    while (next < cmd.conns.length) {
      const i = next++;
      const spec = cmd.conns[i]!;
      const address = cmd.localAddresses[i % cmd.localAddresses.length]!;
      try {
        conns.set(spec.id, await openOne(cmd.target, spec, address, cmd.timeoutMs));
        opened++;
      } catch (err) {
        failed++;
        counts(errors, (err as Error).message.slice(0, 80));
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(cmd.concurrency, cmd.conns.length) }, lane));
  return { opened, failed, ms: now() - started, errors };
}

// ---------------------------------------------------------------- sending

/** Content of the given size: a kind letter, the send time, a bar, then padding. */
function content(kind: 'p' | 'g', sentAt: number, bytes: number): string {
  const head = `${kind}${sentAt.toFixed(3)}|`;
  return head + 'x'.repeat(Math.max(0, bytes - head.length));
}

function sendMsg(msgId: string, recipient: string, type: 'user' | 'group', text: string): string {
  return `{"type":"send_msg","msg_id":"${msgId}","recipient_id":"${recipient}","recipient_type":"${type}","content":"${text}"}`;
}

/** A sender whose socket has this much unsent data skips its turn instead of queueing more. */
const MAX_CLIENT_BUFFER = 4 * 1024 * 1024;
let msgCounter = 0;
/** Message ids are unique per sender for the store's dedup: a later worker reusing a sender id must not repeat them. */
const MSG_PREFIX = `m${process.pid.toString(36)}${Date.now().toString(36)}.`;

/** Open loop: sends at `rate` regardless of replies, so queueing shows up as latency. */
async function runPrivate(cmd: Extract<Command, { op: 'private' }>): Promise<PrivateResult> {
  const pairs = cmd.pairs.map(([from, to]) => ({ conn: conns.get(from), to }));
  const start = now();
  const s: Step = {
    start,
    windowStart: start + cmd.warmupMs,
    windowEnd: start + cmd.durationMs,
    deliveredInWindow: 0,
    ackedInWindow: 0,
    arrivedOfWindow: 0,
    arrivedAll: 0,
    latency: new Histogram(),
    errors: {},
  };
  step = s;
  const cpuStart = cpuMs();
  let sent = 0;
  let skipped = 0;
  let sentInWindow = 0;
  let turn = 0;
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const t = now();
      const until = Math.min(t, s.windowEnd);
      const due = Math.floor(((until - start) * cmd.rate) / 1000) - sent - skipped;
      for (let k = 0; k < due; k++) {
        const pair = pairs[turn++ % pairs.length]!;
        if (pair.conn === undefined || pair.conn.buffered() > MAX_CLIENT_BUFFER) {
          skipped++;
          continue;
        }
        const sentAt = now();
        pair.conn.send(sendMsg(`${MSG_PREFIX}${++msgCounter}`, pair.to, 'user', content('p', sentAt, cmd.contentBytes)));
        sent++;
        if (sentAt >= s.windowStart) sentInWindow++;
      }
      if (t >= s.windowEnd) {
        clearInterval(timer);
        resolve();
      }
    }, 1);
  });
  // Let every message of the step arrive, up to the drain deadline, so the next step starts on an idle server.
  const deadline = now() + cmd.drainMs;
  while (s.arrivedAll < sent && now() < deadline) await sleep(5);
  step = null;
  return {
    sent,
    skipped,
    deliveredInWindow: s.deliveredInWindow,
    ackedInWindow: s.ackedInWindow,
    windowMs: s.windowEnd - s.windowStart,
    sentInWindow,
    arrivedOfWindow: s.arrivedOfWindow,
    latency: s.latency.toData(),
    errors: s.errors,
    cpuMs: cpuMs() - cpuStart,
    wallMs: now() - start,
  };
}

function groupSend(cmd: Extract<Command, { op: 'group-send' }>): { sentAt: number } {
  const conn = conns.get(cmd.sender);
  if (conn === undefined) throw new Error(`no connection ${cmd.sender}`);
  const sentAt = now();
  for (const id of cmd.ids) conn.send(sendMsg(id, cmd.group, 'group', content('g', now(), cmd.contentBytes)));
  return { sentAt };
}

/** Waits until every local member has each message, or the timeout; then forgets them. */
async function groupCollect(cmd: Extract<Command, { op: 'group-collect' }>): Promise<GroupCollectResult> {
  let expected = 0;
  for (const conn of conns.values()) if (conn.spec.group === cmd.group && conn.spec.id !== cmd.sender) expected++;
  const complete = (): boolean => cmd.ids.every((id) => (groupSeen.get(id)?.count ?? 0) >= expected);
  if (!complete()) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, cmd.timeoutMs);
      function done(): void {
        clearTimeout(timer);
        groupWaiter = null;
        resolve();
      }
      groupWaiter = () => {
        if (complete()) done();
      };
    });
  }
  const messages = cmd.ids.map((id) => {
    const seen = groupSeen.get(id);
    groupSeen.delete(id);
    return { id, count: seen?.count ?? 0, expected, firstMs: seen?.firstMs ?? NaN, lastMs: seen?.lastMs ?? NaN };
  });
  return { messages };
}

/** Resolves once no frame has arrived for `idleMs` (replay after connect, say), or at the timeout. */
async function quiesce(cmd: Extract<Command, { op: 'quiesce' }>): Promise<{ frames: number }> {
  const deadline = now() + cmd.timeoutMs;
  while (now() - lastFrameAt < cmd.idleMs && now() < deadline) await sleep(50);
  return { frames };
}

function usage(): UsageResult {
  return { cpuMs: cpuMs(), rssBytes: process.memoryUsage.rss(), open: conns.size, frames, errors: { ...strayErrors } };
}

function closeAll(): { closed: number } {
  const closed = conns.size;
  for (const conn of conns.values()) conn.close();
  conns.clear();
  return { closed };
}

// ---------------------------------------------------------------- IPC

async function handle(cmd: Command): Promise<unknown> {
  switch (cmd.op) {
    case 'open':
      return open(cmd);
    case 'private':
      return runPrivate(cmd);
    case 'group-send':
      return groupSend(cmd);
    case 'group-collect':
      return groupCollect(cmd);
    case 'quiesce':
      return quiesce(cmd);
    case 'usage':
      return usage();
    case 'close':
      return closeAll();
  }
}

process.on('message', (message: Request) => {
  handle(message).then(
    (result) => process.send!({ seq: message.seq, ok: true, result } satisfies Reply),
    (err: unknown) => process.send!({ seq: message.seq, ok: false, error: (err as Error).stack ?? String(err) } satisfies Reply),
  );
});
// The orchestrator going away ends the worker: its sockets must not outlive the run.
process.on('disconnect', () => process.exit(0));
