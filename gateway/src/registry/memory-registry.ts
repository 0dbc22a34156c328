/**
 * The single-node registry: each user's devices in one array, replaced on
 * every change so routes() can hand it out. A registration's revision comes
 * from a counter and is its token too.
 */
import { plainRecord } from './registry.ts';
import type { DeviceRecord, DeviceRoute, NodeRecord, Registry, RegistrationToken } from './registry.ts';

export interface MemoryRegistryNode {
  nodeId: string;
  grpcAddress: string;
}

const NO_ROUTES: readonly DeviceRoute[] = Object.freeze([]);

export class MemoryRegistry implements Registry {
  readonly name = 'memory';
  private readonly users = new Map<string, readonly DeviceRoute[]>();
  private revision = 0;
  /** This node, as nodes() lists it while started; without it the node lists nothing. */
  private readonly node: MemoryRegistryNode | undefined;
  private startedAt: number | undefined;

  constructor(node?: MemoryRegistryNode) {
    this.node = node;
  }

  async start(): Promise<void> {
    this.startedAt ??= Date.now();
  }

  async healthy(): Promise<boolean> {
    return true;
  }

  async register(record: DeviceRecord): Promise<RegistrationToken> {
    const { userId, deviceId, node, grpc, connectedAt } = record;
    const route: DeviceRoute = { userId, deviceId, node, grpc, connectedAt, revision: ++this.revision };
    const others = (this.users.get(userId) ?? NO_ROUTES).filter((d) => d.deviceId !== deviceId);
    this.users.set(userId, [...others, route]);
    return String(route.revision);
  }

  async unregister(userId: string, deviceId: string, token: RegistrationToken): Promise<void> {
    const devices = this.users.get(userId);
    if (devices === undefined || !devices.some((d) => d.deviceId === deviceId && String(d.revision) === token)) return;
    const others = devices.filter((d) => d.deviceId !== deviceId);
    if (others.length === 0) this.users.delete(userId);
    else this.users.set(userId, others);
  }

  async devices(userId: string): Promise<DeviceRecord[]> {
    return this.routes(userId).map(plainRecord);
  }

  routes(userId: string): readonly DeviceRoute[] {
    return this.users.get(userId) ?? NO_ROUTES;
  }

  routesLive(): boolean {
    return true;
  }

  async nodes(): Promise<NodeRecord[]> {
    if (this.node === undefined || this.startedAt === undefined) return [];
    return [{ node: this.node.nodeId, grpc: this.node.grpcAddress, startedAt: this.startedAt }];
  }

  async devicesOnNode(nodeId: string): Promise<DeviceRecord[]> {
    const found: DeviceRecord[] = [];
    for (const devices of this.users.values()) {
      for (const device of devices) if (device.node === nodeId) found.push(plainRecord(device));
    }
    return found;
  }

  async close(): Promise<void> {
    this.startedAt = undefined;
  }
}
