/**
 * Reconnect delays: exponential backoff with full jitter (a uniformly random
 * delay below the exponential cap), so clients that lost the same node do not
 * come back in step.
 */

export interface BackoffOptions {
  /** Cap of the first attempt's delay. */
  initialDelayMs: number;
  /** The cap never grows past this. */
  maxDelayMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialDelayMs: 500, maxDelayMs: 30_000 };

/**
 * Delay before reconnect attempt `attempt` (0 for the first after a drop):
 * uniform in [0, min(maxDelayMs, initialDelayMs * 2^attempt)).
 * `random` returns a number in [0, 1), as Math.random does.
 */
export function backoffDelay(attempt: number, options: BackoffOptions, random: () => number): number {
  // 2^attempt overflows to Infinity for large attempts; Math.min keeps the cap.
  const cap = Math.min(options.maxDelayMs, options.initialDelayMs * 2 ** Math.max(0, attempt));
  return Math.floor(random() * cap);
}

/**
 * Delay before reconnecting after a drain (1012): at once, but spread over
 * the first attempt's window so a node's clients do not reconnect in one burst.
 */
export function drainDelay(options: BackoffOptions, random: () => number): number {
  return Math.floor(random() * Math.min(options.initialDelayMs, options.maxDelayMs));
}
