import { describe, expect, it } from 'vitest';
import { DedupWindow } from '../../src/store/dedup-window.ts';

const TTL = 1000;

describe('dedup window', () => {
  it('remembers a key for its TTL', () => {
    const window = new DedupWindow(TTL, 100);
    window.set('u', 'a', 1, 0);
    expect(window.get('u', 'a', 999)).toBe(1);
    expect(window.get('u', 'a', 1000)).toBeNull();
    expect(window.get('u', 'b', 0)).toBeNull();
  });

  it('holds at most maxKeys, and every key until at least half that many newer ones came', () => {
    const window = new DedupWindow(TTL, 10);
    for (let i = 0; i < 1000; i++) {
      window.set('u', `k${i}`, i, 0);
      expect(window.size).toBeLessThanOrEqual(10);
      for (let back = 0; back < 5 && back <= i; back++) expect(window.get('u', `k${i - back}`, 0)).toBe(i - back);
    }
    expect(window.get('u', 'k0', 0)).toBeNull();
  });

  it('keeps every key at least its TTL and at most twice that, with keys arriving all the time', () => {
    const window = new DedupWindow(TTL, 1_000_000);
    for (let t = 0; t <= 5000; t += 10) {
      window.set('u', `k${t}`, t + 1, t);
      for (let back = 0; back <= t; back += 10) {
        const pos = window.get('u', `k${t - back}`, t);
        if (back < TTL) expect(pos).toBe(t - back + 1);
        if (back >= 2 * TTL) expect(pos).toBeNull();
      }
    }
    // Two generations of at most a TTL each, not every key ever set.
    expect(window.size).toBeLessThanOrEqual(201);
  });

  it('drops expired keys on sweep without new ones arriving', () => {
    const window = new DedupWindow(TTL, 100);
    window.set('u', 'a', 1, 0);
    window.set('u', 'b', 2, 400);
    window.sweep(1000);
    expect(window.get('u', 'b', 1000)).toBe(2);
    expect(window.size).toBe(2);
    window.sweep(1400);
    expect(window.size).toBe(0);
    expect(window.get('u', 'b', 1400)).toBeNull();
  });

  it('answers a key set again after it expired with its new position', () => {
    const window = new DedupWindow(TTL, 100);
    window.set('u', 'a', 1, 0);
    window.set('u', 'a', 7, 2000);
    expect(window.get('u', 'a', 2100)).toBe(7);
  });

  it('keeps one id of two scopes apart (msg_ids are unique per sender only)', () => {
    const window = new DedupWindow(TTL, 100);
    window.set('alice', 'm1', 3, 0);
    expect(window.get('bob', 'm1', 0)).toBeNull();
    window.set('bob', 'm1', 9, 0);
    expect(window.get('alice', 'm1', 0)).toBe(3);
    expect(window.get('bob', 'm1', 0)).toBe(9);
    expect(window.size).toBe(2);
  });

  it('counts a key set twice in one generation once', () => {
    const window = new DedupWindow(TTL, 100);
    window.set('u', 'a', 1, 0);
    window.set('u', 'a', 2, 10);
    expect(window.size).toBe(1);
  });
});
