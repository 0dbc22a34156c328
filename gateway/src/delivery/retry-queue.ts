/**
 * Work that failed because a dependency was down and must still happen once
 * it is back: publishing an already-stored message to Kafka, forwarding it
 * to the nodes of online recipients. One timer for the whole queue, FIFO,
 * exponential backoff while the head keeps failing; bounded in size and age
 * (past either, the message is still in its log and reaches devices on their
 * next connect).
 */
import { errorText, type Logger } from '../observability/logger.ts';
import { Backoff } from '../shared/backoff.ts';

export interface RetryOptions {
  maxItems: number;
  maxAgeMs: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

interface Item {
  what: string;
  work: () => Promise<void>;
  since: number;
}

export class RetryQueue {
  private readonly options: RetryOptions;
  private readonly log: Logger;
  private readonly items: Item[] = [];
  private timer: NodeJS.Timeout | null = null;
  private readonly backoff: Backoff;
  private closed = false;

  constructor(options: RetryOptions, log: Logger) {
    this.options = options;
    this.log = log;
    this.backoff = new Backoff({ initialMs: options.baseDelayMs, maxMs: options.maxDelayMs });
  }

  get size(): number {
    return this.items.length;
  }

  /** Runs `work` now; if it fails, queues it for later and rethrows. */
  async attempt(what: string, work: () => Promise<void>): Promise<void> {
    try {
      await work();
    } catch (err) {
      this.add(what, work);
      throw err;
    }
  }

  add(what: string, work: () => Promise<void>): void {
    if (this.closed) return;
    if (this.items.length >= this.options.maxItems) {
      const dropped = this.items.shift()!;
      this.log.warn('retry_dropped', { what: dropped.what, reason: 'queue full' });
    }
    this.items.push({ what, work, since: Date.now() });
    this.schedule();
  }

  close(): void {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(): void {
    if (this.timer !== null || this.closed || this.items.length === 0) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.drain();
    }, this.backoff.peek());
    this.timer.unref();
  }

  private async drain(): Promise<void> {
    while (this.items.length > 0 && !this.closed) {
      const item = this.items[0]!;
      if (Date.now() - item.since > this.options.maxAgeMs) {
        this.items.shift();
        this.log.warn('retry_dropped', { what: item.what, reason: 'too old' });
        continue;
      }
      try {
        await item.work();
        this.items.shift();
        this.backoff.reset();
      } catch (err) {
        // The dependency is still down: back off for the whole queue.
        this.log.debug('retry_failed', { what: item.what, queued: this.items.length, retry_in_ms: this.backoff.next(), error: errorText(err) });
        break;
      }
    }
    this.schedule();
  }
}
