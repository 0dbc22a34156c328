// EtcdRegistry against a real etcd 3.4 (e2e/infra): the shared contract with
// two registries as two nodes, then leases: a clean close, a crashed node, a
// lease etcd expired, and etcd itself away for longer than the TTL; then
// device lookups batched into txns; then the watch-fed routing view: its
// latency, a paged first read, an etcd restart, a partition and a compaction.
import { spawn } from 'node:child_process';
import { createConnection, createServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Etcd3, KVClient } from 'etcd3';
import type { IRangeRequest, ITxnRequest } from 'etcd3';
import { getContainerRuntimeClient } from 'testcontainers';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { startEtcd } from '../../../e2e/infra/providers.ts';
import type { EtcdService } from '../../../e2e/infra/providers.ts';
import type { Logger } from '../../src/observability/logger.ts';
import { MAX_TXN_OPS } from '../../src/registry/device-lookups.ts';
import { EtcdRegistry, RegistryUnavailableError } from '../../src/registry/etcd-registry.ts';
import type { EtcdRegistryOptions } from '../../src/registry/etcd-registry.ts';
import { plainRecord } from '../../src/registry/registry.ts';
import type { DeviceRecord, DeviceRoute, Registry } from '../../src/registry/registry.ts';
import { ROUTES_LAG_MS, device, grpcOf, registryContract, routedWithin } from '../support/registry-contract.ts';

const START_TIMEOUT_MS = 120_000;
/** A short lease, so expiry and recovery happen within a test. */
const TTL_S = 2;
/** What "fails fast" means here: the call deadline (1.5 s) and some slack. */
const FAST_MS = 2500;

let etcd: EtcdService;
let admin: Etcd3;
let prefix: string;
let fleets = 0;
const registries: EtcdRegistry[] = [];

beforeAll(async () => {
  etcd = await startEtcd();
  admin = new Etcd3({ hosts: etcd.endpoints });
}, START_TIMEOUT_MS);

afterAll(async () => {
  admin?.close();
  await etcd?.stop();
});

// Each test is its own fleet under its own prefix.
beforeEach(() => {
  prefix = `/gw-test-${++fleets}`;
});

afterEach(async () => {
  await Promise.all(registries.splice(0).map((r) => r.close()));
});

function registry(nodeId: string, options: Partial<EtcdRegistryOptions> = {}): EtcdRegistry {
  const r = new EtcdRegistry({ endpoints: etcd.endpoints, prefix, nodeId, grpcAddress: grpcOf(nodeId), leaseTtlSeconds: TTL_S, ...options });
  registries.push(r);
  return r;
}

registryContract('etcd', async (node) => new EtcdRegistry({ endpoints: etcd.endpoints, prefix, ...node, leaseTtlSeconds: 5 }), { fleet: true });

