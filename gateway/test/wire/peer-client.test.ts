/**
 * The peer client against real gRPC servers in this process: a scripted peer
 * service records each ForwardEntries call and answers as a test tells it to.
 */
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_FORWARDED_FRAME_BYTES } from '../../src/fleet/delivery-check.ts';
import { PeerClient, type ForwardedDelivery } from '../../src/fleet/peer-client.ts';
import type { Delivery__Output } from '../../src/proto/generated/im/gateway/v1/Delivery.ts';
import type { DeliveryResult } from '../../src/proto/generated/im/gateway/v1/DeliveryResult.ts';
import type { IMGatewayPeerServiceHandlers } from '../../src/proto/generated/im/gateway/v1/IMGatewayPeerService.ts';
import { loadPeerService } from '../../src/proto/services.ts';

type Reply = { results: DeliveryResult[] } | grpc.ServiceError;
type Answer = (deliveries: Delivery__Output[]) => Reply | Promise<Reply> | 'never';

const later = (ms: number, reply: Reply): Promise<Reply> => new Promise((resolve) => setTimeout(() => resolve(reply), ms));

/** A peer node that records the deliveries of each call and answers with `answer`. */
class ScriptedPeer {
  readonly calls: Delivery__Output[][] = [];
  readonly server = new grpc.Server();
  address = '';

  constructor(answer: Answer) {
    const handlers: IMGatewayPeerServiceHandlers = {
      ForwardEntries: (call, callback) => {
        this.calls.push(call.request.deliveries);
        const answered = answer(call.request.deliveries);
        if (answered === 'never') return;
        void Promise.resolve(answered).then((reply) => ('results' in reply ? callback(null, reply) : callback(reply)));
      },
      CloseLocal: (_call, callback) => callback(null, { closed_count: 0 }),
    };
    this.server.addService(loadPeerService().service, handlers);
  }

  async start(): Promise<this> {
    const port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    this.address = `127.0.0.1:${port}`;
    return this;
  }
}

/** Each delivery answered with its pos as the device count: a result must reach its own caller. */
const echoPos = (deliveries: Delivery__Output[]): Reply => ({ results: deliveries.map((d) => ({ delivered: d.entry!.pos, code: 0, details: '' })) });

function delivery(pos: number, userId = 'bob'): ForwardedDelivery {
  const frame = { type: 'message', msg_id: `m${pos}`, sender_id: 'alice', recipient_id: userId, recipient_type: 'user', content: 'hi', sequence_number: pos, timestamp: 1 };
  return {
    user_id: userId,
    entry: { log_id: `d:alice:${userId}`, pos, stored_at: 1, sender_device: 'phone', target_device: '', frame: Buffer.from(JSON.stringify(frame)) },
  };
}

const code = (err: unknown): number | undefined => (err as { code?: number }).code;

