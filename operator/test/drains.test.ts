import { describe, expect, it } from 'vitest';
import { Drains } from '../src/controller/drains.ts';
import { GatewayClient } from '../src/gateway-client/gateway-client.ts';
import type { Logger } from '../src/log.ts';

const quiet: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} } as unknown as Logger;

describe('drain tasks', () => {
  it('report a failed drain and do not start it again before its backoff has passed', async () => {
    const failures: Array<{ pod: string; error: string; retryInMs: number }> = [];
    let done = 0;
    const drains = new Drains(new GatewayClient(), { onDone: () => done++, onFailed: (_f, pod, error, retryInMs) => failures.push({ pod, error, retryInMs }) }, quiet);
    let prepared = 0;
    const prepare = async () => {
      prepared++;
      throw new Error('secret fleet has no key secret');
    };
    expect(drains.ensure('ns/chat', 'chat-1', 10, prepare)).toBe(true);
    await new Promise((r) => setTimeout(r, 20));
    expect(failures).toEqual([{ pod: 'chat-1', error: 'secret fleet has no key secret', retryInMs: 1000 }]);
    expect(done).toBe(1);
    // The pass the failure triggers does not retry at once: no tight loop.
    expect(drains.ensure('ns/chat', 'chat-1', 10, prepare)).toBe(false);
    expect(prepared).toBe(1);
    expect(drains.retryInMs('ns/chat', 'chat-1')).toBeGreaterThan(900);
    // Once the backoff has passed it runs again, and a second failure doubles the wait.
    expect(drains.ensure('ns/chat', 'chat-1', 10, prepare, Date.now() + 1001)).toBe(true);
    await new Promise((r) => setTimeout(r, 20));
    expect(failures.at(-1)?.retryInMs).toBe(2000);
    drains.stopAll();
  });
});
