import { createServer, type AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { Drains } from '../src/controller/drains.ts';
import { GatewayClient } from '../src/gateway-client/gateway-client.ts';
import type { Logger } from '../src/log.ts';
import type { FleetRegistry } from '../src/registry/fleet-registry.ts';


const quiet: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} } as unknown as Logger;

describe('drain tasks', () => {
  it('report a failed drain and do not start it again before its backoff has passed', async () => {
    const failures: Array<{ pod: string; error: string; retryInMs: number }> = [];
    let done = 0;
    const drains = new Drains(new GatewayClient(), { onDone: () => done++, onFailed: (_f, pod, error, retryInMs) => failures.push({ pod, error, retryInMs }), onStepFailed: () => {} }, quiet);
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

  it('report a drain whose pod does not answer once, and back off its steps instead of retrying every 500 ms', async () => {
    const steps: string[] = [];
    const drains = new Drains(new GatewayClient(), { onDone: () => {}, onFailed: () => {}, onStepFailed: (_f, pod, error) => steps.push(`${pod}: ${error}`) }, quiet);
    // A pod that takes connections and drops them: every step fails at its first call (POST /v1/drain).
    let attempts = 0;
    const pod = createServer((socket) => {
      attempts++;
      socket.destroy();
    });
    await new Promise<void>((r) => pod.listen(0, '127.0.0.1', r));
    const { port } = pod.address() as AddressInfo;
    try {
      drains.ensure('ns/chat', 'chat-2', 10, async () => ({
        target: { podName: 'chat-2', address: { ip: '127.0.0.1', httpPort: port, grpcPort: port }, startedAt: Date.now() },
        settings: { timeoutSeconds: 10, adminToken: 'admin', apiToken: 'api' },
        // Never reached: the first step fails.
        registry: {} as FleetRegistry,
      }));
      await new Promise((r) => setTimeout(r, 3200));
    } finally {
      drains.stopAll();
      await new Promise((r) => pod.close(r));
    }
    expect(steps).toHaveLength(1);
    expect(steps[0]).toMatch(/^chat-2: /);
    // Every 500 ms that would be 7 attempts; backing off (0.5, 1, 2 s ...) it is 3 or 4 (a request may retry once).
    expect(attempts).toBeGreaterThanOrEqual(3);
    expect(attempts).toBeLessThanOrEqual(5);
  });
});
