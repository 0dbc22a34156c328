import { describe, expect, it } from 'vitest';
import { WorkQueue } from '../src/controller/work-queue.ts';

describe('work queue', () => {
  it('queues a key once however often it is added', async () => {
    const q = new WorkQueue({ baseDelayMs: 10, maxDelayMs: 100 });
    q.add('a');
    q.add('a');
    q.add('b');
    expect(q.length).toBe(2);
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBe('b');
    q.shutDown();
  });

  it('never hands out a key being processed; one added meanwhile comes back after done', async () => {
    const q = new WorkQueue({ baseDelayMs: 10, maxDelayMs: 100 });
    q.add('a');
    const key = await q.get();
    q.add('a');
    expect(q.length).toBe(0);
    q.done(key!);
    expect(q.length).toBe(1);
    q.shutDown();
  });

  it('backs off a failing key exponentially, and forgets the backoff on success', async () => {
    const q = new WorkQueue({ baseDelayMs: 20, maxDelayMs: 1000 });
    const t0 = Date.now();
    q.addRateLimited('a');
    await q.get();
    q.done('a');
    const first = Date.now() - t0;
    q.addRateLimited('a');
    await q.get();
    q.done('a');
    const second = Date.now() - t0 - first;
    expect(first).toBeGreaterThanOrEqual(15);
    expect(second).toBeGreaterThanOrEqual(35);
    q.forget('a');
    const t1 = Date.now();
    q.addRateLimited('a');
    await q.get();
    expect(Date.now() - t1).toBeLessThan(35);
    q.shutDown();
  });

  it('keeps the sooner of two scheduled adds, and get() returns null after shutdown', async () => {
    const q = new WorkQueue({ baseDelayMs: 10, maxDelayMs: 100 });
    const t0 = Date.now();
    q.addAfter('a', 30);
    q.addAfter('a', 5000);
    expect(await q.get()).toBe('a');
    expect(Date.now() - t0).toBeLessThan(1000);
    q.shutDown();
    expect(await q.get()).toBeNull();
  });
});