describe('peer client', () => {
  const servers: grpc.Server[] = [];
  const clients: PeerClient[] = [];
  const peer = async (answer: Answer): Promise<ScriptedPeer> => {
    const started = await new ScriptedPeer(answer).start();
    servers.push(started.server);
    return started;
  };
  const client = (options: Partial<ConstructorParameters<typeof PeerClient>[0]> = {}): PeerClient => {
    const made = new PeerClient({ timeoutMs: 2000, retries: 1, credentials: grpc.credentials.createInsecure(), ...options });
    clients.push(made);
    return made;
  };
  afterEach(() => {
    for (const made of clients.splice(0)) made.close();
    for (const server of servers.splice(0)) server.forceShutdown();
  });

  it('sends the forwards made to one address in one event-loop turn as one call, and resolves each with its own result', async () => {
    const node = await peer(echoPos);
    const peers = client();
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => peers.forward(node.address, delivery(i + 1))));
    expect(node.calls).toHaveLength(1);
    expect(node.calls[0]!.map((d) => d.entry!.pos)).toEqual(results);
    expect(results).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    // The frame arrives as the bytes that were sent.
    expect(node.calls[0]![0]!.entry!.frame.equals(delivery(1).entry.frame)).toBe(true);
  });

  it('sends forwards of later turns in later calls, and splits a turn at the batch cap', async () => {
    const node = await peer(echoPos);
    const peers = client({ maxBatch: 40 });
    await Promise.all(Array.from({ length: 100 }, (_, i) => peers.forward(node.address, delivery(i + 1))));
    expect(node.calls.map((c) => c.length)).toEqual([40, 40, 20]);
    await peers.forward(node.address, delivery(101));
    await peers.forward(node.address, delivery(102));
    expect(node.calls.map((c) => c.length)).toEqual([40, 40, 20, 1, 1]);
  });

  it('holds the forwards of later turns while a call to the peer is under way, and sends them together', async () => {
    // The first call is answered after 300 ms; the turns meanwhile each forward one entry.
    const node = await peer((deliveries) => (deliveries[0]!.entry!.pos === 1 ? later(300, echoPos(deliveries)) : echoPos(deliveries)));
    const peers = client();
    const forwards = [peers.forward(node.address, delivery(1))];
    for (let pos = 2; pos <= 30; pos++) {
      await new Promise((resolve) => setImmediate(resolve));
      forwards.push(peers.forward(node.address, delivery(pos)));
    }
    expect(await Promise.all(forwards)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(node.calls[0]!.map((d) => d.entry!.pos)).toEqual([1]);
    // 29 turns, a few milliseconds of holding each call: far fewer calls than forwards.
    expect(node.calls.length).toBeLessThan(10);
    expect(node.calls.flat().map((d) => d.entry!.pos)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
  });

  it('sends held forwards in a call of their own when the call under way does not return within a few milliseconds', async () => {
    const node = await peer((deliveries) => (deliveries[0]!.entry!.pos === 1 ? 'never' : echoPos(deliveries)));
    const peers = client({ timeoutMs: 1000, retries: 0 });
    const first = peers.forward(node.address, delivery(1)).catch((err: unknown) => code(err));
    await new Promise((resolve) => setImmediate(resolve));
    const started = Date.now();
    expect(await peers.forward(node.address, delivery(2))).toBe(2);
    expect(Date.now() - started).toBeLessThan(200);
    expect(await first).toBe(grpc.status.DEADLINE_EXCEEDED);
  });

  it('rejects only the delivery the peer refused; the others of the call resolve', async () => {
    const node = await peer((deliveries) => ({
      results: deliveries.map((d) => (d.entry!.pos === 2 ? { delivered: 0, code: grpc.status.INVALID_ARGUMENT, details: 'pos is odd' } : { delivered: 1, code: 0, details: '' })),
    }));
    const peers = client();
    const settled = await Promise.allSettled([1, 2, 3].map((pos) => peers.forward(node.address, delivery(pos))));
    expect(node.calls).toHaveLength(1);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    const refused = (settled[1] as PromiseRejectedResult).reason;
    expect(code(refused)).toBe(grpc.status.INVALID_ARGUMENT);
    expect(String(refused)).toContain('pos is odd');
  });

  it('refuses a frame past the size a peer takes without sending it, and its batch goes through', async () => {
    const node = await peer(echoPos);
    const peers = client();
    const huge = delivery(2);
    huge.entry.frame = Buffer.alloc(MAX_FORWARDED_FRAME_BYTES + 1, 0x20);
    const settled = await Promise.allSettled([delivery(1), huge, delivery(3)].map((d) => peers.forward(node.address, d)));
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(code((settled[1] as PromiseRejectedResult).reason)).toBe(grpc.status.INVALID_ARGUMENT);
    expect(node.calls.flat().map((d) => d.entry!.pos)).toEqual([1, 3]);
  });

  it('retries a call that fails with UNAVAILABLE at most FORWARD_RETRIES times, then rejects every delivery of it', async () => {
    const node = await peer(() => ({ code: grpc.status.UNAVAILABLE, details: 'going away' }) as grpc.ServiceError);
    const peers = client({ retries: 3 });
    const settled = await Promise.allSettled([1, 2].map((pos) => peers.forward(node.address, delivery(pos))));
    expect(node.calls).toHaveLength(4);
    for (const result of settled) expect(code((result as PromiseRejectedResult).reason)).toBe(grpc.status.UNAVAILABLE);
  });

  it('does not retry an error that retrying cannot fix', async () => {
    const node = await peer(() => ({ code: grpc.status.INVALID_ARGUMENT, details: 'no' }) as grpc.ServiceError);
    const peers = client({ retries: 3 });
    await expect(peers.forward(node.address, delivery(1))).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    expect(node.calls).toHaveLength(1);
  });

  it('gives each call its deadline, and a peer that does not answer holds back no other peer', async () => {
    const silent = await peer(() => 'never');
    const healthy = await peer(echoPos);
    const peers = client({ timeoutMs: 400, retries: 1 });
    const started = Date.now();
    const toSilent = peers.forward(silent.address, delivery(1)).then(
      () => 'delivered',
      (err: unknown) => ({ code: code(err), ms: Date.now() - started }),
    );
    const toHealthy = await peers.forward(healthy.address, delivery(7));
    expect(toHealthy).toBe(7);
    expect(Date.now() - started).toBeLessThan(300);
    const failed = (await toSilent) as { code: number; ms: number };
    expect(failed.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    // One attempt and one retry, each with its own deadline.
    expect(silent.calls).toHaveLength(2);
    expect(failed.ms).toBeGreaterThanOrEqual(800);
  });

  it('rejects forwards to an address where nothing listens, after its retries', async () => {
    const peers = client({ timeoutMs: 500, retries: 2 });
    await expect(peers.forward('127.0.0.1:1', delivery(1))).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
  });
});
