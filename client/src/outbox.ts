/**
 * Sends not yet answered. Each keeps its encoded `send_msg`, so a resend after
 * a reconnect carries the same `msg_id` (the gateway answers a copy it already
 * stored with DUPLICATE_MESSAGE and the original sequence number). Each
 * send's promise settles exactly once: an entry leaves the map before it
 * settles.
 */
import type { GatewayError } from './errors.ts';

export interface SendAck {
  msgId: string;
  sequenceNumber: number;
  /** `duplicate`: an earlier attempt of this send was stored; `sequenceNumber` is that one's. */
  status: 'delivered' | 'offline' | 'duplicate';
}

interface PendingSend {
  /** The `send_msg` frame's JSON text, sent again as is. */
  readonly text: string;
  readonly promise: Promise<SendAck>;
  readonly resolve: (ack: SendAck) => void;
  readonly reject: (err: GatewayError) => void;
  /** Refused with a retriable error: waits for the outbox's next retry instead of the next socket. */
  held: boolean;
}

export class Outbox {
  /** In send order (a Map iterates in insertion order), which resends keep. */
  private readonly sends = new Map<string, PendingSend>();
  private heldCount = 0;

  get size(): number {
    return this.sends.size;
  }

  /** The promise of a send already waiting under this msg_id, if any. */
  pending(msgId: string): Promise<SendAck> | undefined {
    return this.sends.get(msgId)?.promise;
  }

  /** Whether some sends wait for a retry: a new one waits behind them, so as not to overtake them. */
  get holding(): boolean {
    return this.heldCount > 0;
  }

  add(msgId: string, text: string, held = false): Promise<SendAck> {
    let resolve!: (ack: SendAck) => void;
    let reject!: (err: GatewayError) => void;
    const promise = new Promise<SendAck>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    this.sends.set(msgId, { text, promise, resolve, reject, held });
    if (held) this.heldCount++;
    return promise;
  }

  has(msgId: string): boolean {
    return this.sends.has(msgId);
  }

  resolve(msgId: string, ack: SendAck): void {
    this.take(msgId)?.resolve(ack);
  }

  reject(msgId: string, err: GatewayError): void {
    this.take(msgId)?.reject(err);
  }

  rejectAll(err: GatewayError): void {
    const sends = [...this.sends.values()];
    this.sends.clear();
    this.heldCount = 0;
    for (const send of sends) send.reject(err);
  }

  private take(msgId: string): PendingSend | undefined {
    const send = this.sends.get(msgId);
    if (send === undefined) return undefined;
    this.sends.delete(msgId);
    if (send.held) this.heldCount--;
    return send;
  }

  /** Keeps a send back until `release()`: the gateway refused it for now. */
  hold(msgId: string): void {
    const send = this.sends.get(msgId);
    if (send === undefined || send.held) return;
    send.held = true;
    this.heldCount++;
  }

  /** Texts of every send to write on a new socket, oldest first; held ones too, since a new socket is a retry. */
  all(): string[] {
    const texts: string[] = [];
    for (const send of this.sends.values()) {
      send.held = false;
      texts.push(send.text);
    }
    this.heldCount = 0;
    return texts;
  }

  /** Texts of the held sends, released, oldest first. */
  release(): string[] {
    const texts: string[] = [];
    for (const send of this.sends.values()) {
      if (!send.held) continue;
      send.held = false;
      texts.push(send.text);
    }
    this.heldCount = 0;
    return texts;
  }
}