describe('EtcdRegistry leases on a real etcd', () => {
  it('publishes the node and its devices under one lease, as JSON', async () => {
    const a = registry('node-a');
    await a.start();
    await a.register(device('alice', 'phone', 'node-a', 1000));
    const kvs = (await admin.getAll().prefix(`${prefix}/`).exec()).kvs;
    expect(kvs.map((kv) => [kv.key.toString(), JSON.parse(kv.value.toString())])).toEqual([
      [`${prefix}/nodes/node-a`, { grpc: grpcOf('node-a'), started_at: expect.any(Number) }],
      [`${prefix}/users/alice/phone`, { node: 'node-a', grpc: grpcOf('node-a'), connected_at: 1000 }],
    ]);
    expect(kvs[0]!.lease).not.toBe('0');
    expect(kvs[1]!.lease).toBe(kvs[0]!.lease);
  });

  it('refuses to start, quickly, when etcd cannot be reached', async () => {
    const a = registry('node-a', { endpoints: ['http://127.0.0.1:1'] });
    const started = performance.now();
    await expect(a.start()).rejects.toThrow(/etcd registry start failed/);
    expect(performance.now() - started).toBeLessThan(FAST_MS);
    expect(await a.healthy()).toBe(false);
  });

  it('removes the node’s entries at once on a clean close', async () => {
    const a = registry('node-a', { leaseTtlSeconds: 60 });
    await a.start();
    await a.register(device('alice', 'phone', 'node-a', 1000));
    await a.close();
    expect(await keys()).toEqual([]);
  });

  it('loses a crashed node’s entries when its lease expires', async () => {
    const b = registry('node-b');
    await b.start();
    const crashed = await crashedNode('node-c');
    try {
      expect((await b.devices('alice')).map((d) => d.node)).toEqual(['node-c']);
      expect((await b.nodes()).map((n) => n.node).sort()).toEqual(['node-b', 'node-c']);
      crashed.kill('SIGKILL');
      const killedAt = performance.now();
      // Nobody keeps the lease alive: etcd drops it and its keys within a TTL.
      await until(async () => (await b.devices('alice')).length === 0, (TTL_S + 3) * 1000);
      const gone = performance.now() - killedAt;
      expect(gone).toBeLessThan((TTL_S + 2) * 1000);
      expect((await b.nodes()).map((n) => n.node)).toEqual(['node-b']);
      console.info(`[etcd-registry] crashed node's entries gone ${Math.round(gone)} ms after the kill (TTL ${TTL_S} s)`);
    } finally {
      crashed.kill('SIGKILL');
    }
  });

  it('puts its entries back by itself when etcd expires its lease, leaving devices other nodes took', async () => {
    const [a, b] = [registry('node-a'), registry('node-b')];
    await a.start();
    await b.start();
    const phone = await a.register(device('alice', 'phone', 'node-a', 1000));
    const tablet = await a.register(device('alice', 'tablet', 'node-a', 2000));
    // Enough devices to put back several at a time.
    await Promise.all(Array.from({ length: 200 }, (_, i) => a.register(device(`user-${i}`, 'phone', 'node-a', i))));
    const before = await leaseOf(`${prefix}/nodes/node-a`);

    // What etcd does to a node it has not heard from for a TTL: the lease and its keys go.
    await admin.leaseClient.leaseRevoke({ ID: before });
    expect(await a.devices('alice')).toEqual([]);
    // The tablet connects to node B before node A notices.
    const onB = await b.register(device('alice', 'tablet', 'node-b', 3000));

    // Node A learns at its next keepalive and re-registers under a new lease.
    await until(async () => (await a.healthy()) && (await a.devices('alice')).length === 2, 5000);
    const after = await leaseOf(`${prefix}/nodes/node-a`);
    expect(after).not.toBe(before);
    expect(await leaseOf(`${prefix}/users/alice/phone`)).toBe(after);
    expect(sortedDevices(await b.devices('alice'))).toEqual([device('alice', 'phone', 'node-a', 1000), device('alice', 'tablet', 'node-b', 3000)]);
    // Node B's view follows node A's re-puts within the watch latency.
    await until(async () => (await b.devicesOnNode('node-a')).length === 201, ROUTES_LAG_MS);
    expect(await leaseOf(`${prefix}/users/user-199/phone`)).toBe(after);

    // Tokens from before the loss still work, and still only on their own record.
    await a.unregister('alice', 'tablet', tablet);
    await a.unregister('alice', 'phone', phone);
    expect(await b.devices('alice')).toEqual([device('alice', 'tablet', 'node-b', 3000)]);
    await b.unregister('alice', 'tablet', onB);
    expect(await b.devices('alice')).toEqual([]);
  });

  it('fails fast while etcd is down, then re-registers everything after the lease is lost', async () => {
    const log = recordingLog();
    const a = registry('node-a', { log });
    await a.start();
    const phone = await a.register(device('alice', 'phone', 'node-a', 1000));
    await a.register(device('bob', 'phone', 'node-a', 2000));
    const before = await leaseOf(`${prefix}/nodes/node-a`);

    const outage = await etcdDown();
    const stoppedAt = performance.now();
    try {
      expect(await a.healthy()).toBe(false);
      for (const call of [() => a.register(device('carol', 'phone', 'node-a', 3000)), () => a.devices('alice'), () => a.nodes()]) {
        const started = performance.now();
        await expect(call()).rejects.toThrow(/etcd registry|no live lease/);
        expect(performance.now() - started).toBeLessThan(FAST_MS);
      }
      // Down for longer than twice the TTL: the client gives the lease up (etcd3 'lost').
      await sleep(Math.max(0, 3 * TTL_S * 1000 - (performance.now() - stoppedAt)));
      const started = performance.now();
      await expect(a.register(device('carol', 'phone', 'node-a', 3000))).rejects.toThrow(/no live lease|etcd registry/);
      expect(performance.now() - started).toBeLessThan(FAST_MS);
      expect(await a.healthy()).toBe(false);
    } finally {
      await outage.end();
    }
    const restartedAt = performance.now();
    await until(() => a.healthy(), 15_000);
    const recovered = performance.now() - restartedAt;
    console.info(`[etcd-registry] etcd down ${Math.round(restartedAt - stoppedAt)} ms; healthy again ${Math.round(recovered)} ms after etcd served again`);
    console.info(`[etcd-registry] events: ${log.events.map((e) => `${e.ms}ms ${e.event}`).join(', ')}`);
    const names = log.events.map((e) => e.event);
    expect(names).toContain('registry_lease_lost');
    expect(names.indexOf('registry_lease_recovered')).toBeGreaterThan(names.indexOf('registry_lease_lost'));

    const after = await leaseOf(`${prefix}/nodes/node-a`);
    expect(after).not.toBe(before);
    expect(await a.devices('alice')).toEqual([device('alice', 'phone', 'node-a', 1000)]);
    expect(await a.devicesOnNode('node-a')).toHaveLength(2);
    expect(await leaseOf(`${prefix}/users/bob/phone`)).toBe(after);
    // The registration refused while etcd was down left nothing behind.
    expect(await a.devices('carol')).toEqual([]);
    // etcd renews leases when it restarts; the old one then expires unattended and must take nothing with it.
    await sleep((TTL_S + 2) * 1000);
    expect(await a.devicesOnNode('node-a')).toHaveLength(2);
    expect(await a.healthy()).toBe(true);

    // A late unregister with the token from before the loss removes the re-registered record.
    await a.unregister('alice', 'phone', phone);
    expect(await a.devices('alice')).toEqual([]);
    expect((await a.devicesOnNode('node-a')).map((d) => d.userId)).toEqual(['bob']);
  }, 60_000);

  it('carries out an unregister that failed while etcd was briefly away, once it answers', async () => {
    // A TTL the outage stays well within: the lease survives and so would the stale record.
    const a = registry('node-a', { leaseTtlSeconds: 6 });
    await a.start();
    const phone = await a.register(device('alice', 'phone', 'node-a', 1000));
    const before = await leaseOf(`${prefix}/nodes/node-a`);
    const outage = await etcdDown();
    try {
      const started = performance.now();
      await expect(a.unregister('alice', 'phone', phone)).rejects.toThrow(/etcd registry unregister failed/);
      expect(performance.now() - started).toBeLessThan(FAST_MS);
    } finally {
      await outage.end();
    }
    await until(async () => (await a.devices('alice')).length === 0, 10_000);
    expect(await leaseOf(`${prefix}/nodes/node-a`)).toBe(before);
    // Healthy again once the routing view follows etcd too, which it retries at least every second.
    await until(() => a.healthy(), 3000);
  }, 30_000);
});

