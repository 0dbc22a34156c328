/**
 * Exponential backoff, the one home of it (as grpc-js keeps one
 * `BackoffTimeout` for reconnects, resolution and balancing): the retry queue,
 * the Kafka consumer restart, the etcd lease recovery and watch resume, and
 * the operator's work queue all wait by it.
 *
 * It only computes delays; each caller waits its own way (one timer for a
 * whole queue, an abortable `node:timers/promises` sleep), so no timer or
 * closure is added per use. No jitter: each user backs off one shared
 * resource from one process, where spreading attempts buys nothing and
 * predictable delays keep logs and tests readable.
 */

export interface BackoffOptions {
  /** Delay after the first failure. */
  initialMs: number;
  /** Ceiling the doubling stops at. */
  maxMs: number;
}

/** Delay after the `failures`-th failure in a row (1 gives `initialMs`), doubling up to `maxMs`. */
export function backoffDelay(failures: number, options: BackoffOptions): number {
  // Past 2^31 the product is Infinity or beyond any ceiling: clamp the exponent first.
  const exponent = Math.min(Math.max(failures - 1, 0), 31);
  return Math.min(options.initialMs * 2 ** exponent, options.maxMs);
}

/** The running delay of one retried activity: `next()` after each failure, `reset()` after a success. */
export class Backoff {
  private readonly options: BackoffOptions;
  private failures = 0;

  constructor(options: BackoffOptions) {
    this.options = options;
  }

  /** Counts a failure and returns the delay to wait before the next attempt. */
  next(): number {
    return backoffDelay(++this.failures, this.options);
  }

  /** The delay `next()` would return, without counting a failure (for logs). */
  peek(): number {
    return backoffDelay(this.failures + 1, this.options);
  }

  /** Back to `initialMs` after a success. */
  reset(): void {
    this.failures = 0;
  }
}
