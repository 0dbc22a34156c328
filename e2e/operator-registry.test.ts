/**
 * The operator's registry loop against a real etcd: reads go in pages (a
 * fleet past gRPC's 4 MiB reply limit is read whole), every call has a
 * deadline (an etcd that never answers fails a sweep in seconds), entries of a
 * Terminating pod stay until the pod is gone, and two fleets on one etcd each
 * sweep only their own prefix.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { V1Pod } from '@kubernetes/client-node';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEtcd, type EtcdService } from './infra/providers.ts';
import type { IMGateway } from '../operator/src/api/v1alpha1/types.ts';
import { OperatorMetrics } from '../operator/src/health/metrics.ts';
import { createLogger } from '../operator/src/log.ts';
import { FleetRegistry } from '../operator/src/registry/fleet-registry.ts';
import { RegistryLoop } from '../operator/src/registry/registry-loop.ts';
import { INSTANCE_LABEL } from '../operator/src/resources/labels.ts';
import { fleetPrefixes } from '../operator/src/resources/prefixes.ts';
import { REQUIRED_GATEWAY } from '../operator/test/support/spec.ts';

const log = createLogger('error', { component: 'test' });
/** etcd's default limit of operations in one txn. */
const TXN_OPS = 128;

let etcd: EtcdService;
let admin: Etcd3;

beforeAll(async () => {
  etcd = await startEtcd();
  admin = new Etcd3({ hosts: etcd.endpoints });
}, 120_000);

afterAll(async () => {
  admin?.close();
  await etcd?.stop();
});

function fleet(namespace: string, name: string, endpoints = etcd.endpoints): IMGateway {
  return {
    apiVersion: 'imgateway.io/v1alpha1',
    kind: 'IMGateway',
    metadata: { name, namespace, uid: `${namespace}-${name}` },
    spec: { gateway: { ...REQUIRED_GATEWAY, etcdEndpoints: endpoints } },
  };
}

function pod(gw: IMGateway, name: string, terminating = false): V1Pod {
  return {
    metadata: {
      name,
      namespace: gw.metadata!.namespace!,
      labels: { [INSTANCE_LABEL]: gw.metadata!.name! },
      ...(terminating ? { deletionTimestamp: new Date() } : {}),
    },
  };
}

/** A registry loop over fixed caches: what the informers would hold. */
function loop(gateways: IMGateway[], pods: V1Pod[], options: { callTimeoutMs?: number; pageSize?: number } = {}) {
  const changed: string[] = [];
  const sources = {
    gateways: { list: () => gateways },
    pods: { list: (namespace?: string) => pods.filter((p) => namespace === undefined || p.metadata!.namespace === namespace) },
  };
  const registry = new RegistryLoop(sources, { sweepPeriodMs: 60_000, ...options }, { metrics: new OperatorMetrics(), log, onChange: (key) => changed.push(key) });
  return { registry, changed, pods };
}

/** Writes `count` device entries on `node` under the fleet's prefix, each value padded to `valueBytes`. */
async function writeDevices(gw: IMGateway, node: string, count: number, valueBytes = 64): Promise<string[]> {
  const prefix = fleetPrefixes(gw).etcdPrefix;
  const keys: string[] = [];
  for (let start = 0; start < count; start += TXN_OPS) {
    const puts = [];
    for (let i = start; i < Math.min(count, start + TXN_OPS); i++) {
      const key = `${prefix}/users/${node}-u${i}/phone`;
      const value = JSON.stringify({ node, grpc: '10.0.0.1:9093', connected_at: 1, pad: 'x'.repeat(Math.max(0, valueBytes - 60)) });
      keys.push(key);
      puts.push(admin.put(key).value(value));
    }
    await admin.if(`${prefix}/none`, 'Version', '==', 0).then(...puts).commit();
  }
  return keys;
}

async function countUnder(prefix: string): Promise<number> {
  return Number(await admin.getAll().prefix(`${prefix}/`).count());
}

