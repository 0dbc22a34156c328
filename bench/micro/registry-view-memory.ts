/**
 * Heap the etcd registry's routing view (gateway/src/registry/device-view.ts)
 * keeps per device, fed entries as etcd sends them (key and value bytes,
 * decoded as the watch decodes them), and how long devicesOnNode() takes over
 * that many devices (its whole pass, slices included). User and device ids
 * are 10 characters.
 *
 *   npx node --expose-gc bench/micro/registry-view-memory.ts 1000000      # one device per user, 3 nodes
 *   npx node --expose-gc bench/micro/registry-view-memory.ts 1000000 2 20 # two devices per user, 20 nodes
 */
import { DeviceTable } from '../../gateway/src/registry/device-view.ts';
import { decodeDevice } from '../../gateway/src/registry/etcd-entries.ts';

const devices = Number(process.argv[2] ?? 1_000_000);
const perUser = Number(process.argv[3] ?? 1);
const nodes = Number(process.argv[4] ?? 3);
const gc = globalThis.gc;
if (gc === undefined) throw new Error('run with --expose-gc');

const users = Buffer.from('/im-gateway/users/');
const id = (prefix: string, n: number): string => `${prefix}${n.toString(36).padStart(9, '0')}`;
const values = Array.from({ length: nodes }, (_, n) =>
  Buffer.from(JSON.stringify({ node: `gateway-${n}`, grpc: `10.0.0.${n}:7001`, connected_at: 1_706_180_400_000 })),
);

gc();
const base = process.memoryUsage().heapUsed;
const table = new DeviceTable();
for (let i = 0; i < devices; i++) {
  const user = Math.floor(i / perUser);
  const kv = {
    key: Buffer.from(`/im-gateway/users/${id('u', user)}/${id('d', i)}`),
    value: values[user % nodes]!,
    mod_revision: String(i + 1),
  };
  // The watch hands out IKeyValue objects; decodeDevice reads only key and value.
  const record = decodeDevice(users, kv as Parameters<typeof decodeDevice>[1]);
  if (record === undefined) throw new Error('bad entry');
  table.put(record, i + 1);
}
gc();
const bytesPerDevice = (process.memoryUsage().heapUsed - base) / devices;

const started = performance.now();
const onNode = (await table.onNode('gateway-0')).length;
const onNodeMs = performance.now() - started;

process.stdout.write(
  `${JSON.stringify({ devices: table.size, perUser, nodes, bytesPerDevice: Math.round(bytesPerDevice), onNode, onNodeMs: Number(onNodeMs.toFixed(1)) })}\n`,
);
