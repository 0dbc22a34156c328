/**
 * Token expiry for every socket on one timer. Unlike heartbeats, deadlines
 * are arbitrary (each token has its own `exp`, hours or days away), so a
 * socket sits in a bucket per second of its deadline (JWT `exp` counts in
 * seconds) and the sweep empties each bucket once its second has passed.
 * Cost: one interval for the process, O(1) to add, move or remove a socket,
 * one Map lookup per second swept.
 */

export interface Expiring {
  /** Milliseconds since epoch. */
  expiresAt: number;
  /** The second (since epoch) of the bucket the item sits in, or -1. */
  expirySlot: number;
}

export class ExpirySweep<T extends Expiring> {
  private readonly buckets = new Map<number, Set<T>>();
  private readonly onExpire: (item: T) => void;
  private readonly tickMs: number;
  /** Every bucket up to this second has been swept. */
  private swept: number;
  private timer: NodeJS.Timeout | null = null;

  constructor(onExpire: (item: T) => void, now: number = Date.now(), tickMs = 250) {
    this.onExpire = onExpire;
    this.tickMs = tickMs;
    this.swept = secondOf(now) - 1;
  }

  start(): void {
    if (this.timer !== null) return;
    this.timer = setInterval(() => this.advance(Date.now()), this.tickMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** Tracks the item until `expiresAt`, replacing the deadline it had. */
  set(item: T, expiresAt: number): void {
    // A deadline already past expires at the next sweep, not in this call stack.
    const slot = Math.max(Math.ceil(expiresAt / 1000), this.swept + 1);
    this.remove(item);
    item.expiresAt = expiresAt;
    item.expirySlot = slot;
    let bucket = this.buckets.get(slot);
    if (bucket === undefined) this.buckets.set(slot, (bucket = new Set()));
    bucket.add(item);
  }

  remove(item: T): void {
    if (item.expirySlot < 0) return;
    const bucket = this.buckets.get(item.expirySlot);
    if (bucket !== undefined) {
      bucket.delete(item);
      if (bucket.size === 0) this.buckets.delete(item.expirySlot);
    }
    item.expirySlot = -1;
  }

  get size(): number {
    let n = 0;
    for (const bucket of this.buckets.values()) n += bucket.size;
    return n;
  }

  /** Expires every item whose deadline is at or before `now`; exposed so tests can drive time. */
  advance(now: number): void {
    // A bucket's second has passed once `now` reaches its end: `exp` itself is no longer valid.
    const target = secondOf(now);
    for (let second = this.swept + 1; second <= target; second++) {
      const bucket = this.buckets.get(second);
      if (bucket === undefined) continue;
      this.buckets.delete(second);
      for (const item of bucket) {
        item.expirySlot = -1;
        this.onExpire(item);
      }
    }
    if (target > this.swept) this.swept = target;
  }
}

function secondOf(ms: number): number {
  return Math.floor(ms / 1000);
}
