/** The table of this node's authenticated sockets: user -> devices. */
import type { ClientSocket } from './client-socket.ts';

export class Hub {
  // Most users have one or two devices: a small array beats a nested Map.
  private readonly users = new Map<string, ClientSocket[]>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  get userCount(): number {
    return this.users.size;
  }

  /** Adds a socket; returns the socket it replaces (same user and device), if any. */
  add(socket: ClientSocket): ClientSocket | undefined {
    const devices = this.users.get(socket.userId);
    if (devices === undefined) {
      this.users.set(socket.userId, [socket]);
      this.count++;
      return undefined;
    }
    const i = devices.findIndex((s) => s.deviceId === socket.deviceId);
    if (i >= 0) {
      const replaced = devices[i];
      devices[i] = socket;
      return replaced;
    }
    devices.push(socket);
    this.count++;
    return undefined;
  }

  /** Removes the socket if it is still the one registered for its device. */
  remove(socket: ClientSocket): boolean {
    const devices = this.users.get(socket.userId);
    if (devices === undefined) return false;
    const i = devices.indexOf(socket);
    if (i < 0) return false;
    devices.splice(i, 1);
    if (devices.length === 0) this.users.delete(socket.userId);
    this.count--;
    return true;
  }

  devices(userId: string): readonly ClientSocket[] {
    return this.users.get(userId) ?? EMPTY;
  }

  get(userId: string, deviceId: string): ClientSocket | undefined {
    return this.users.get(userId)?.find((s) => s.deviceId === deviceId);
  }

  *all(): IterableIterator<ClientSocket> {
    for (const devices of this.users.values()) yield* devices;
  }
}

const EMPTY: readonly ClientSocket[] = Object.freeze([]);
