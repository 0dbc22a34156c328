import { describe, expect, it } from 'vitest';
import { DedupWindow } from '../src/store/dedup-window.ts';

const TTL = 1000;

describe('dedup window', () => {
  it('remembers a key until its TTL', () => {
    const window = new DedupWindow(TTL, 100);
    window.set('a', 1, 0);
    expect(window.get('a', 999)).toBe(1);
    expect(window.get('a', 1000)).toBeNull();
    expect(window.get('b', 0)).toBeNull();
  });

  it('holds at most maxKeys, and every key until at least half that many newer ones came', () => {
    const window = new DedupWindow(TTL, 10);
    for (let i = 0; i < 1000; i++) {
      window.set(`k${i}`, i, 0);
      expect(window.size).toBeLessThanOrEqual(10);
      for (let back = 0; back < 5 && back <= i; back++) expect(window.get(`k${i - back}`, 0)).toBe(i - back);
    }
    expect(window.get('k0', 0)).toBeNull();
  });

  it('drops expired keys on sweep without new ones arriving', () => {
    const window = new DedupWindow(TTL, 100);
    window.set('a', 1, 0);
    window.set('b', 2, 500);
    window.sweep(1000);
    expect(window.get('b', 1000)).toBe(2);
    expect(window.size).toBe(2);
    window.sweep(1500);
    expect(window.size).toBe(0);
  });

  it('starts a new generation once the current one is a TTL old, keeping what has not expired', () => {
    const window = new DedupWindow(TTL, 100);
    window.set('a', 1, 0);
    window.set('b', 2, 900);
    window.set('c', 3, 1000);
    expect(window.get('a', 1000)).toBeNull();
    expect(window.get('b', 1000)).toBe(2);
    expect(window.get('c', 1000)).toBe(3);
    window.set('d', 4, 1950);
    expect(window.get('b', 1950)).toBeNull();
    expect([window.get('c', 1950), window.get('d', 1950)]).toEqual([3, 4]);
  });

  it('answers a key set again after it expired with its new position', () => {
    const window = new DedupWindow(TTL, 100);
    window.set('a', 1, 0);
    window.set('a', 7, 1200);
    expect(window.get('a', 1300)).toBe(7);
  });
});
