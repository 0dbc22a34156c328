/**
 * The behaviour every registry engine shares. An engine's test calls
 * registryContract() with a factory of unstarted registries, one per node;
 * the contract starts them and closes them after each test.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { plainRecord } from '../../src/registry/registry.ts';
import type { DeviceRecord, DeviceRoute, Registry } from '../../src/registry/registry.ts';

export interface ContractNode {
  nodeId: string;
  grpcAddress: string;
}

export interface ContractOptions {
  /**
   * Registries made for different nodes within one test share their records
   * (a fleet, as on etcd). False for an engine that is a single node (memory):
   * the cross-node cases are then left out.
   */
  fleet: boolean;
}

/** How long another node's write may take to reach a node's routes(): the watch latency, with room for a loaded machine. */
export const ROUTES_LAG_MS = 2000;

export function registryContract(name: string, make: (node: ContractNode) => Promise<Registry>, options: ContractOptions): void {
  describe(`${name} registry contract`, () => {
    const made: Registry[] = [];

    afterEach(async () => {
      await Promise.all(made.splice(0).map((registry) => registry.close()));
    });

    async function node(nodeId: string): Promise<Registry> {
      const registry = await make({ nodeId, grpcAddress: grpcOf(nodeId) });
      made.push(registry);
      await registry.start();
      return registry;
    }

    it('is healthy once started and lists the devices registered for a user', async () => {
      const a = await node('node-a');
      expect(await a.healthy()).toBe(true);
      await a.register(device('alice', 'phone', 'node-a', 1000));
      await a.register(device('alice', 'laptop', 'node-a', 2000));
      await a.register(device('bob', 'phone', 'node-a', 3000));
      expect(sorted(await a.devices('alice'))).toEqual([device('alice', 'laptop', 'node-a', 2000), device('alice', 'phone', 'node-a', 1000)]);
      expect(await a.devices('bob')).toEqual([device('bob', 'phone', 'node-a', 3000)]);
      expect(await a.devices('carol')).toEqual([]);
    });

    it('replaces the earlier record of the same device', async () => {
      const a = await node('node-a');
      await a.register(device('alice', 'phone', 'node-a', 1000));
      await a.register(device('alice', 'phone', 'node-a', 2000));
      expect(await a.devices('alice')).toEqual([device('alice', 'phone', 'node-a', 2000)]);
    });

    it('unregisters with the current token; a stale token leaves the newer record', async () => {
      const a = await node('node-a');
      const first = await a.register(device('alice', 'phone', 'node-a', 1000));
      const second = await a.register(device('alice', 'phone', 'node-a', 2000));
      expect(second).not.toBe(first);
      await a.unregister('alice', 'phone', first);
      expect(await a.devices('alice')).toEqual([device('alice', 'phone', 'node-a', 2000)]);
      await a.unregister('alice', 'phone', second);
      expect(await a.devices('alice')).toEqual([]);
      // Twice, or for a device never registered: nothing to do.
      await a.unregister('alice', 'phone', second);
      await a.unregister('nobody', 'phone', first);
    });

    it('lists every device of one node with devicesOnNode', async () => {
      const a = await node('node-a');
      await a.register(device('alice', 'phone', 'node-a', 1000));
      await a.register(device('bob', 'phone', 'node-a', 2000));
      expect(sorted(await a.devicesOnNode('node-a'))).toEqual([device('alice', 'phone', 'node-a', 1000), device('bob', 'phone', 'node-a', 2000)]);
      expect(await a.devicesOnNode('node-z')).toEqual([]);
    });

    it('routes a user’s devices from memory, with this node’s own writes in them as soon as they return', async () => {
      const a = await node('node-a');
      expect(a.routesLive()).toBe(true);
      expect(a.routes('alice')).toEqual([]);
      const phone = await a.register(device('alice', 'phone', 'node-a', 1000));
      await a.register(device('alice', 'laptop', 'node-a', 2000));
      await a.register(device('bob', 'phone', 'node-a', 3000));
      const before = a.routes('alice');
      expect(sorted(before.map(plainRecord))).toEqual([device('alice', 'laptop', 'node-a', 2000), device('alice', 'phone', 'node-a', 1000)]);
      expect(a.routes('bob').map(plainRecord)).toEqual([device('bob', 'phone', 'node-a', 3000)]);
      expect(a.routes('carol')).toEqual([]);

      // A later registration of the device has a higher revision; the array handed out before stays as it was.
      const beforeCopy = [...before];
      const phoneAgain = await a.register(device('alice', 'phone', 'node-a', 4000));
      const after = a.routes('alice');
      expect(before).toEqual(beforeCopy);
      expect(revisionOf(after, 'phone')).toBeGreaterThan(revisionOf(before, 'phone'));
      expect(revisionOf(after, 'laptop')).toBe(revisionOf(before, 'laptop'));

      // A stale token leaves the device routed; the current one removes it.
      await a.unregister('alice', 'phone', phone);
      expect(sorted(a.routes('alice').map(plainRecord))).toEqual([device('alice', 'laptop', 'node-a', 2000), device('alice', 'phone', 'node-a', 4000)]);
      await a.unregister('alice', 'phone', phoneAgain);
      expect(a.routes('alice').map(plainRecord)).toEqual([device('alice', 'laptop', 'node-a', 2000)]);
    });

    it('lists the started node with nodes', async () => {
      const before = Date.now();
      const a = await node('node-a');
      const nodes = await a.nodes();
      expect(nodes).toEqual([{ node: 'node-a', grpc: grpcOf('node-a'), startedAt: expect.any(Number) }]);
      expect(nodes[0]!.startedAt).toBeGreaterThanOrEqual(before - 1000);
      expect(nodes[0]!.startedAt).toBeLessThanOrEqual(Date.now());
    });

    if (!options.fleet) return;

    describe('across nodes', () => {
      it('shares records: each node sees the devices of the others', async () => {
        const [a, b] = [await node('node-a'), await node('node-b')];
        await a.register(device('alice', 'phone', 'node-a', 1000));
        await b.register(device('alice', 'laptop', 'node-b', 2000));
        const expected = [device('alice', 'laptop', 'node-b', 2000), device('alice', 'phone', 'node-a', 1000)];
        expect(sorted(await a.devices('alice'))).toEqual(expected);
        expect(sorted(await b.devices('alice'))).toEqual(expected);
      });

      it('keeps the later node’s record of a device; the earlier node’s late unregister leaves it', async () => {
        const [a, b] = [await node('node-a'), await node('node-b')];
        const onA = await a.register(device('alice', 'phone', 'node-a', 1000));
        const onB = await b.register(device('alice', 'phone', 'node-b', 2000));
        expect(await a.devices('alice')).toEqual([device('alice', 'phone', 'node-b', 2000)]);
        await a.unregister('alice', 'phone', onA);
        expect(await a.devices('alice')).toEqual([device('alice', 'phone', 'node-b', 2000)]);
        await b.unregister('alice', 'phone', onB);
        expect(await a.devices('alice')).toEqual([]);
      });

      it('routes by the other nodes’ writes within the watch latency', async () => {
        const [a, b] = [await node('node-a'), await node('node-b')];
        const onA = await a.register(device('alice', 'phone', 'node-a', 1000));
        await b.register(device('alice', 'laptop', 'node-b', 2000));
        const expected = [device('alice', 'laptop', 'node-b', 2000), device('alice', 'phone', 'node-a', 1000)];
        await routedWithin(a, 'alice', expected);
        await routedWithin(b, 'alice', expected);
        await a.unregister('alice', 'phone', onA);
        await routedWithin(b, 'alice', [device('alice', 'laptop', 'node-b', 2000)]);
        // The device moves to node A: both route it there, the later record.
        await a.register(device('alice', 'laptop', 'node-a', 3000));
        await routedWithin(b, 'alice', [device('alice', 'laptop', 'node-a', 3000)]);
        expect(a.routes('alice').map(plainRecord)).toEqual([device('alice', 'laptop', 'node-a', 3000)]);
      });

      it('tells the nodes apart in devicesOnNode', async () => {
        const [a, b] = [await node('node-a'), await node('node-b')];
        await a.register(device('alice', 'phone', 'node-a', 1000));
        await a.register(device('bob', 'phone', 'node-a', 2000));
        await b.register(device('alice', 'laptop', 'node-b', 3000));
        // Each node's own writes at once; the other's, as routes() has them, within the watch latency.
        expect(await a.devicesOnNode('node-a')).toHaveLength(2);
        await routedWithin(b, 'bob', [device('bob', 'phone', 'node-a', 2000)]);
        await routedWithin(a, 'alice', [device('alice', 'laptop', 'node-b', 3000), device('alice', 'phone', 'node-a', 1000)]);
        expect(sorted(await b.devicesOnNode('node-a'))).toEqual([device('alice', 'phone', 'node-a', 1000), device('bob', 'phone', 'node-a', 2000)]);
        expect(await a.devicesOnNode('node-b')).toEqual([device('alice', 'laptop', 'node-b', 3000)]);
      });

      it('lists every started node; a closed node leaves with its devices', async () => {
        const [a, b] = [await node('node-a'), await node('node-b')];
        await b.register(device('bob', 'phone', 'node-b', 1000));
        expect((await a.nodes()).map((n) => [n.node, n.grpc]).sort()).toEqual([
          ['node-a', grpcOf('node-a')],
          ['node-b', grpcOf('node-b')],
        ]);
        await b.close();
        expect((await a.nodes()).map((n) => n.node)).toEqual(['node-a']);
        expect(await a.devices('bob')).toEqual([]);
      });
    });
  });
}

