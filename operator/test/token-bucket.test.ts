import { describe, expect, it } from 'vitest';
import { TokenBucket } from '../src/rate/token-bucket.ts';

describe('a token bucket', () => {
  it('with a burst of 1 (a reconnect budget) spaces the closes of two drains taking at once to its rate together', async () => {
    const pacer = new TokenBucket({ perSecond: 20, burst: 1 });
    const times: number[] = [];
    const drain = async () => {
      for (let i = 0; i < 5; i++) {
        await pacer.take();
        times.push(Date.now());
      }
    };
    const t0 = Date.now();
    await Promise.all([drain(), drain()]);
    // 10 closes at 20 a second: the last at 450 ms or later (at 20 a second each, both would finish by 200 ms).
    expect(times.at(-1)! - t0).toBeGreaterThanOrEqual(440);
    times.sort((a, b) => a - b);
    // Timers fire late now and then, never early: no 200 ms holds more than its 4 slots and an edge.
    for (const t of times) expect(times.filter((u) => u >= t && u < t + 200).length).toBeLessThanOrEqual(5);
  });

  it('charges the extra sockets of a user with several devices to whoever takes next', async () => {
    const pacer = new TokenBucket({ perSecond: 20, burst: 1 });
    await pacer.take();
    pacer.charge(4);
    const t0 = Date.now();
    await pacer.take();
    // The slot after the first (50 ms) plus four more (200 ms).
    expect(Date.now() - t0).toBeGreaterThanOrEqual(230);
  });

  it('lets a burst through at once, then the rate (an API request limit)', async () => {
    const bucket = new TokenBucket({ perSecond: 20, burst: 5 });
    const t0 = Date.now();
    const times: number[] = [];
    await Promise.all(Array.from({ length: 9 }, async () => {
      await bucket.take();
      times.push(Date.now() - t0);
    }));
    times.sort((a, b) => a - b);
    expect(times[4]).toBeLessThan(20);
    // The 4 beyond the burst wait 50, 100, 150 and 200 ms.
    expect(times[8]).toBeGreaterThanOrEqual(195);
    expect(times[5]).toBeGreaterThanOrEqual(45);
  });

  it('refuses a rate that is not positive', () => {
    expect(() => new TokenBucket({ perSecond: 0, burst: 1 })).toThrow(RangeError);
    expect(() => new TokenBucket({ perSecond: 1, burst: 0 })).toThrow(RangeError);
  });
});
