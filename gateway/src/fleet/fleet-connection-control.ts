/** Connection control across the fleet: closes reach the other nodes through their peer service. */
import type { Hub } from '../connections/hub.ts';
import { ConnectionControl } from '../delivery/connection-control.ts';
import { CloseCode } from '../protocol/errors.ts';
import type { DeviceRecord, Registry } from '../registry/registry.ts';
import type { PeerClient } from './peer-client.ts';

export class FleetConnectionControl extends ConnectionControl {
  private readonly peers: PeerClient;
  private readonly nodeId: string;

  constructor(hub: Hub, registry: Registry, peers: PeerClient, nodeId: string) {
    super(hub, registry);
    this.peers = peers;
    this.nodeId = nodeId;
  }

  override async close(userId: string, deviceId: string, reason: string, code: number = CloseCode.CLOSED_BY_SERVER): Promise<number> {
    let closed = this.closeLocal(userId, deviceId, reason, code);
    const remote = (await this.status(userId, deviceId)).filter((d) => d.node !== this.nodeId);
    const counts = await Promise.all(
      [...new Set(remote.map((d) => d.grpc))].map((address) =>
        this.peers.closeLocal(address, { user_id: userId, device_id: deviceId, reason, close_code: code }),
      ),
    );
    for (const count of counts) closed += count;
    return closed;
  }

  override async replaceElsewhere(record: DeviceRecord): Promise<void> {
    if (record.node === this.nodeId) return;
    await this.peers.closeLocal(record.grpc, {
      user_id: record.userId,
      device_id: record.deviceId,
      reason: 'replaced by a newer connection of the same device',
      close_code: CloseCode.REPLACED,
    });
  }
}