describe('the registry loop on a real etcd', () => {
  it('reads a fleet larger than a gRPC reply (4 MiB) in pages, and sweeps all of it', async () => {
    const gw = fleet('big', 'chat');
    const prefix = fleetPrefixes(gw).etcdPrefix;
    // 5,000 entries of 1 KiB: about 5 MiB, past the 4 MiB a single range reply may carry.
    await writeDevices(gw, 'gw-gone', 5000, 1024);
    // One unpaged range of the whole prefix (what the operator did before) is refused by gRPC.
    const unpaged = new Etcd3({ hosts: etcd.endpoints });
    await expect(unpaged.getAll().prefix(`${prefix}/`).exec()).rejects.toThrow(/larger than max|RESOURCE_EXHAUSTED|exceed/i);
    unpaged.close();

    const registry = new FleetRegistry(etcd.endpoints, prefix, { pageSize: 500 });
    try {
      let entries = 0;
      let pages = 0;
      for await (const page of registry.entries()) {
        entries += page.length;
        pages++;
      }
      expect(entries).toBe(5000);
      expect(pages).toBe(10);
      expect((await registry.usersOn('gw-gone')).length).toBe(5000);
    } finally {
      registry.close();
    }

    const { registry: sweeper } = loop([gw], []);
    try {
      await sweeper.sweep(gw);
      expect(await countUnder(prefix)).toBe(5000); // first sight: suspects only
      await sweeper.sweep(gw);
      expect(await countUnder(prefix)).toBe(0);
      expect(sweeper.report('big/chat')).toMatchObject({ removed: 5000, health: { status: 'True', reason: 'Swept' } });
    } finally {
      await sweeper.stop();
    }
  }, 120_000);

  it('keeps the entries of a Terminating pod until the pod is gone, then removes them', async () => {
    const gw = fleet('term', 'chat');
    const prefix = fleetPrefixes(gw).etcdPrefix;
    await writeDevices(gw, 'gw-draining', 20);
    await writeDevices(gw, 'gw-serving', 5);
    const pods = [pod(gw, 'gw-serving'), pod(gw, 'gw-draining', true)];
    const { registry } = loop([gw], pods);
    try {
      for (let i = 0; i < 3; i++) await registry.sweep(gw);
      expect(await countUnder(prefix)).toBe(25);
      pods.splice(1, 1); // the pod is gone
      await registry.sweep(gw);
      await registry.sweep(gw);
      expect(await countUnder(prefix)).toBe(5);
    } finally {
      await registry.stop();
    }
  });

  it('sweeps each of two fleets on one etcd under its own prefix, never the other’s entries', async () => {
    const a = fleet('team-a', 'chat');
    const b = fleet('team-b', 'chat');
    await writeDevices(a, 'chat-a-1', 10);
    await writeDevices(b, 'chat-b-1', 10);
    await writeDevices(b, 'chat-b-gone', 3);
    const { registry } = loop([a, b], [pod(a, 'chat-a-1'), pod(b, 'chat-b-1')]);
    try {
      await registry.sweepAll();
      await registry.sweepAll();
      expect(await countUnder(fleetPrefixes(a).etcdPrefix)).toBe(10);
      expect(await countUnder(fleetPrefixes(b).etcdPrefix)).toBe(10);
      expect(registry.report('team-b/chat').removed).toBe(3);
    } finally {
      await registry.stop();
    }
  });

  it('fails a sweep within its call deadline when etcd accepts connections but never answers', async () => {
    const sockets: Socket[] = [];
    const silent: Server = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const gw = fleet('silent', 'chat', [`http://127.0.0.1:${(silent.address() as AddressInfo).port}`]);
    const { registry, changed } = loop([gw], [], { callTimeoutMs: 1000 });
    try {
      const started = Date.now();
      await registry.sweep(gw);
      expect(Date.now() - started).toBeLessThan(5000);
      expect(registry.report('silent/chat').health).toMatchObject({ status: 'False', reason: 'RegistryUnreachable' });
      expect(changed).toEqual(['silent/chat']);
    } finally {
      await registry.stop();
      for (const s of sockets) s.destroy();
      silent.close();
    }
  }, 20_000);
});