describe('EtcdRegistry device lookups batched into txns', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('answers the lookups made in one turn with one txn, as lone reads answer them', async () => {
    const log = recordingLog();
    const [a, b] = [registry('node-a'), registry('node-b', { log })];
    await a.start();
    await b.start();
    await a.register(device('alice', 'phone', 'node-a', 1000));
    await b.register(device('alice', 'tablet', 'node-b', 2000));
    await a.register(device('bob', 'phone', 'node-a', 3000));
    const dave = ['laptop', 'phone', 'tablet', 'watch'].map((id, i) => device('dave', id, i % 2 === 0 ? 'node-a' : 'node-b', 4000 + i));
    for (const record of dave) await (record.node === 'node-a' ? a : b).register(record);
    // Skipped with a warning, by a lone read and a batched one alike.
    const bad = `${prefix}/users/erin/phone`;
    await admin.put(bad).value('not json');

    const users = ['alice', 'bob', 'carol', 'dave', 'erin'];
    const expected = [[device('alice', 'phone', 'node-a', 1000), device('alice', 'tablet', 'node-b', 2000)], [device('bob', 'phone', 'node-a', 3000)], [], dave, []];
    const alone: DeviceRecord[][] = [];
    for (const user of users) alone.push(await b.devices(user));
    expect(alone.map(sortedDevices)).toEqual(expected);
    expect(badEntries(log, bad)).toBe(1);

    const calls = kvCalls();
    const asked = [...users, 'alice', 'dave', 'carol', 'alice', 'bob'];
    const together = await Promise.all(asked.map((user) => b.devices(user)));
    expect(together).toEqual(asked.map((user) => alone[users.indexOf(user)]));
    // One range per distinct user, all in one txn.
    expect(calls.ranges()).toBe(0);
    expect(calls.rangeTxns()).toEqual([users.map((user) => `${prefix}/users/${user}/`)]);
    expect(badEntries(log, bad)).toBe(2);
    // The other node reads the same, batched as well.
    expect(await Promise.all(users.map((user) => a.devices(user)))).toEqual(alone);
    expect(calls.rangeTxns()).toHaveLength(2);
  });

  it('splits the lookups of one turn beyond the txn cap into several txns, all answered', async () => {
    const a = registry('node-a');
    await a.start();
    const count = 2 * MAX_TXN_OPS + 50;
    for (let from = 0; from < count; from += 100) {
      const puts = Array.from({ length: Math.min(100, count - from) }, (_, i) =>
        admin.put(`${prefix}/users/user-${from + i}/phone`).value(JSON.stringify({ node: 'node-x', grpc: grpcOf('node-x'), connected_at: from + i })),
      );
      await admin.if(`${prefix}/nodes/node-a`, 'Version', '>', 0).then(...puts).commit();
    }
    const asked = [...Array.from({ length: count }, (_, i) => `user-${i}`), 'nobody', 'user-7', 'nobody'];
    const calls = kvCalls();
    const found = await Promise.all(asked.map((user) => a.devices(user)));
    expect(found).toEqual(asked.map((user) => (user === 'nobody' ? [] : [device(user, 'phone', 'node-x', Number(user.slice('user-'.length)))])));
    expect(calls.ranges()).toBe(0);
    expect(calls.rangeTxns().map((ranges) => ranges.length)).toEqual([MAX_TXN_OPS, MAX_TXN_OPS, 51]);
  });

  it('reads every device of a user with more than a page of them, beside batched lookups', async () => {
    const a = registry('node-a');
    await a.start();
    await a.register(device('alice', 'phone', 'node-a', 1000));
    const value = JSON.stringify({ node: 'node-x', grpc: grpcOf('node-x'), connected_at: 1 });
    for (let batch = 0; batch < 12; batch++) {
      const puts = Array.from({ length: 100 }, (_, i) => admin.put(`${prefix}/users/crowd/device-${batch * 100 + i}`).value(value));
      await admin.if(`${prefix}/nodes/node-a`, 'Version', '>', 0).then(...puts).commit();
    }
    const calls = kvCalls();
    const [crowd, alice] = await Promise.all([a.devices('crowd'), a.devices('alice')]);
    expect(new Set(crowd.map((d) => d.deviceId)).size).toBe(1200);
    expect(alice).toEqual([device('alice', 'phone', 'node-a', 1000)]);
    // The txn's first page said there was more: the crowd alone is read again, in pages.
    expect(calls.rangeTxns()).toHaveLength(1);
    expect(calls.ranges()).toBe(2);
  });

  it('sees a device registered on another node just before, in a lookup batched with others', async () => {
    const [a, b] = [registry('node-a'), registry('node-b')];
    await a.start();
    await b.start();
    await a.register(device('bob', 'phone', 'node-a', 1));
    const calls = kvCalls();
    for (let i = 0; i < 20; i++) {
      const [writer, reader, node] = i % 2 === 0 ? [a, b, 'node-a'] : [b, a, 'node-b'];
      const record = device('alice', `device-${i}`, node, i);
      // The lookups start in the turn the register's promise resolves in, and share one txn.
      const [bob, alice, carol] = await writer.register(record).then(() => Promise.all([reader.devices('bob'), reader.devices('alice'), reader.devices('carol')]));
      expect(alice).toContainEqual(record);
      expect(alice).toHaveLength(i + 1);
      expect(bob).toEqual([device('bob', 'phone', 'node-a', 1)]);
      expect(carol).toEqual([]);
    }
    expect(calls.rangeTxns().map((ranges) => ranges.length)).toEqual(Array(20).fill(3));
  });

  it('rejects every lookup of a batch promptly while etcd is down, as a lone read fails', async () => {
    const a = registry('node-a', { leaseTtlSeconds: 6 });
    await a.start();
    await a.register(device('alice', 'phone', 'node-a', 1000));
    const calls = kvCalls();
    const outage = await etcdDown();
    try {
      let started = performance.now();
      const lone = await a.devices('alice').catch((err: unknown) => err);
      expect(performance.now() - started).toBeLessThan(FAST_MS);
      expect(lone).toBeInstanceOf(RegistryUnavailableError);
      expect((lone as Error).message).toMatch(/^etcd registry read failed: /);

      const asked = [...Array.from({ length: MAX_TXN_OPS + 20 }, (_, i) => `user-${i}`), 'alice', 'alice'];
      started = performance.now();
      const results = await Promise.allSettled(asked.map((user) => a.devices(user)));
      expect(performance.now() - started).toBeLessThan(FAST_MS);
      for (const result of results) {
        expect(result.status).toBe('rejected');
        const reason = (result as PromiseRejectedResult).reason as Error;
        expect(reason).toBeInstanceOf(RegistryUnavailableError);
        expect(reason.name).toBe((lone as Error).name);
        expect(reason.message).toMatch(/^etcd registry read failed: /);
      }
      expect(calls.ranges()).toBe(0);
    } finally {
      await outage.end();
    }
    await until(async () => (await a.devices('alice')).length === 1, 10_000);
  }, 30_000);
});

