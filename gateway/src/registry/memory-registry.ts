/** The single-node registry: device records in a map, tokens from a counter. */
import type { DeviceRecord, NodeRecord, Registry, RegistrationToken } from './registry.ts';

export interface MemoryRegistryNode {
  nodeId: string;
  grpcAddress: string;
}

export class MemoryRegistry implements Registry {
  readonly name = 'memory';
  private readonly users = new Map<string, Map<string, { record: DeviceRecord; token: string }>>();
  private nextToken = 0;
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
    let devices = this.users.get(record.userId);
    if (devices === undefined) {
      devices = new Map();
      this.users.set(record.userId, devices);
    }
    const token = String(++this.nextToken);
    devices.set(record.deviceId, { record, token });
    return token;
  }

  async unregister(userId: string, deviceId: string, token: RegistrationToken): Promise<void> {
    const devices = this.users.get(userId);
    if (devices?.get(deviceId)?.token !== token) return;
    devices.delete(deviceId);
    if (devices.size === 0) this.users.delete(userId);
  }

  async devices(userId: string): Promise<DeviceRecord[]> {
    const devices = this.users.get(userId);
    return devices === undefined ? [] : [...devices.values()].map((d) => d.record);
  }

  async nodes(): Promise<NodeRecord[]> {
    if (this.node === undefined || this.startedAt === undefined) return [];
    return [{ node: this.node.nodeId, grpc: this.node.grpcAddress, startedAt: this.startedAt }];
  }

  async devicesOnNode(nodeId: string): Promise<DeviceRecord[]> {
    const found: DeviceRecord[] = [];
    for (const devices of this.users.values()) {
      for (const { record } of devices.values()) if (record.node === nodeId) found.push(record);
    }
    return found;
  }

  async close(): Promise<void> {
    this.startedAt = undefined;
  }
}
