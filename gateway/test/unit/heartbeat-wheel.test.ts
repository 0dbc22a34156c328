import { describe, expect, it } from 'vitest';
import { HeartbeatWheel, type Tracked } from '../../src/connections/heartbeat-wheel.ts';

const item = (lastSeen: number): Tracked & { id: number } => ({ id: lastSeen, lastSeen, wheelSlot: -1 });

describe('heartbeat wheel', () => {
  it('expires an item once its timeout has passed, not before', () => {
    const expired: Tracked[] = [];
    const wheel = new HeartbeatWheel<Tracked>(1000, (i) => expired.push(i), 0);
    const a = item(0);
    wheel.add(a);
    wheel.advance(990);
    expect(expired).toEqual([]);
    wheel.advance(1000);
    expect(expired).toEqual([a]);
    expect(a.wheelSlot).toBe(-1);
  });

  it('keeps an item whose lastSeen moved, and expires it a timeout after its last activity', () => {
    const expired: Tracked[] = [];
    const wheel = new HeartbeatWheel<Tracked>(1000, (i) => expired.push(i), 0);
    const a = item(0);
    wheel.add(a);
    a.lastSeen = 700;
    wheel.advance(1500);
    expect(expired).toEqual([]);
    wheel.advance(1690);
    expect(expired).toEqual([]);
    wheel.advance(1700);
    expect(expired).toEqual([a]);
  });

  it('never expires a removed item, and catches up on ticks it missed', () => {
    const expired: Tracked[] = [];
    const wheel = new HeartbeatWheel<Tracked>(500, (i) => expired.push(i), 0);
    const kept = item(0);
    const gone = item(0);
    wheel.add(kept);
    wheel.add(gone);
    wheel.remove(gone);
    // One late call covering many ticks (a blocked event loop) still expires.
    wheel.advance(10_000);
    expect(expired).toEqual([kept]);
  });

  it('handles many items with spread deadlines in one structure', () => {
    const expired = new Set<Tracked>();
    const wheel = new HeartbeatWheel<Tracked>(1000, (i) => expired.add(i), 0);
    const items = Array.from({ length: 1000 }, (_, i) => item(i));
    for (const i of items) wheel.add(i);
    wheel.advance(1499);
    expect(expired.size).toBeGreaterThanOrEqual(490);
    expect(expired.size).toBeLessThanOrEqual(500);
    for (const i of expired) expect(i.lastSeen + 1000).toBeLessThanOrEqual(1499);
    wheel.advance(2000);
    expect(expired.size).toBe(1000);
  });
});