describe('EtcdRegistry routes from a watch-fed view', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('routes a device registered on another node within the watch latency, until it is unregistered, its node closes or its lease expires', async () => {
    const [a, b] = [registry('node-a'), registry('node-b')];
    await a.start();
    await b.start();
    const registeredAt = performance.now();
    const phone = await a.register(device('alice', 'phone', 'node-a', 1000));
    // The registering node's own write is in its view once register returns.
    expect(a.routes('alice').map(plainRecord)).toEqual([device('alice', 'phone', 'node-a', 1000)]);
    await routedWithin(b, 'alice', [device('alice', 'phone', 'node-a', 1000)]);
    console.info(`[etcd-registry] another node routes a new device ${Math.round(performance.now() - registeredAt)} ms after register began`);
    // Each route carries the mod revision of its key.
    const kv = (await admin.get(`${prefix}/users/alice/phone`).exec()).kvs[0]!;
    expect(b.routes('alice')[0]!.revision).toBe(Number(kv.mod_revision));

    await a.unregister('alice', 'phone', phone);
    expect(a.routes('alice')).toEqual([]);
    await routedWithin(b, 'alice', []);

    await a.register(device('alice', 'tablet', 'node-a', 2000));
    await routedWithin(b, 'alice', [device('alice', 'tablet', 'node-a', 2000)]);
    // A clean close revokes the lease: its devices leave every view.
    await a.close();
    await routedWithin(b, 'alice', []);

    const crashed = await crashedNode('node-c');
    try {
      await until(async () => b.routes('alice').some((d) => d.node === 'node-c'), ROUTES_LAG_MS);
      crashed.kill('SIGKILL');
      const killedAt = performance.now();
      await until(async () => b.routes('alice').length === 0, (TTL_S + 3) * 1000);
      expect(performance.now() - killedAt).toBeLessThan((TTL_S + 2) * 1000);
    } finally {
      crashed.kill('SIGKILL');
    }
    expect(b.routesLive()).toBe(true);
  });

  it('reads a view of more than one page whole, every page at one revision', async () => {
    const a = registry('node-a');
    await a.start();
    await putDevices(2500, 'node-x');
    const calls = kvCalls();
    const c = registry('node-c', { pageSize: 100 });
    await c.start();
    const pages = calls.rangeRequests().filter((request) => request.key?.toString().startsWith(`${prefix}/users/`));
    expect(pages).toHaveLength(25);
    expect(pages.every((request) => request.limit === 100)).toBe(true);
    // The first page is read at the store's revision; the others at the first one's.
    expect(pages[0]!.revision).toBeUndefined();
    expect(new Set(pages.slice(1).map((request) => request.revision)).size).toBe(1);
    expect(c.routesLive()).toBe(true);
    expect(c.routes('user-0').map(plainRecord)).toEqual([device('user-0', 'phone', 'node-x', 0)]);
    expect(c.routes('user-2499').map(plainRecord)).toEqual([device('user-2499', 'phone', 'node-x', 2499)]);
    expect(await c.devicesOnNode('node-x')).toHaveLength(2500);
    await expectViewOfEtcd(c, usersUpTo(2500));
  });

  it('drops every device of a node whose lease goes, one revision larger than a gRPC reply may be', async () => {
    const [a, b] = [registry('node-a'), registry('node-b')];
    await a.start();
    await b.start();
    // 20,000 devices with long ids under one lease: their deletion is one revision of about 5 MB of events.
    const lease = admin.lease(60);
    const id = await lease.grant();
    const value = JSON.stringify({ node: 'node-x', grpc: grpcOf('node-x'), connected_at: 1 });
    const count = 20_000;
    for (let from = 0; from < count; from += 100) {
      const puts = Array.from({ length: 100 }, (_, i) => admin.put(`${prefix}/users/user-${from + i}/${'d'.repeat(200)}`).value(value).lease(id));
      await admin.if(`${prefix}/nodes/node-a`, 'Version', '>', 0).then(...puts).commit();
    }
    // devicesOnNode answers from the view only while it follows etcd.
    const onX = async (): Promise<number> => (b.routesLive() ? (await b.devicesOnNode('node-x')).length : -1);
    await until(async () => (await onX()) === count, 10_000);
    await lease.revoke();
    await until(async () => (await onX()) === 0, 10_000);
    expect(b.routes('user-0')).toEqual([]);
    expect(b.routesLive()).toBe(true);
    // Still following: nothing broke the watch.
    await a.register(device('alice', 'phone', 'node-a', 1000));
    await routedWithin(b, 'alice', [device('alice', 'phone', 'node-a', 1000)]);
  }, 60_000);

  it('routes from the last known view while etcd is away, and follows it again after etcd restarts', async () => {
    // A TTL the restart stays within: the leases and their devices outlive it.
    const [a, b] = [registry('node-a', { leaseTtlSeconds: 10 }), registry('node-b', { leaseTtlSeconds: 10 })];
    await a.start();
    await b.start();
    await a.register(device('alice', 'phone', 'node-a', 1000));
    const bob = await b.register(device('bob', 'phone', 'node-b', 2000));
    await routedWithin(b, 'alice', [device('alice', 'phone', 'node-a', 1000)]);

    const outage = await etcdDown();
    try {
      await until(async () => !b.routesLive(), 5000);
      expect(b.routes('alice').map(plainRecord)).toEqual([device('alice', 'phone', 'node-a', 1000)]);
      expect(a.routes('bob').map(plainRecord)).toEqual([device('bob', 'phone', 'node-b', 2000)]);
      expect(await b.healthy()).toBe(false);
    } finally {
      await outage.end();
    }
    await until(async () => a.routesLive() && b.routesLive() && (await a.healthy()) && (await b.healthy()), 15_000);
    await a.register(device('carol', 'phone', 'node-a', 3000));
    await routedWithin(b, 'carol', [device('carol', 'phone', 'node-a', 3000)]);
    await b.unregister('bob', 'phone', bob);
    await routedWithin(a, 'bob', []);
    for (const r of [a, b]) await expectViewOfEtcd(r, ['alice', 'bob', 'carol']);
  }, 60_000);

  /**
   * Node A on etcd, node B through `gate`; both see alice's tablet and bob's
   * phone, then B is cut off and A makes the changes of changeWhileAway.
   */
  const changedWhileCutOff = async (gate: Awaited<ReturnType<typeof tcpGate>>) => {
    const log = recordingLog();
    const a = registry('node-a');
    const b = registry('node-b', { endpoints: [gate.endpoint], leaseTtlSeconds: 10, log });
    await a.start();
    await b.start();
    const tablet = await a.register(device('alice', 'tablet', 'node-a', 1000));
    await a.register(device('bob', 'phone', 'node-a', 2000));
    await routedWithin(b, 'bob', [device('bob', 'phone', 'node-a', 2000)]);
    gate.cut();
    await until(async () => !b.routesLive(), 5000);
    return { a, b, log, users: await changeWhileAway(a, tablet) };
  };

  it('resumes after a partition from the revision it had applied, with every change made meanwhile', async () => {
    const gate = await tcpGate(etcd.endpoints[0]!);
    try {
      const { b, log, users } = await changedWhileCutOff(gate);
      expect(b.routes('carol')).toEqual([]);
      gate.restore();

      await until(async () => b.routesLive() && (await b.healthy()), 15_000);
      await expectViewOfEtcd(b, users);
      const events = log.events.map((e) => e.event);
      expect(events.filter((e) => e === 'registry_view_read')).toHaveLength(1);
      expect(log.events.find((e) => e.event === 'registry_view_resumed')?.fields).toMatchObject({ reread: false });
    } finally {
      await gate.close();
    }
  }, 60_000);

  it('reads the view again when etcd compacted past it while it was away, and replaces it whole', async () => {
    const gate = await tcpGate(etcd.endpoints[0]!);
    try {
      const { a, b, log, users } = await changedWhileCutOff(gate);
      const { header } = await admin.kv.range({ key: Buffer.from(`${prefix}/`), limit: 1 });
      await admin.kv.compact({ revision: header.revision, physical: true });
      gate.restore();

      // The first watch after the cut may start before etcd answers it with the compaction: the view then
      // resumes once without a re-read, learns of the compaction, and reads again.
      const rereadResume = (): boolean => log.events.some((e) => e.event === 'registry_view_resumed' && e.fields?.reread === true);
      await until(async () => rereadResume() && b.routesLive() && (await b.healthy()), 15_000);
      await expectViewOfEtcd(b, users);
      expect(log.events.filter((e) => e.event === 'registry_view_read')).toHaveLength(2);
      expect(log.events.findLast((e) => e.event === 'registry_view_resumed')?.fields).toMatchObject({ reread: true });
      // And it follows etcd from there.
      await a.register(device('erin', 'phone', 'node-a', 9000));
      await routedWithin(b, 'erin', [device('erin', 'phone', 'node-a', 9000)]);
    } finally {
      await gate.close();
    }
  }, 60_000);
});

