import { describe, expect, it } from 'vitest';
import { Pacer } from '../src/drain/pacer.ts';

describe('the fleet-wide reconnect budget', () => {
  it('spaces the closes of two drains taking from it at once to its rate together', async () => {
    const pacer = new Pacer(20);
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
    const pacer = new Pacer(20);
    await pacer.take();
    pacer.charge(4);
    const t0 = Date.now();
    await pacer.take();
    // The slot after the first (50 ms) plus four more (200 ms).
    expect(Date.now() - t0).toBeGreaterThanOrEqual(230);
  });

  it('refuses a rate that is not positive', () => {
    expect(() => new Pacer(0)).toThrow(RangeError);
  });
});
