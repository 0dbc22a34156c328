import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayClient } from '../src/gateway-client/gateway-client.ts';
import { PodLoadReader } from '../src/controller/pod-loads.ts';

/** A gateway's /stats as a real HTTP server on loopback, counting the requests it gets. */
describe('pod loads', () => {
  let server: Server;
  let port: number;
  let hits = 0;
  let answer: 'ok' | 'fail' = 'ok';
  const client = new GatewayClient(1000);

  beforeAll(async () => {
    server = createServer((req, res) => {
      hits++;
      if (answer === 'fail') return void res.writeHead(503).end();
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ active_connections: 7, draining: false }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    client.close();
    await new Promise((resolve) => server.close(resolve));
  });

  const pod = (name: string, phase = 'Running', uid = `${name}-uid`): V1Pod => ({
    metadata: { name, uid, creationTimestamp: new Date(0) },
    status: { phase, podIP: '127.0.0.1', conditions: [{ type: 'Ready', status: 'True' }] },
  });
  const ports = () => ({ httpPort: port, grpcPort: 1 });

  it('asks each pod at most once per period, except the pods named fresh', async () => {
    const reader = new PodLoadReader(client, 10_000);
    hits = 0;
    const t0 = Date.now();
    const pods = [pod('a'), pod('b')];
    expect((await reader.read('f', pods, ports(), new Set(), t0)).map((l) => l.connections)).toEqual([7, 7]);
    await reader.read('f', pods, ports(), new Set(), t0 + 5_000);
    expect(hits).toBe(2);
    await reader.read('f', pods, ports(), new Set(['b']), t0 + 6_000);
    expect(hits).toBe(3);
    // a's reading is a period old; b's (at 6 s) is not.
    await reader.read('f', pods, ports(), new Set(), t0 + 10_000);
    expect(hits).toBe(4);
    // A new pod under a reused name is read at once.
    await reader.read('f', [pod('a', 'Running', 'other-uid'), pod('b')], ports(), new Set(), t0 + 11_000);
    expect(hits).toBe(5);
  });

  it('reports a running pod that does not answer as unknown, and a pending one as holding nothing', async () => {
    const reader = new PodLoadReader(client, 10_000);
    answer = 'fail';
    try {
      const loads = await reader.read('g', [pod('a'), pod('p', 'Pending')], ports(), new Set());
      expect(loads.map((l) => l.connections)).toEqual([undefined, 0]);
    } finally {
      answer = 'ok';
    }
  });
});