/**
 * While node B is cut off: a new device, a removed one, one moved to another
 * node, one added and removed again, and a user with many devices in one txn.
 * Returns every user touched.
 */
async function changeWhileAway(a: EtcdRegistry, aliceTablet: string): Promise<string[]> {
  await a.register(device('carol', 'phone', 'node-a', 3000));
  await a.unregister('alice', 'tablet', aliceTablet);
  await admin.put(`${prefix}/users/bob/phone`).value(JSON.stringify({ node: 'node-z', grpc: grpcOf('node-z'), connected_at: 4000 }));
  const dave = await a.register(device('dave', 'phone', 'node-a', 5000));
  await a.unregister('dave', 'phone', dave);
  const value = JSON.stringify({ node: 'node-x', grpc: grpcOf('node-x'), connected_at: 6000 });
  await admin.if(`${prefix}/nodes/node-a`, 'Version', '>', 0).then(...Array.from({ length: 50 }, (_, i) => admin.put(`${prefix}/users/crowd/device-${i}`).value(value))).commit();
  return ['alice', 'bob', 'carol', 'dave', 'crowd'];
}

/** Puts `count` devices (user-<i>/phone on `node`, connected_at i) straight into etcd, 100 per txn. */
async function putDevices(count: number, node: string): Promise<void> {
  for (let from = 0; from < count; from += 100) {
    const puts = Array.from({ length: Math.min(100, count - from) }, (_, i) =>
      admin.put(`${prefix}/users/user-${from + i}/phone`).value(JSON.stringify({ node, grpc: grpcOf(node), connected_at: from + i })),
    );
    await admin.if(`${prefix}/nodes/node-a`, 'Version', '>', 0).then(...puts).commit();
  }
}

