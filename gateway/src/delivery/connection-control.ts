/** Connection status and forced closes for one user, as the gRPC API and the operator's drain need them. */
import type { Hub } from '../connections/hub.ts';
import type { DeviceRecord, Registry } from '../registry/registry.ts';
import { encodeError } from '../protocol/encode.ts';
import { CloseCode, ErrorCode } from '../protocol/errors.ts';

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

  /**
   * Closes the user's sockets on this node (all devices when deviceId is
   * empty). The client gets a CONNECTION_CLOSED error naming the reason, then
   * close code 4011 with the same reason. Returns how many were closed.
   */
  closeLocal(userId: string, deviceId: string, reason: string): number {
    const text = reason === '' ? 'closed by server' : reason;
    const frame = encodeError(ErrorCode.CONNECTION_CLOSED, { message: text }, Date.now());
    let closed = 0;
    for (const socket of [...this.hub.devices(userId)]) {
      if (deviceId !== '' && socket.deviceId !== deviceId) continue;
      if (socket.closingByServer) continue;
      socket.closeWith(CloseCode.CLOSED_BY_SERVER, text, frame);
      closed++;
    }
    return closed;
  }
}
