/** Connection status and forced closes for one user, across the fleet. */
import type { Hub } from '../connections/hub.ts';
import type { DeviceRecord, Registry } from '../registry/registry.ts';
import { encodeError } from '../protocol/encode.ts';
import { CloseCode, ErrorCode } from '../protocol/errors.ts';

/**
 * The close codes a peer (or the operator) may ask for, as peer_service.proto
 * documents them. Anything else is refused before a socket is touched: `ws`
 * throws on an invalid code after the socket was marked closing, which left
 * a socket that answered nothing and never timed out.
 */
export const PEER_CLOSE_CODES: ReadonlySet<number> = new Set([CloseCode.SERVICE_RESTART, CloseCode.REPLACED, CloseCode.CLOSED_BY_SERVER]);
import type { Peers } from './peers.ts';

export class ConnectionControl {
  private readonly hub: Hub;
  private readonly registry: Registry;
  private readonly fleet: { peers: Peers; nodeId: string } | null;

  constructor(hub: Hub, registry: Registry, fleet: { peers: Peers; nodeId: string } | null) {
    this.hub = hub;
    this.registry = registry;
    this.fleet = fleet;
  }

  /** The user's connected devices (one, when deviceId is given) across the registry. */
  async status(userId: string, deviceId: string): Promise<DeviceRecord[]> {
    const devices = await this.registry.devices(userId);
    return deviceId === '' ? devices : devices.filter((d) => d.deviceId === deviceId);
  }

  /** Closes the user's sockets (all devices when deviceId is empty) on every node; returns how many. */
  async close(userId: string, deviceId: string, reason: string): Promise<number> {
    let closed = this.closeLocal(userId, deviceId, reason, CloseCode.CLOSED_BY_SERVER);
    if (this.fleet === null) return closed;
    const remote = (await this.status(userId, deviceId)).filter((d) => d.node !== this.fleet!.nodeId);
    const counts = await Promise.all(
      [...new Set(remote.map((d) => d.grpc))].map((address) =>
        this.fleet!.peers.closeLocal(address, { user_id: userId, device_id: deviceId, reason, close_code: CloseCode.CLOSED_BY_SERVER }),
      ),
    );
    for (const count of counts) closed += count;
    return closed;
  }

  /** Closes the same device's socket on another node: a newer connection replaced it. */
  async replaceElsewhere(record: DeviceRecord): Promise<void> {
    if (this.fleet === null || record.node === this.fleet.nodeId) return;
    await this.fleet.peers.closeLocal(record.grpc, {
      user_id: record.userId,
      device_id: record.deviceId,
      reason: 'replaced by a newer connection of the same device',
      close_code: CloseCode.REPLACED,
    });
  }

  /**
   * Closes the user's sockets on this node only. With 4011 the client first
   * gets a CONNECTION_CLOSED error naming the reason; the close carries it too.
   */
  closeLocal(userId: string, deviceId: string, reason: string, code: number): number {
    if (!PEER_CLOSE_CODES.has(code)) {
      throw new RangeError(`close_code ${code} is not one of ${[...PEER_CLOSE_CODES].join(', ')}`);
    }
    const text = reason === '' ? 'closed by server' : reason;
    const frame = code === CloseCode.CLOSED_BY_SERVER ? encodeError(ErrorCode.CONNECTION_CLOSED, { message: text }, Date.now()) : undefined;
    let closed = 0;
    for (const socket of [...this.hub.devices(userId)]) {
      if (deviceId !== '' && socket.deviceId !== deviceId) continue;
      if (socket.closingByServer) continue;
      socket.closeWith(code, text, frame);
      closed++;
    }
    return closed;
  }
}
