/**
 * Live delivery to a user wherever the user's devices are: this node's
 * sockets directly, other nodes' through `ForwardEntry`. A node that cannot be
 * reached costs nothing but latency: the entry is in its log and the device
 * gets it on its next connect.
 */
import type { Logger } from '../observability/logger.ts';
import { errorText } from '../observability/logger.ts';
import type { Registry } from '../registry/registry.ts';
import type { LogEntry } from '../store/store.ts';
import type { LocalDelivery } from './local-delivery.ts';
import type { Peers } from './peers.ts';

export class Router {
  private readonly local: LocalDelivery;
  private readonly fleet: { registry: Registry; peers: Peers; nodeId: string } | null;
  private readonly log: Logger;

  /** Without `fleet` (one node on embedded defaults) every device is local. */
  constructor(local: LocalDelivery, fleet: { registry: Registry; peers: Peers; nodeId: string } | null, log: Logger) {
    this.local = local;
    this.fleet = fleet;
    this.log = log;
  }

  /**
   * Delivers to every device of the user that may see the entry, except
   * `exceptDevice`; resolves with how many devices were sent it. Rejects only
   * when the registry cannot be read.
   */
  async toUser(userId: string, logId: string, entry: LogEntry, text: string, exceptDevice?: string): Promise<number> {
    let delivered = this.local.toUser(userId, logId, entry, text, exceptDevice);
    if (this.fleet === null) return delivered;
    const { registry, peers, nodeId } = this.fleet;
    const addresses = new Set<string>();
    for (const device of await registry.devices(userId)) {
      if (device.node !== nodeId && device.deviceId !== exceptDevice) addresses.add(device.grpc);
    }
    if (addresses.size === 0) return delivered;
    const entryJson = JSON.stringify(entry);
    const results = await Promise.allSettled(
      [...addresses].map((address) =>
        peers.forwardEntry(address, { user_id: userId, log_id: logId, entry_json: entryJson, except_device: exceptDevice ?? '' }),
      ),
    );
    for (const result of results) {
      if (result.status === 'fulfilled') delivered += result.value;
      else this.log.warn('forward_failed', { user_id: userId, log: logId, pos: entry.pos, error: errorText(result.reason) });
    }
    return delivered;
  }
}
