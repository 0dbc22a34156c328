/**
 * Coalesces the prefix reads asked for within one event-loop turn into one
 * etcd Txn holding a Range per distinct prefix. Every message looks up its
 * recipient's and its sender's devices, and the fleet's CPU goes to client
 * work per gRPC call: one Txn of N ranges costs far less than N Range calls.
 *
 * Nothing is cached, so reads stay linearizable: a batch is sent only after
 * every lookup in it was asked for, and etcd serves a read-only Txn (ranges
 * not marked serializable) through the same linearizable path as a Range.
 * Each lookup therefore sees every write that completed before it was made.
 */
import type { IRangeResponse, IRequestOp, ITxnRequest, ITxnResponse } from 'etcd3';

/** etcd's default --max-txn-ops: a Txn with more operations is refused whole. */
export const MAX_TXN_OPS = 128;

export interface DeviceLookupsOptions {
  /** Sends one read-only Txn, with the deadline and retry of any other call. */
  send(request: ITxnRequest): Promise<ITxnResponse>;
  /** Keys per range, as a page of a scan: a range that has more says so (`more`). */
  limit: number;
  /** Ranges per Txn; default MAX_TXN_OPS. */
  maxOps?: number;
}

interface Waiter {
  resolve(range: IRangeResponse): void;
  reject(err: unknown): void;
}

export class DeviceLookups {
  private readonly send: (request: ITxnRequest) => Promise<ITxnResponse>;
  private readonly limit: number;
  private readonly maxOps: number;
  /** The batch the next flush sends, by prefix: one range answers every caller of a prefix. */
  private pending: Map<string, Waiter[]> | undefined;

  constructor(options: DeviceLookupsOptions) {
    this.send = options.send;
    this.limit = options.limit;
    this.maxOps = options.maxOps ?? MAX_TXN_OPS;
  }

  /** The first page of keys under `prefix`, read by a Txn sent after this call. */
  read(prefix: string): Promise<IRangeResponse> {
    return new Promise((resolve, reject) => {
      if (this.pending === undefined) {
        this.pending = new Map();
        // Not a microtask: callers woken together by one reply (an ioredis
        // pipeline resolves many promises in one turn) then share the batch.
        setImmediate(() => this.flush());
      }
      const waiters = this.pending.get(prefix);
      if (waiters === undefined) this.pending.set(prefix, [{ resolve, reject }]);
      else waiters.push({ resolve, reject });
    });
  }

  private flush(): void {
    const batch = [...(this.pending ?? [])];
    this.pending = undefined;
    // Concurrently: a batch beyond the cap should cost one round trip, not several.
    for (let i = 0; i < batch.length; i += this.maxOps) void this.sendTxn(batch.slice(i, i + this.maxOps));
  }

  private async sendTxn(batch: Array<[string, Waiter[]]>): Promise<void> {
    const success: IRequestOp[] = batch.map(([prefix]) => ({
      request_range: { key: Buffer.from(prefix), range_end: prefixEnd(prefix), limit: this.limit },
    }));
    let response: ITxnResponse;
    try {
      response = await this.send({ success });
    } catch (err) {
      for (const [, waiters] of batch) for (const waiter of waiters) waiter.reject(err);
      return;
    }
    batch.forEach(([prefix, waiters], i) => {
      const range = response.responses[i]?.response_range;
      for (const waiter of waiters) {
        if (range !== undefined) waiter.resolve(range);
        else waiter.reject(new Error(`etcd txn answered without a range for ${prefix}`));
      }
    });
  }
}

/** The range end that covers every key starting with `prefix`. */
export function prefixEnd(prefix: string): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    const byte = end[i]!;
    if (byte < 0xff) {
      end[i] = byte + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}
