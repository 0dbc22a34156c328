/**
 * A client that behaves as a well-written app on a flaky fleet: reconnects
 * (to the next gateway when one is gone), acks every message it gets,
 * remembers msg_ids to drop duplicates (delivery is at-least-once), and
 * resends a message with the same msg_id until it is acked.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { SignJWT } from 'jose';
import WebSocket from 'ws';
import { FLEET_JWT_SECRET } from './gateway-process.ts';

export type Frame = Record<string, unknown> & { type: string };

const FINAL_CLOSE_CODES = new Set([4001, 4002, 4003, 4004, 4005, 4010, 4011]);
const RETRIABLE = new Set(['SERVICE_UNAVAILABLE', 'CACHE_ERROR', 'REGISTRY_ERROR', 'ROUTING_ERROR']);

export class FleetClient {
  readonly userId: string;
  readonly deviceId: string;
  /** Read at every (re)connect: a test may swap it when a node goes away. */
  urls: () => string[];
  private ws: WebSocket | null = null;
  private urlIndex: number;
  private stopped = false;
  /** Every distinct message received, in arrival order. */
  readonly received = new Map<string, Frame>();
  readonly closeCodes: number[] = [];
  /** Copies of a message that arrived again after it was acked (at-least-once). */
  duplicates = 0;
  /**
   * First receipts that did not follow the conversation's previous one
   * (`<log> <last> -> <seq>`): a device that never sends in a conversation
   * must see its sequence numbers contiguous, across reconnects too.
   */
  readonly outOfOrder: string[] = [];
  private readonly lastSeq = new Map<string, number>();
  /** Every attempt of a send and when (if ever) it was answered, for the answer-time bound. */
  readonly attempts: Array<{ msgId: string; sentAt: number; answeredAt: number | null; answer: string }> = [];
  readonly others: Frame[] = [];
  connectedTo = '';
  private readonly pending = new Map<string, (frame: Frame) => void>();
  private readonly waiters = new Set<() => void>();
  private counter = 0;

  /** `urls` is read at every (re)connect, so a test can take a dead node out. */
  constructor(userId: string, deviceId: string, urls: () => string[], startAt = 0) {
    this.userId = userId;
    this.deviceId = deviceId;
    this.urls = urls;
    this.urlIndex = startAt;
  }

  /** Connects and resolves after auth_response. */
  async connect(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      if (this.stopped) throw new Error('client stopped');
      const urls = this.urls();
      const url = urls[this.urlIndex++ % urls.length]!;
      try {
        await this.open(url);
        return;
      } catch (err) {
        // A refusal for auth or the device limit (4001-4005) is final; anything else (a dependency down: 4012) is worth retrying.
        if (attempt > 50 || /closed 400[1-5]/.test((err as Error).message)) throw err;
        await sleep(Math.min(100 * (attempt + 1), 500));
      }
    }
  }

  private async open(url: string): Promise<void> {
    const token = await new SignJWT({ user_id: this.userId, device_id: this.deviceId })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(FLEET_JWT_SECRET));
    const ws = new WebSocket(url, { headers: { Authorization: `Bearer ${token}` } });
    await new Promise<void>((resolve, reject) => {
      const fail = (err: Error): void => reject(err);
      ws.once('error', fail);
      ws.once('close', (code) => reject(new Error(`closed ${code} before auth`)));
      ws.on('message', (data) => {
        const frame = JSON.parse(data.toString()) as Frame;
        if (frame.type === 'auth_response') {
          ws.off('error', fail);
          ws.removeAllListeners('close');
          this.ws = ws;
          this.connectedTo = url;
          ws.on('close', (code) => this.onClose(code));
          ws.on('error', () => {});
          resolve();
          return;
        }
        this.onFrame(ws, frame);
      });
    });
  }

  private onFrame(ws: WebSocket, frame: Frame): void {
    if (frame.type === 'message') {
      const id = frame.msg_id as string;
      if (!this.received.has(id)) {
        this.received.set(id, frame);
        this.checkOrder(frame);
      } else {
        this.duplicates++;
      }
      ws.send(JSON.stringify({ type: 'ack', msg_id: id, status: 'received' }));
    } else if ((frame.type === 'ack' || frame.type === 'error') && typeof frame.msg_id === 'string' && this.pending.has(frame.msg_id)) {
      this.pending.get(frame.msg_id)!(frame);
    } else {
      this.others.push(frame);
    }
    for (const wake of this.waiters) wake();
  }

  private checkOrder(frame: Frame): void {
    const [sender, recipient] = [frame.sender_id as string, frame.recipient_id as string];
    const log = frame.recipient_type === 'group' ? `g:${recipient}` : `d:${[sender, recipient].sort().join(':')}`;
    const seq = frame.sequence_number as number;
    const last = this.lastSeq.get(log);
    if (last !== undefined && seq !== last + 1) this.outOfOrder.push(`${log} ${last} -> ${seq}`);
    this.lastSeq.set(log, seq);
  }

  /** Drops the connection abruptly, as a lost network would; the client reconnects by itself. */
  drop(): void {
    this.ws?.terminate();
  }

  private onClose(code: number): void {
    this.ws = null;
    this.closeCodes.push(code);
    // Replaced by a newer session, closed by an operator, or refused: reconnecting would be wrong.
    if (this.stopped || FINAL_CLOSE_CODES.has(code)) return;
    this.connect().catch(() => {});
  }

  /**
   * Sends until acked (or refused as a duplicate, which means an earlier try
   * was stored); resolves with the sequence number.
   */
  async send(to: string, content: string, recipientType: 'user' | 'group' = 'user', timeoutMs = 30_000, answerWaitMs = 2000): Promise<{ msgId: string; seq: number }> {
    const msgId = `${this.userId}-${this.deviceId}-${Date.now()}-${++this.counter}`;
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const ws = this.ws;
      if (ws === null || ws.readyState !== WebSocket.OPEN) {
        await sleep(50);
        continue;
      }
      const answer = new Promise<Frame | null>((resolve) => {
        const timer = setTimeout(() => resolve(null), answerWaitMs);
        this.pending.set(msgId, (frame) => {
          clearTimeout(timer);
          resolve(frame);
        });
      });
      const attempt = { msgId, sentAt: Date.now(), answeredAt: null as number | null, answer: '' };
      this.attempts.push(attempt);
      ws.send(JSON.stringify({ type: 'send_msg', msg_id: msgId, recipient_id: to, recipient_type: recipientType, content }));
      const frame = await answer;
      this.pending.delete(msgId);
      if (frame === null) continue;
      attempt.answeredAt = Date.now();
      attempt.answer = frame.type === 'ack' ? 'ack' : String(frame.error_code);
      if (frame.type === 'ack') return { msgId, seq: frame.sequence_number as number };
      if (frame.error_code === 'DUPLICATE_MESSAGE') return { msgId, seq: frame.sequence_number as number };
      if (!RETRIABLE.has(frame.error_code as string)) throw new Error(`send refused: ${JSON.stringify(frame)}`);
      await sleep(100);
    }
    throw new Error(`${msgId} not acked within ${timeoutMs} ms`);
  }

  /** Sends one send_msg with a msg_id of the caller's (a retry) and resolves with the answer, ack or error. */
  async resend(msgId: string, to: string, content: string, timeoutMs = 5000): Promise<Frame> {
    const ws = this.ws;
    if (ws === null || ws.readyState !== WebSocket.OPEN) throw new Error('not connected');
    const answer = new Promise<Frame>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer to ${msgId} within ${timeoutMs} ms`)), timeoutMs);
      this.pending.set(msgId, (frame) => {
        clearTimeout(timer);
        resolve(frame);
      });
    });
    ws.send(JSON.stringify({ type: 'send_msg', msg_id: msgId, recipient_id: to, recipient_type: 'user', content }));
    try {
      return await answer;
    } finally {
      this.pending.delete(msgId);
    }
  }

  /** Waits until every id was received. */
  async waitFor(ids: Iterable<string>, timeoutMs = 30_000): Promise<void> {
    const wanted = [...ids];
    const deadline = Date.now() + timeoutMs;
    while (wanted.some((id) => !this.received.has(id))) {
      const left = deadline - Date.now();
      if (left <= 0) {
        const missing = wanted.filter((id) => !this.received.has(id));
        throw new Error(`${this.userId}/${this.deviceId} missing ${missing.length} of ${wanted.length}: ${missing.slice(0, 5).join(', ')}`);
      }
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          clearTimeout(timer);
          this.waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, Math.min(left, 200));
        this.waiters.add(wake);
      });
    }
  }

  get connected(): boolean {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  async close(): Promise<void> {
    this.stopped = true;
    const ws = this.ws;
    if (ws === null) return;
    await new Promise<void>((resolve) => {
      ws.once('close', () => resolve());
      ws.close();
    });
  }
}

/** The clients a test opened against a fleet, closed together after it. */
export class FleetClients {
  private readonly urls: () => string[];
  private readonly opened: FleetClient[] = [];

  /** `urls`: the fleet's WebSocket URLs, read at every (re)connect. */
  constructor(urls: () => string[]) {
    this.urls = urls;
  }

  /** A connected client pinned to node `i` (it moves on only if that node goes away, within `pool`). */
  async connect(user: string, device: string, i: number, pool: () => string[] = this.urls): Promise<FleetClient> {
    const client = new FleetClient(user, device, pool, i);
    this.opened.push(client);
    await client.connect();
    return client;
  }

  async closeAll(): Promise<void> {
    await Promise.allSettled(this.opened.splice(0).map((c) => c.close()));
  }
}
