/**
 * A test WebSocket client over the real `ws` library: queues every frame it
 * receives so a test can await the next one of a given type, and records how
 * the socket closed.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket, { type ClientOptions } from 'ws';
import { token } from './gateway.ts';

export type Frame = Record<string, unknown> & { type: string };

export interface Closed {
  code: number;
  reason: string;
}

export class TestClient {
  readonly ws: WebSocket;
  readonly frames: Frame[] = [];
  readonly closed: Promise<Closed>;
  private waiters: Array<() => void> = [];
  private msgCounter = 0;

  constructor(url: string, options: ClientOptions = {}, protocols?: string[]) {
    this.ws = new WebSocket(url, protocols ?? [], options);
    this.ws.on('message', (data) => {
      this.frames.push(JSON.parse(data.toString()) as Frame);
      for (const wake of this.waiters.splice(0)) wake();
    });
    this.closed = new Promise((resolve) => {
      this.ws.on('close', (code, reason) => {
        resolve({ code, reason: reason.toString() });
        for (const wake of this.waiters.splice(0)) wake();
      });
    });
    this.ws.on('error', () => {});
  }

  /** Connects as user/device with a bearer header and waits for auth_response. */
  static async connect(url: string, userId: string, deviceId: string): Promise<TestClient> {
    const client = new TestClient(url, { headers: { Authorization: `Bearer ${await token(userId, deviceId)}` } });
    await client.next('auth_response');
    return client;
  }

  send(frame: Record<string, unknown>): void {
    this.ws.send(JSON.stringify(frame));
  }

  /** Sends a send_msg with a fresh msg_id; returns the msg_id. */
  sendMessage(recipientId: string, content: string, recipientType: 'user' | 'group' = 'user', extra: Record<string, unknown> = {}): string {
    const msgId = (extra.msg_id as string | undefined) ?? `m-${process.pid}-${Date.now()}-${++this.msgCounter}`;
    this.send({ type: 'send_msg', msg_id: msgId, recipient_id: recipientId, recipient_type: recipientType, content, timestamp: Date.now(), ...extra });
    return msgId;
  }

  ack(msgId: string, status: 'received' | 'read' = 'received'): void {
    this.send({ type: 'ack', msg_id: msgId, status, timestamp: Date.now() });
  }

  /** Removes and returns the first queued frame matching, waiting up to timeoutMs. */
  async next(type?: string, match: (f: Frame) => boolean = () => true, timeoutMs = 3000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.frames.findIndex((f) => (type === undefined || f.type === type) && match(f));
      if (i >= 0) return this.frames.splice(i, 1)[0]!;
      const left = deadline - Date.now();
      if (left <= 0 || this.ws.readyState === WebSocket.CLOSED) {
        throw new Error(`no ${type ?? 'frame'} within ${timeoutMs} ms; queued: ${JSON.stringify(this.frames).slice(0, 500)}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Asserts nothing matching arrives within `ms`. */
  async nothing(type: string, ms = 200): Promise<void> {
    await sleep(ms);
    const found = this.frames.find((f) => f.type === type);
    if (found !== undefined) throw new Error(`unexpected ${type}: ${JSON.stringify(found)}`);
  }

  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close();
    await this.closed;
  }
}

/** The clients a test opened, closed together after it. */
export class OpenClients {
  private readonly clients: TestClient[] = [];

  /** Tracks a client opened some other way (own options, a second gateway). */
  add(client: TestClient): TestClient {
    this.clients.push(client);
    return client;
  }

  async connect(url: string, userId: string, deviceId: string): Promise<TestClient> {
    return this.add(await TestClient.connect(url, userId, deviceId));
  }

  async closeAll(): Promise<void> {
    await Promise.all(this.clients.splice(0).map((c) => c.close()));
  }
}
