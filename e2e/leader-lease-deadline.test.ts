/**
 * Leader election against the real kube-apiserver, reached through a TCP
 * relay that can freeze: the connection stays open and nothing answers, as
 * with a stuck load balancer or a partitioned node. A leader whose renewals
 * hang must give up leadership within renewDeadline (plus one retry period),
 * not wait on the hung request forever while another replica takes the lease.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { CoordinationV1Api, KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, type ControlPlane } from './k8s/control-plane.ts';
import { LeaderElector } from '../operator/src/leader/lease-lock.ts';
import { createLogger } from '../operator/src/log.ts';

/** Relays TCP to `target`; `freeze()` stops relaying without closing anything. */
async function relay(target: URL): Promise<{ server: Server; port: number; freeze(): void; close(): void }> {
  let frozen = false;
  const sockets: Socket[] = [];
  const server = createServer((client) => {
    const upstream = createConnection({ host: target.hostname, port: Number(target.port) });
    sockets.push(client, upstream);
    client.on('data', (chunk) => { if (!frozen) upstream.write(chunk); });
    upstream.on('data', (chunk) => { if (!frozen) client.write(chunk); });
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, target.hostname, resolve));
  return {
    server,
    port: (server.address() as AddressInfo).port,
    freeze: () => { frozen = true; },
    close: () => { for (const s of sockets) s.destroy(); server.close(); },
  };
}

describe('lease renewal against a real apiserver that stops answering', () => {
  let cp: ControlPlane;
  beforeAll(async () => {
    cp = await startControlPlane();
  }, 120_000);
  afterAll(async () => {
    await cp?.stop();
  });

  it('gives up leadership within renewDeadline when renewals hang, and a second candidate takes the lease', async () => {
    const target = new URL(cp.server);
    const hub = await relay(target);
    const viaRelay = cp.kubeConfig();
    viaRelay.clusters = viaRelay.clusters.map((c) => ({ ...c, server: `https://${target.hostname}:${hub.port}` }));
    const direct: KubeConfig = cp.kubeConfig();
    const log = createLogger('error', { component: 'test' });
    const timing = { namespace: 'default', name: 'deadline-test', leaseDurationSeconds: 4, renewDeadlineSeconds: 2, retryPeriodSeconds: 1 };
    const first = new LeaderElector(viaRelay.makeApiClient(CoordinationV1Api), { ...timing, identity: 'first' }, log);
    const second = new LeaderElector(direct.makeApiClient(CoordinationV1Api), { ...timing, identity: 'second' }, log);
    try {
      let lostAt = 0;
      await new Promise<void>((elected) => void first.run(elected, () => (lostAt = Date.now())));
      await new Promise((r) => setTimeout(r, 1500)); // a renewal or two through the relay
      expect(lostAt).toBe(0);
      hub.freeze();
      const frozenAt = Date.now();
      let secondElected = 0;
      void second.run(() => (secondElected = Date.now()), () => {});
      for (let i = 0; i < 100 && (lostAt === 0 || secondElected === 0); i++) await new Promise((r) => setTimeout(r, 100));
      expect(lostAt, 'the frozen leader never gave up').toBeGreaterThan(0);
      // renewDeadline (2 s) after its last renewal, which is at most one retry period (1 s) before the freeze.
      expect(lostAt - frozenAt).toBeLessThan(2000 + 1000 + 500);
      expect(secondElected, 'the second candidate never took the lease').toBeGreaterThan(0);
      expect(secondElected).toBeGreaterThanOrEqual(lostAt);
      expect(first.isLeader).toBe(false);
    } finally {
      await first.release();
      await second.release();
      hub.close();
    }
  }, 60_000);
});