function usersUpTo(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `user-${i}`);
}

/**
 * Waits until `registry` routes every user as a fresh range read of etcd finds
 * them (each device with its key's mod revision), then asserts it: for
 * `users` and every user etcd has.
 */
async function expectViewOfEtcd(registry: Registry, users: string[]): Promise<void> {
  const fresh = new Map<string, DeviceRoute[]>();
  for (const kv of (await admin.getAll().prefix(`${prefix}/users/`).exec()).kvs) {
    const [userId, deviceId] = kv.key.toString().slice(`${prefix}/users/`.length).split('/') as [string, string];
    const value = JSON.parse(kv.value.toString()) as { node: string; grpc: string; connected_at: number };
    const route = { userId, deviceId, node: value.node, grpc: value.grpc, connectedAt: value.connected_at, revision: Number(kv.mod_revision) };
    fresh.set(userId, [...(fresh.get(userId) ?? []), route]);
  }
  const everyone = [...new Set([...users, ...fresh.keys()])];
  const view = (): Array<[string, DeviceRoute[]]> => everyone.map((user) => [user, sortedDevices([...registry.routes(user)])]);
  const expected = everyone.map((user): [string, DeviceRoute[]] => [user, sortedDevices(fresh.get(user) ?? [])]);
  await until(async () => JSON.stringify(view()) === JSON.stringify(expected), ROUTES_LAG_MS).catch(() => {});
  expect(view()).toEqual(expected);
}

