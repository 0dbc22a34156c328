import { describe, expect, it } from 'vitest';
import { Backoff, backoffDelay } from '../../src/shared/backoff.ts';

describe('backoff', () => {
  it('doubles the delay per failure in a row, up to the ceiling', () => {
    const options = { initialMs: 250, maxMs: 2000 };
    expect([1, 2, 3, 4, 5, 6].map((failures) => backoffDelay(failures, options))).toEqual([250, 500, 1000, 2000, 2000, 2000]);
  });

  it('stays at the ceiling after very many failures instead of overflowing', () => {
    expect(backoffDelay(10_000, { initialMs: 100, maxMs: 30_000 })).toBe(30_000);
    expect(backoffDelay(0, { initialMs: 100, maxMs: 30_000 })).toBe(100);
  });

  it('starts over at the initial delay after a success', () => {
    const backoff = new Backoff({ initialMs: 100, maxMs: 1000 });
    expect(backoff.peek()).toBe(100);
    expect([backoff.next(), backoff.next(), backoff.next()]).toEqual([100, 200, 400]);
    expect(backoff.peek()).toBe(800);
    backoff.reset();
    expect(backoff.next()).toBe(100);
  });
});
