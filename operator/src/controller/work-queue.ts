/**
 * A work queue as controller-runtime has it: a key is queued once however
 * often it is added, is never processed by two workers at once, and failures
 * come back after an exponential per-key backoff. `addAfter` schedules a
 * periodic resync of one key.
 */
import { backoffDelay } from '../../../gateway/src/operator-contract.ts';

export interface QueueOptions {
  baseDelayMs: number;
  maxDelayMs: number;
}

export class WorkQueue {
  private readonly options: QueueOptions;
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private readonly processing = new Set<string>();
  /** Keys added again while being processed: queued once processing ends. */
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, { timer: NodeJS.Timeout; due: number }>();
  private waiters: Array<() => void> = [];
  private shut = false;

  constructor(options: QueueOptions) {
    this.options = options;
  }

  add(key: string): void {
    if (this.shut) return;
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.queue.push(key);
    this.waiters.shift()?.();
  }

  /** Adds the key after `ms`, unless an earlier timer for it fires first. */
  addAfter(key: string, ms: number): void {
    if (this.shut) return;
    const due = Date.now() + ms;
    const existing = this.timers.get(key);
    if (existing !== undefined) {
      if (existing.due <= due) return;
      clearTimeout(existing.timer);
    }
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, ms);
    timer.unref();
    this.timers.set(key, { timer, due });
  }

  /** Re-adds a failed key after its backoff (doubling per consecutive failure). */
  addRateLimited(key: string): void {
    const failures = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, failures);
    this.addAfter(key, backoffDelay(failures, { initialMs: this.options.baseDelayMs, maxMs: this.options.maxDelayMs }));
  }

  /** Clears the backoff of a key that succeeded. */
  forget(key: string): void {
    this.failures.delete(key);
  }

  /** Next key to process, or null once shut down. Call `done(key)` after. */
  async get(): Promise<string | null> {
    while (this.queue.length === 0) {
      if (this.shut) return null;
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    const key = this.queue.shift()!;
    this.queued.delete(key);
    this.processing.add(key);
    return key;
  }

  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.delete(key)) this.add(key);
  }

  get length(): number {
    return this.queue.length;
  }

  shutDown(): void {
    this.shut = true;
    for (const { timer } of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    for (const wake of this.waiters.splice(0)) wake();
  }
}