/**
 * A TCP relay to etcd for one node: cut() drops its connections and refuses
 * new ones (a network partition of that node alone), restore() lets it in again.
 */
async function tcpGate(target: string): Promise<{ endpoint: string; cut(): void; restore(): void; close(): Promise<void> }> {
  const { hostname, port } = new URL(target);
  const open = new Set<Socket>();
  let closed = false;
  const server = createServer((client) => {
    if (closed) return void client.destroy();
    const upstream = createConnection({ host: hostname, port: Number(port) });
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    for (const socket of [client, upstream]) {
      open.add(socket);
      socket.on('error', drop).on('close', drop);
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const cut = (): void => {
    closed = true;
    for (const socket of open) socket.destroy();
    open.clear();
  };
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    cut,
    restore() {
      closed = false;
    },
    close: () =>
      new Promise<void>((resolve) => {
        cut();
        server.close(() => resolve());
      }),
  };
}

/** Counts the KV calls made from here on, by every client in this process. */
function kvCalls(): { ranges(): number; rangeRequests(): IRangeRequest[]; rangeTxns(): string[][] } {
  const range = vi.spyOn(KVClient.prototype, 'range');
  const txn = vi.spyOn(KVClient.prototype, 'txn');
  return {
    ranges: () => range.mock.calls.length,
    rangeRequests: () => range.mock.calls.map(([request]) => request),
    // The key of each range, per txn made only of ranges.
    rangeTxns: () =>
      txn.mock.calls
        .map(([request]: [ITxnRequest, ...unknown[]]) => request.success ?? [])
        .filter((ops) => ops.length > 0 && ops.every((op) => op.request_range !== undefined))
        .map((ops) => ops.map((op) => op.request_range!.key!.toString())),
  };
}

function badEntries(log: ReturnType<typeof recordingLog>, key: string): number {
  return log.events.filter((e) => e.event === 'registry_bad_entry' && e.fields?.key === key).length;
}

/** Stops the etcd container (SIGKILL, data kept); end() starts it again and waits until it serves. */
async function etcdDown(): Promise<{ end(): Promise<void> }> {
  const runtime = await getContainerRuntimeClient();
  const container = runtime.container.getById(etcd.container.getId());
  await runtime.container.stop(container, { timeout: 0 });
  return {
    async end() {
      await runtime.container.start(container);
      await until(async () => {
        const response = await fetch(`${etcd.endpoints[0]}/health`, { signal: AbortSignal.timeout(1000) });
        return response.ok;
      }, 30_000);
    },
  };
}

/** A logger that keeps the events, with their time since it was made. */
function recordingLog(): Logger & { events: Array<{ event: string; ms: number; fields?: Record<string, unknown> }> } {
  const t0 = performance.now();
  const events: Array<{ event: string; ms: number; fields?: Record<string, unknown> }> = [];
  const record = (event: string, fields?: Record<string, unknown>): void => {
    events.push({ event, ms: Math.round(performance.now() - t0), fields });
  };
  return { events, debug: record, info: record, warn: record, error: record };
}

async function keys(): Promise<string[]> {
  return admin.getAll().prefix(`${prefix}/`).keys();
}

async function leaseOf(key: string): Promise<string> {
  const kv = (await admin.get(key).exec()).kvs[0];
  if (kv === undefined) throw new Error(`${key} is missing`);
  return kv.lease;
}

function sortedDevices<T extends { deviceId: string }>(records: T[]): T[] {
  return [...records].sort((x, y) => x.deviceId.localeCompare(y.deviceId));
}

/** A node in its own process that registers alice/phone and then can be killed without any goodbye. */
async function crashedNode(nodeId: string): Promise<ReturnType<typeof spawn>> {
  const script = `
    const { EtcdRegistry } = await import(process.env.REGISTRY_MODULE);
    const options = JSON.parse(process.env.REGISTRY_OPTIONS);
    const registry = new EtcdRegistry(options);
    await registry.start();
    await registry.register({ userId: 'alice', deviceId: 'phone', node: options.nodeId, grpc: options.grpcAddress, connectedAt: Date.now() });
    process.stdout.write('ready\\n');
    setInterval(() => {}, 60_000);
  `;
  const options = { endpoints: etcd.endpoints, prefix, nodeId, grpcAddress: grpcOf(nodeId), leaseTtlSeconds: TTL_S };
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, REGISTRY_MODULE: new URL('../../src/registry/etcd-registry.ts', import.meta.url).href, REGISTRY_OPTIONS: JSON.stringify(options) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the crashing node did not start')), 15_000);
      child.stdout!.on('data', (data: Buffer) => {
        if (data.toString().includes('ready')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`the crashing node exited early (${code})`));
      });
    });
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return child;
}

async function until(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(100);
  }
}
