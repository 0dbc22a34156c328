/**
 * Connection status and forced closes for one user. This class serves a node
 * alone, where every socket is in its hub; `fleet/fleet-connection-control.ts`
 * extends it to the other nodes of a fleet.
 */
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

export class ConnectionControl {
  private readonly hub: Hub;
  private readonly registry: Registry;

  constructor(hub: Hub, registry: Registry) {
    this.hub = hub;
    this.registry = registry;
  }

  /** The user's connected devices (one, when deviceId is given) across the registry. */
  async status(userId: string, deviceId: string): Promise<DeviceRecord[]> {
    const devices = await this.registry.devices(userId);
    return deviceId === '' ? devices : devices.filter((d) => d.deviceId === deviceId);
  }

  /** Closes the user's sockets (all devices when deviceId is empty) wherever they are; returns how many. */
  async close(userId: string, deviceId: string, reason: string, code: number = CloseCode.CLOSED_BY_SERVER): Promise<number> {
    return this.closeLocal(userId, deviceId, reason, code);
  }

  /**
   * Closes the same device's socket on another node: a newer connection
   * replaced it. Alone, the hub replaced it already.
   */
  async replaceElsewhere(_record: DeviceRecord): Promise<void> {}

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
      if (socket.closing) continue;
      socket.closeWith(code, text, frame);
      closed++;
    }
    return closed;
  }
}
