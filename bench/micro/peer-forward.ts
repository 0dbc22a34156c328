/**
 * CPU per forwarded entry between two nodes, one gRPC call per entry against
 * `ForwardEntries` batches: a peer client and a real peer service (with its
 * edge checks) on loopback in this process, so the figure is both sides'
 * cost. Each round forwards `entries` private-message entries to one peer,
 * `perTurn` of them per event-loop turn; rounds alternate between the modes.
 *
 *   npx node bench/micro/peer-forward.ts [entries=1000] [perTurn=1000] [rounds=15]
 */
import * as grpc from '@grpc/grpc-js';
import { Hub } from '../../gateway/src/connections/hub.ts';
import { ConnectionControl } from '../../gateway/src/delivery/connection-control.ts';
import { LocalDelivery } from '../../gateway/src/delivery/local-delivery.ts';
import { PeerClient, type ForwardedDelivery } from '../../gateway/src/fleet/peer-client.ts';
import { peerHandlers } from '../../gateway/src/fleet/peer-handlers.ts';
import { createLogger } from '../../gateway/src/observability/logger.ts';
import { GatewayMetrics } from '../../gateway/src/observability/metrics.ts';
import { loadPeerService } from '../../gateway/src/proto/services.ts';
import { MemoryRegistry } from '../../gateway/src/registry/memory-registry.ts';
import { MemoryStore } from '../../gateway/src/store/memory-store.ts';

const entries = Number(process.argv[2] ?? 1000);
const perTurn = Number(process.argv[3] ?? 1000);
const rounds = Number(process.argv[4] ?? 15);

const hub = new Hub();
const store = new MemoryStore({ maxEntries: 1000, maxAgeMs: 3600_000, dedupTtlMs: 60_000 }, { limit: 1e9, windowMs: 1000 });
const local = new LocalDelivery(hub, store, new GatewayMetrics(() => 0), createLogger('error'), { maxBufferedBytes: 1 << 20, readBatch: 200 });
const server = new grpc.Server();
server.addService(loadPeerService().service, peerHandlers({ local, control: new ConnectionControl(hub, new MemoryRegistry()) }));
const port = await new Promise<number>((resolve, reject) =>
  server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
);
const address = `127.0.0.1:${port}`;
const options = { timeoutMs: 5000, retries: 0, credentials: grpc.credentials.createInsecure() };
const clients = { 'one call each': new PeerClient({ ...options, maxBatch: 1 }), batched: new PeerClient(options) };

function delivery(i: number): ForwardedDelivery {
  const frame = {
    type: 'message', msg_id: `msg_alice_${1_706_180_400_000 + i}_x`, sender_id: 'alice', recipient_id: 'bob', recipient_type: 'user',
    content: 'hello there, this is a message of a typical length', sequence_number: i + 1, timestamp: 1_706_180_400_000 + i,
  };
  return {
    user_id: 'bob',
    entry: { log_id: 'd:alice:bob', pos: i + 1, stored_at: 1_706_180_400_000 + i, sender_device: 'phone', target_device: '', frame: Buffer.from(JSON.stringify(frame)) },
  };
}
const deliveries = Array.from({ length: entries }, (_, i) => delivery(i));

/** CPU microseconds (user + system, both sides) and wall milliseconds for one round. */
async function round(client: PeerClient): Promise<{ cpuUs: number; wallMs: number }> {
  const cpu = process.cpuUsage();
  const started = performance.now();
  const pending: Array<Promise<number>> = [];
  for (let i = 0; i < entries; i += perTurn) {
    for (let j = i; j < Math.min(entries, i + perTurn); j++) pending.push(client.forward(address, deliveries[j]!));
    await new Promise((resolve) => setImmediate(resolve));
  }
  await Promise.all(pending);
  const used = process.cpuUsage(cpu);
  return { cpuUs: used.user + used.system, wallMs: performance.now() - started };
}

const samples: Record<keyof typeof clients, number[]> = { 'one call each': [], batched: [] };
const walls: Record<keyof typeof clients, number[]> = { 'one call each': [], batched: [] };
// The first rounds warm up the JIT and connect the channels; they are not counted.
for (let r = -3; r < rounds; r++) {
  for (const mode of Object.keys(clients) as Array<keyof typeof clients>) {
    const { cpuUs, wallMs } = await round(clients[mode]);
    if (r < 0) continue;
    samples[mode].push(cpuUs / entries);
    walls[mode].push(wallMs);
  }
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const result: Record<string, unknown> = { entries, perTurn, rounds };
for (const mode of Object.keys(clients) as Array<keyof typeof clients>) {
  result[mode] = { cpuUsPerEntry: Number(median(samples[mode]).toFixed(1)), wallMsPerRound: Number(median(walls[mode]).toFixed(1)) };
}
result.ratio = Number((median(samples.batched) / median(samples['one call each'])).toFixed(3));
process.stdout.write(`${JSON.stringify(result)}\n`);
for (const client of Object.values(clients)) client.close();
server.forceShutdown();
await store.close();
