/**
 * Live delivery in a fleet: this node's sockets directly, other nodes'
 * through the peer client, which batches what goes to one node. Where a
 * user's devices are comes from the registry's watch-fed view: no etcd read
 * per message, and an etcd outage does not stop delivery. A node that cannot
 * be reached costs nothing but latency: the entry is in its log, and the
 * device gets it with the log's next entry or on its next connect.
 */
import type { LogId } from '../conversation-log/log-id.ts';
import type { LocalDelivery } from '../delivery/local-delivery.ts';
import type { UserDelivery } from '../delivery/user-delivery.ts';
import { errorText, type Logger } from '../observability/logger.ts';
import type { Registry } from '../registry/registry.ts';
import type { LogEntry } from '../conversation-log/entry.ts';
import type { ForwardedDelivery, PeerClient } from './peer-client.ts';
import type { TextFrame } from '../connections/text-frame.ts';

export interface FleetParts {
  registry: Registry;
  peers: PeerClient;
  nodeId: string;
  log: Logger;
}

export class FleetUserDelivery implements UserDelivery {
  private readonly local: LocalDelivery;
  private readonly fleet: FleetParts;

  constructor(local: LocalDelivery, fleet: FleetParts) {
    this.local = local;
    this.fleet = fleet;
  }

  async toUser(userId: string, logId: LogId, entry: LogEntry, text: string | TextFrame): Promise<number> {
    // The sending device too: nothing is written to it, but its place in the log moves on.
    const delivered = this.local.toUser(userId, logId, entry, text);
    const { registry, peers, nodeId, log } = this.fleet;
    let addresses: string[] | undefined;
    for (const device of registry.routes(userId)) {
      if (device.node !== nodeId && !addresses?.includes(device.grpc)) (addresses ??= []).push(device.grpc);
    }
    if (addresses === undefined) return delivered;
    const delivery = forwarded(userId, logId, entry, text);
    const results = await Promise.allSettled(addresses.map((address) => peers.forward(address, delivery)));
    let remote = 0;
    for (const result of results) {
      if (result.status === 'fulfilled') remote += result.value;
      else log.warn('forward_failed', { user_id: userId, log: logId, pos: entry.pos, error: errorText(result.reason) });
    }
    return delivered + remote;
  }
}

/** The delivery as the peer service carries it: the frame as the bytes sockets get, not encoded again. */
function forwarded(userId: string, logId: LogId, entry: LogEntry, text: string | TextFrame): ForwardedDelivery {
  return {
    user_id: userId,
    entry: {
      log_id: logId,
      pos: entry.pos,
      stored_at: entry.storedAt,
      sender_device: entry.senderDevice ?? '',
      target_device: entry.targetDevice ?? '',
      frame: typeof text === 'string' ? Buffer.from(text) : text.json,
    },
  };
}
