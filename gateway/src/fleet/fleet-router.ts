/**
 * Live delivery in a fleet: this node's sockets directly, other nodes'
 * through the peer client, which batches what goes to one node. A node that
 * cannot be reached costs nothing but latency: the entry is in its log and
 * the device gets it on its next connect.
 */
import type { LocalDelivery } from '../delivery/local-delivery.ts';
import type { RetryQueue } from '../delivery/retry-queue.ts';
import type { Router } from '../delivery/router.ts';
import { errorText, type Logger } from '../observability/logger.ts';
import type { Registry } from '../registry/registry.ts';
import type { LogEntry } from '../store/store.ts';
import type { ForwardedDelivery, PeerClient } from './peer-client.ts';

export interface FleetParts {
  registry: Registry;
  peers: PeerClient;
  nodeId: string;
  /** Where forwarding goes when the registry cannot be read, to run again once it can. */
  retries: RetryQueue;
  log: Logger;
}

export class FleetRouter implements Router {
  private readonly local: LocalDelivery;
  private readonly fleet: FleetParts;

  constructor(local: LocalDelivery, fleet: FleetParts) {
    this.local = local;
    this.fleet = fleet;
  }

  /**
   * Rejects when the registry cannot be read; the forwarding is then queued
   * and runs again once it can, so online recipients elsewhere still get it live.
   */
  async toUser(userId: string, logId: string, entry: LogEntry, text: string, exceptDevice?: string): Promise<number> {
    const delivered = this.local.toUser(userId, logId, entry, text, exceptDevice);
    let remote = 0;
    await this.fleet.retries.attempt(`forward ${logId}#${entry.pos} to ${userId}`, async () => {
      remote = await this.toOtherNodes(userId, logId, entry, text, exceptDevice);
    });
    return delivered + remote;
  }

  private async toOtherNodes(userId: string, logId: string, entry: LogEntry, text: string, exceptDevice?: string): Promise<number> {
    const { registry, peers, nodeId, log } = this.fleet;
    const addresses = new Set<string>();
    for (const device of await registry.devices(userId)) {
      if (device.node !== nodeId && device.deviceId !== exceptDevice) addresses.add(device.grpc);
    }
    if (addresses.size === 0) return 0;
    const delivery = forwarded(userId, logId, entry, text, exceptDevice);
    const results = await Promise.allSettled([...addresses].map((address) => peers.forward(address, delivery)));
    let delivered = 0;
    for (const result of results) {
      // An unreachable node's devices get the entry from its log when they reconnect elsewhere.
      if (result.status === 'fulfilled') delivered += result.value;
      else log.warn('forward_failed', { user_id: userId, log: logId, pos: entry.pos, error: errorText(result.reason) });
    }
    return delivered;
  }
}

/** The delivery as the peer service carries it: the frame as the bytes sockets get, not encoded again. */
function forwarded(userId: string, logId: string, entry: LogEntry, text: string, exceptDevice?: string): ForwardedDelivery {
  return {
    user_id: userId,
    entry: {
      log_id: logId,
      pos: entry.pos,
      stored_at: entry.storedAt,
      sender_device: entry.senderDevice ?? '',
      target_device: entry.targetDevice ?? '',
      frame: Buffer.from(text),
    },
    except_device: exceptDevice ?? '',
  };
}
