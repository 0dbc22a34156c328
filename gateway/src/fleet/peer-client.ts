/**
 * gRPC client to the other nodes of the fleet (IMGatewayPeerService): one
 * client per address, a deadline and a bounded retry on every call, and the
 * forwards to one address batched into `ForwardEntries` calls: those of one
 * event-loop turn together, and while a call is under way, all that come in
 * until it returns (MAX_HOLD_MS at most). A call costs about 200 µs of CPU
 * (both sides, loopback), a batched entry under 10 µs: bench/micro/peer-forward.ts.
 */
import * as grpc from '@grpc/grpc-js';
import { loadPeerService } from '../proto/services.ts';
import { MAX_FORWARDED_FRAME_BYTES } from './delivery-check.ts';
import type { CloseLocalRequest } from '../proto/generated/im/gateway/v1/CloseLocalRequest.ts';
import type { CloseLocalResponse__Output } from '../proto/generated/im/gateway/v1/CloseLocalResponse.ts';
import type { Delivery } from '../proto/generated/im/gateway/v1/Delivery.ts';
import type { DeliveryResult__Output } from '../proto/generated/im/gateway/v1/DeliveryResult.ts';
import type { ForwardEntriesResponse__Output } from '../proto/generated/im/gateway/v1/ForwardEntriesResponse.ts';
import type { IMGatewayPeerServiceClient } from '../proto/generated/im/gateway/v1/IMGatewayPeerService.ts';

export interface PeerOptions {
  /** Deadline of one attempt. */
  timeoutMs: number;
  /** Further attempts after the first fails with UNAVAILABLE or DEADLINE_EXCEEDED. */
  retries: number;
  credentials: grpc.ChannelCredentials;
  /** Sent on every call (the fleet secret); see tls/peer-credentials.ts. */
  callCredentials?: grpc.CallCredentials;
  /** Deliveries in one call at most (1: a call per forward, as the benchmark compares). */
  maxBatch?: number;
}

/** A forwarded entry with its frame as bytes: what a batch is measured in. */
export type ForwardedDelivery = Delivery & { entry: { frame: Buffer } };

/**
 * Past this many deliveries a batch leaves at once rather than at the end of
 * the turn (a group's worth of forwards need not wait for the turn to end).
 */
const DEFAULT_MAX_BATCH = 512;
/** Frame bytes of one batch at most: with the largest frame a receiver takes, a call stays under gRPC's 4 MiB default. */
const MAX_BATCH_BYTES = 1 << 20;
/**
 * Longest wait for a call under way before the forwards held for it leave in
 * a call of their own: a peer that stopped answering delays them by this, not
 * by its whole deadline.
 */
const MAX_HOLD_MS = 2;

interface Pending {
  delivery: ForwardedDelivery;
  resolve(delivered: number): void;
  reject(err: Error): void;
}

/** One peer node: its client and the forwards waiting to be sent. */
class Peer {
  readonly client: IMGatewayPeerServiceClient;
  pending: Pending[] = [];
  pendingBytes = 0;
  /** ForwardEntries calls under way. */
  inFlight = 0;
  /** Set while pending forwards wait for a call under way: sends them if it takes too long. */
  holdTimer: NodeJS.Timeout | null = null;

  constructor(client: IMGatewayPeerServiceClient) {
    this.client = client;
  }
}

type Send<Res> = (client: IMGatewayPeerServiceClient, options: grpc.CallOptions, done: grpc.requestCallback<Res>) => void;

export class PeerClient {
  private readonly options: PeerOptions;
  private readonly maxBatch: number;
  private readonly peers = new Map<string, Peer>();
  /** Peers with forwards pending: one setImmediate flushes them all. */
  private waiting: Peer[] = [];
  private readonly flushWaiting = (): void => {
    const peers = this.waiting;
    this.waiting = [];
    for (const peer of peers) this.flush(peer);
  };

  constructor(options: PeerOptions) {
    this.options = options;
    this.maxBatch = options.maxBatch ?? DEFAULT_MAX_BATCH;
  }