export function device(userId: string, deviceId: string, node: string, connectedAt: number): DeviceRecord {
  return { userId, deviceId, node, grpc: grpcOf(node), connectedAt };
}

export function grpcOf(nodeId: string): string {
  return `${nodeId}.gateway.test:7001`;
}

/** Waits (polling, at most ROUTES_LAG_MS) until `registry` routes `userId` to exactly `expected`. */
export async function routedWithin(registry: Registry, userId: string, expected: DeviceRecord[]): Promise<void> {
  const deadline = Date.now() + ROUTES_LAG_MS;
  while (Date.now() < deadline && !equalRecords(registry.routes(userId).map(plainRecord), expected)) await sleep(5);
  expect(sorted(registry.routes(userId).map(plainRecord))).toEqual(sorted(expected));
}

function equalRecords(actual: DeviceRecord[], expected: DeviceRecord[]): boolean {
  return JSON.stringify(sorted(actual)) === JSON.stringify(sorted(expected));
}

function revisionOf(routes: readonly DeviceRoute[], deviceId: string): number {
  const route = routes.find((d) => d.deviceId === deviceId);
  if (route === undefined) throw new Error(`no route for ${deviceId}`);
  return route.revision;
}

function sorted(records: DeviceRecord[]): DeviceRecord[] {
  return [...records].sort((x, y) => `${x.userId}/${x.deviceId}`.localeCompare(`${y.userId}/${y.deviceId}`));
}
