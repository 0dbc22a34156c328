/** The single-node registry: device records in a map, tokens from a counter. */
import type { DeviceRecord, Registry, RegistrationToken } from './registry.ts';

export class MemoryRegistry implements Registry {
  readonly name = 'memory';
  private readonly users = new Map<string, Map<string, { record: DeviceRecord; token: string }>>();
  private nextToken = 0;

  async start(): Promise<void> {}

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

  async close(): Promise<void> {}
}
