// LogOrder's bookkeeping on its own: which arrivals go out now, which are
// dropped as seen, which wait, and what a late arrival releases.
import { describe, expect, it } from 'vitest';
import { LogOrder, UNKNOWN, type Early } from '../../src/delivery/log-order.ts';

function early(pos: number): Early {
  return { entry: { pos, storedAt: 0, frame: { type: 'read_receipt', msg_id: `m${pos}`, reader_id: 'r', read_at: 0, timestamp: 0 } }, text: `e${pos}` };
}

describe('log order', () => {
  it('takes the next position now, drops what it gave already, holds what comes early', () => {
    const order = new LogOrder(4);
    expect(order.place(5)).toBe('next');
    expect(order.place(4)).toBe('seen');
    expect(order.place(2)).toBe('seen');
    expect(order.place(7)).toBe('early');
  });

  it('releases held entries in position order once the gap before them closes, each once', () => {
    const order = new LogOrder(1);
    order.hold(early(4), 100);
    order.hold(early(3), 110);
    order.hold(early(3), 120);
    order.hold(early(6), 130);
    expect(order.since).toBe(100);
    expect(order.takeReady(140)).toEqual([]);
    order.given = 2;
    expect(order.takeReady(150).map((e) => e.entry.pos)).toEqual([3, 4]);
    expect(order.given).toBe(4);
    // 6 still waits for 5, and its wait starts when 3 and 4 went out.
    expect(order.held!.map((e) => e.entry.pos)).toEqual([6]);
    expect(order.since).toBe(150);
    order.given = 5;
    expect(order.takeReady(160).map((e) => e.entry.pos)).toEqual([6]);
    expect(order.held).toBeNull();
  });

  it('drops held entries that a read from the store already gave', () => {
    const order = new LogOrder(1);
    for (const pos of [3, 4, 5]) order.hold(early(pos), 0);
    order.given = 4;
    expect(order.takeReady(0).map((e) => e.entry.pos)).toEqual([5]);
    expect(order.held).toBeNull();
  });

  it('holds everything while its start is unknown or a read is under way', () => {
    expect(new LogOrder().given).toBe(UNKNOWN);
    const order = new LogOrder(3);
    order.filling = true;
    expect(order.place(4)).toBe('early');
  });
});
