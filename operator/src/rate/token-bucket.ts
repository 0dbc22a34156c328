/**
 * A token bucket: at most `burst` tokens, refilled at `perSecond`. One
 * mechanism for the operator's two rates: the fleet-wide reconnect budget of
 * drains (burst 1: closes evenly spaced) and the client-side limit on API
 * requests (kube/rate-limit.ts).
 */
import { setTimeout as sleep } from 'node:timers/promises';

export interface Rate {
  perSecond: number;
  burst: number;
}

export class TokenBucket {
  readonly rate: Rate;
  private tokens: number;
  private updatedAt: number;
  /** Tokens promised to callers still waiting: concurrent takers queue one behind the other. */
  private owed = 0;

  constructor(rate: Rate, now = Date.now()) {
    if (!(rate.perSecond > 0) || !(rate.burst >= 1)) throw new RangeError(`a rate needs perSecond > 0 and burst >= 1, got ${JSON.stringify(rate)}`);
    this.rate = rate;
    this.tokens = rate.burst;
    this.updatedAt = now;
  }

  /** Waits for a token and takes it. */
  async take(): Promise<void> {
    const wait = this.reserve(Date.now());
    if (wait === 0) return;
    await sleep(wait);
    this.owed -= 1;
    this.tokens -= 1;
  }

  /** Takes `n` tokens already spent (the extra sockets of a user with several devices): later takers wait for them. */
  charge(n: number): void {
    if (n <= 0) return;
    this.refill(Date.now());
    this.tokens -= n;
  }

  /** Milliseconds until the caller's token is there (0: now, and it is taken). */
  private reserve(now: number): number {
    this.refill(now);
    if (this.tokens - this.owed >= 1) {
      this.tokens -= 1;
      return 0;
    }
    this.owed += 1;
    return Math.ceil(((this.owed - this.tokens) * 1000) / this.rate.perSecond);
  }

  private refill(now: number): void {
    this.tokens = Math.min(this.rate.burst, this.tokens + ((now - this.updatedAt) * this.rate.perSecond) / 1000);
    this.updatedAt = now;
  }
}
