/**
 * Live delivery to a user wherever the user's devices are: this node's
 * sockets directly, other nodes' through `ForwardEntry`. A node that cannot be
 * reached costs nothing but latency: the entry is in its log and the device
 * gets it on its next connect.
 */
import type { Logger } from '../observability/logger.ts';
import { errorText } from '../observability/logger.ts';
import type { Registry } from '../registry/registry.ts';
import { entryJson, type LogEntry } from '../store/store.ts';
import type { LocalDelivery } from './local-delivery.ts';
import type { Peers } from './peers.ts';
import type { RetryQueue } from './retry-queue.ts';

export interface Fleet {
  registry: Registry;
  peers: Peers;
  nodeId: string;
  /** Where forwarding goes when the registry cannot be read, to run again once it can. */
  retries: RetryQueue;
}

export class Router {
  private readonly local: LocalDelivery;
  private readonly fleet: Fleet | null;
  private readonly log: Logger;

  /** Without `fleet` (one node on embedded defaults) every device is local. */
  constructor(local: LocalDelivery, fleet: Fleet | null, log: Logger) {
    this.local = local;
    this.fleet = fleet;
    this.log = log;
  }

  /**
   * Delivers to every device of the user that may see the entry, except
   * `exceptDevice`; resolves with how many devices were sent it. Rejects
   * when the registry cannot be read; the forwarding is then queued and
   * runs again once it can, so online recipients elsewhere still get it live.
   */
  async toUser(userId: string, logId: string, entry: LogEntry, text: string, exceptDevice?: string): Promise<number> {
    // The sending device too: nothing is written to it, but its place in the log moves on.
    const delivered = this.local.toUser(userId, logId, entry, text);
    if (this.fleet === null) return delivered;
    let remote = 0;
    await this.fleet.retries.attempt(`forward ${logId}#${entry.pos} to ${userId}`, async () => {
      remote = await this.toOtherNodes(this.fleet!, userId, logId, entry, exceptDevice);
    });
    return delivered + remote;
  }

  private async toOtherNodes(fleet: Fleet, userId: string, logId: string, entry: LogEntry, exceptDevice?: string): Promise<number> {
    const addresses = new Set<string>();
    for (const device of await fleet.registry.devices(userId)) {
      if (device.node !== fleet.nodeId && device.deviceId !== exceptDevice) addresses.add(device.grpc);
    }
    if (addresses.size === 0) return 0;
    const json = entryJson(entry);
    const results = await Promise.allSettled(
      [...addresses].map((address) =>
        fleet.peers.forwardEntry(address, { user_id: userId, log_id: logId, entry_json: json, except_device: exceptDevice ?? '' }),
      ),
    );
    let delivered = 0;
    for (const result of results) {
      // An unreachable node's devices get the entry from its log when they reconnect elsewhere.
      if (result.status === 'fulfilled') delivered += result.value;
      else this.log.warn('forward_failed', { user_id: userId, log: logId, pos: entry.pos, error: errorText(result.reason) });
    }
    return delivered;
  }
}
