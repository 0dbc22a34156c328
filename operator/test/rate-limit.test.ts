import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rateLimited } from '../src/kube/rate-limit.ts';

/** An HTTP server answering every GET as an empty pod list, noting when each request came. */
describe('the client-side API rate limit', () => {
  let server: Server;
  const arrivals: number[] = [];
  const kc = new KubeConfig();

  beforeAll(async () => {
    server = createServer((_req, res) => {
      arrivals.push(Date.now());
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ apiVersion: 'v1', kind: 'PodList', metadata: {}, items: [] }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    kc.loadFromClusterAndUser({ name: 'test', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }, { name: 'test' });
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('lets a burst through, then holds the API clients made from it to the rate; the original KubeConfig is not limited', async () => {
    const limited = rateLimited(kc, { perSecond: 20, burst: 4 }).makeApiClient(CoreV1Api);
    arrivals.length = 0;
    const t0 = Date.now();
    await Promise.all(Array.from({ length: 10 }, () => limited.listNamespacedPod({ namespace: 'x' })));
    // Burst 4, then 20 a second: the 10th request goes 300 ms after the first.
    expect(arrivals.at(-1)! - t0).toBeGreaterThanOrEqual(290);

    const free = kc.makeApiClient(CoreV1Api);
    arrivals.length = 0;
    const t1 = Date.now();
    await Promise.all(Array.from({ length: 10 }, () => free.listNamespacedPod({ namespace: 'x' })));
    expect(arrivals.at(-1)! - t1).toBeLessThan(250);
  });
});
