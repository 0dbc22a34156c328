import { describe, expect, it } from 'vitest';
import { backoffDelay, drainDelay } from '../../src/backoff.ts';

/** A seeded generator (mulberry32): the same delays on every run. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const options = { initialDelayMs: 500, maxDelayMs: 30_000 };

describe('reconnect delays', () => {
  it('stays below initialDelayMs * 2^attempt, capped at maxDelayMs, and never negative', () => {
    const random = seeded(42);
    for (let attempt = 0; attempt < 40; attempt++) {
      const cap = Math.min(options.maxDelayMs, options.initialDelayMs * 2 ** attempt);
      for (let i = 0; i < 200; i++) {
        const delay = backoffDelay(attempt, options, random);
        expect(delay).toBeGreaterThanOrEqual(0);
        expect(delay).toBeLessThan(cap);
      }
    }
  });

  it('spreads delays over the whole window (full jitter), not around its top', () => {
    const random = seeded(7);
    // Attempt 6: window [0, 30 000) since 500 * 64 is past the cap.
    const delays = Array.from({ length: 2000 }, () => backoffDelay(6, options, random));
    const below = (ms: number): number => delays.filter((d) => d < ms).length / delays.length;
    expect(below(3_000)).toBeGreaterThan(0.05);
    expect(below(3_000)).toBeLessThan(0.15);
    expect(below(15_000)).toBeGreaterThan(0.45);
    expect(below(15_000)).toBeLessThan(0.55);
    expect(Math.max(...delays)).toBeGreaterThan(28_500);
  });

  it('uses the random number as the fraction of the window', () => {
    expect(backoffDelay(0, options, () => 0)).toBe(0);
    expect(backoffDelay(0, options, () => 0.5)).toBe(250);
    expect(backoffDelay(3, options, () => 0.5)).toBe(2_000);
    expect(backoffDelay(1_000, options, () => 0.999_999)).toBe(29_999);
  });

  it('reconnects after a drain within the first window, however many attempts came before', () => {
    const random = seeded(1);
    for (let i = 0; i < 500; i++) {
      const delay = drainDelay(options, random);
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThan(options.initialDelayMs);
    }
    expect(drainDelay({ initialDelayMs: 500, maxDelayMs: 100 }, () => 0.999)).toBeLessThan(100);
  });
});