  /**
   * Writes a logged entry to the user's sockets on the node at `address`;
   * resolves with how many devices there got it. Rejects when the call
   * failed, or with INVALID_ARGUMENT when the node refused this delivery.
   */
  forward(address: string, delivery: ForwardedDelivery): Promise<number> {
    if (delivery.entry.frame.length > MAX_FORWARDED_FRAME_BYTES) {
      // The peer would refuse it; sent, it could push its whole batch past gRPC's message size.
      return Promise.reject(refused(grpc.status.INVALID_ARGUMENT, `frame exceeds ${MAX_FORWARDED_FRAME_BYTES} bytes`));
    }
    const peer = this.peer(address);
    return new Promise((resolve, reject) => {
      if (peer.pending.push({ delivery, resolve, reject }) === 1 && this.waiting.push(peer) === 1) setImmediate(this.flushWaiting);
      peer.pendingBytes += delivery.entry.frame.length;
      if (peer.pending.length >= this.maxBatch || peer.pendingBytes >= MAX_BATCH_BYTES) this.send(peer);
    });
  }

  /** Closes the user's sockets (one device, or all when empty) on the node at `address`. */
  async closeLocal(address: string, request: CloseLocalRequest): Promise<number> {
    const response = await this.call<CloseLocalResponse__Output>(address, (client, options, done) => client.CloseLocal(request, options, done));
    return response.closed_count;
  }

  close(): void {
    const closed = new Error('peer client closed');
    for (const peer of this.peers.values()) {
      if (peer.holdTimer !== null) clearTimeout(peer.holdTimer);
      for (const pending of peer.pending) pending.reject(closed);
      peer.client.close();
    }
    this.peers.clear();
    this.waiting = [];
  }

  /**
   * At the end of a turn: sends what is pending unless a call to the peer is
   * under way; then it leaves when that call returns or MAX_HOLD_MS passes,
   * with what came in meanwhile. So an idle peer gets each forward at once,
   * and a busy one gets them in batches that grow with the load instead of a
   * call each.
   */
  private flush(peer: Peer): void {
    if (peer.inFlight === 0) this.send(peer);
    else if (peer.holdTimer === null && peer.pending.length > 0) {
      peer.holdTimer = setTimeout(() => this.send(peer), MAX_HOLD_MS);
    }
  }

  private send(peer: Peer): void {
    if (peer.holdTimer !== null) {
      clearTimeout(peer.holdTimer);
      peer.holdTimer = null;
    }
    const batch = peer.pending;
    if (batch.length === 0) return;
    peer.pending = [];
    peer.pendingBytes = 0;
    peer.inFlight++;
    const request = { deliveries: batch.map((pending) => pending.delivery) };
    this.callPeer<ForwardEntriesResponse__Output>(peer, (client, options, done) => client.ForwardEntries(request, options, done))
      .then(
        ({ results }) => settle(batch, results),
        (err: Error) => {
          for (const pending of batch) pending.reject(err);
        },
      )
      .finally(() => {
        peer.inFlight--;
        this.flush(peer);
      });
  }

  private call<Res>(address: string, send: Send<Res>): Promise<Res> {
    return this.callPeer(this.peer(address), send);
  }

  private async callPeer<Res>(peer: Peer, send: Send<Res>): Promise<Res> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await new Promise<Res>((resolve, reject) => {
          send(peer.client, { deadline: Date.now() + this.options.timeoutMs, credentials: this.options.callCredentials }, (err, response) => (err ? reject(err) : resolve(response!)));
        });
      } catch (err) {
        const code = (err as grpc.ServiceError).code;
        const retriable = code === grpc.status.UNAVAILABLE || code === grpc.status.DEADLINE_EXCEEDED;
        if (!retriable || attempt >= this.options.retries) throw err;
      }
    }
  }

  private peer(address: string): Peer {
    let peer = this.peers.get(address);
    if (peer === undefined) {
      const Service = loadPeerService();
      peer = new Peer(new Service(address, this.options.credentials));
      this.peers.set(address, peer);
    }
    return peer;
  }
}

function settle(batch: Pending[], results: DeliveryResult__Output[]): void {
  if (results.length !== batch.length) {
    const err = new Error(`peer answered ${results.length} results for ${batch.length} deliveries`);
    for (const pending of batch) pending.reject(err);
    return;
  }
  for (let i = 0; i < batch.length; i++) {
    const { delivered, code, details } = results[i]!;
    if (code === grpc.status.OK) batch[i]!.resolve(delivered);
    else batch[i]!.reject(refused(code, details));
  }
}

/** A delivery the peer refused (or would): shaped like a gRPC error, with the status code of that delivery alone. */
function refused(code: number, details: string): Error & { code: number; details: string } {
  return Object.assign(new Error(`${grpc.status[code] ?? code}: ${details}`), { code, details });
}
