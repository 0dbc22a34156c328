/**
 * How the registry's entries sit in etcd (DESIGN, "Registry (etcd)"): the
 * device value, its key, and reading a prefix in pages. Shared by the
 * registry's reads and by the watch-fed view, which must agree on them.
 */
import type { IKeyValue, KVClient } from 'etcd3';
import { prefixEnd } from './device-lookups.ts';
import type { DeviceRecord } from './registry.ts';

/** The value of `<prefix>/users/<user_id>/<device_id>`. */
export function encodeDevice(record: DeviceRecord): string {
  return JSON.stringify({ node: record.node, grpc: record.grpc, connected_at: record.connectedAt });
}

/** The user and device a key under `users` (`<prefix>/users/`) names, or undefined if it names none. */
export function decodeDeviceKey(users: Buffer, key: Buffer): { userId: string; deviceId: string } | undefined {
  const slash = key.indexOf(0x2f, users.length);
  if (slash < 0) return undefined;
  // Decoded from the bytes, not sliced from the whole key: a slice would keep the key alive.
  return { userId: key.toString('utf8', users.length, slash), deviceId: key.toString('utf8', slash + 1) };
}

/** The device an entry under `users` holds, or undefined for a malformed entry. */
export function decodeDevice(users: Buffer, kv: IKeyValue): DeviceRecord | undefined {
  const value = parseJson(kv.value);
  if (typeof value?.node !== 'string' || typeof value.grpc !== 'string' || typeof value.connected_at !== 'number') return undefined;
  const ids = decodeDeviceKey(users, kv.key);
  return ids === undefined ? undefined : { ...ids, node: value.node, grpc: value.grpc, connectedAt: value.connected_at };
}

export function parseJson(value: Buffer): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(value.toString());
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

export interface Page {
  kvs: IKeyValue[];
  /** The revision every page is read at: the store's revision when the first page was read. */
  revision: string;
}

/**
 * Every key under `prefix`, `pageSize` at a time, all at the first page's
 * revision: gRPC replies are capped at 4 MiB, so a whole prefix is never one read.
 */
export async function* readPages(kv: KVClient, prefix: string, pageSize: number, callOptions: () => { deadline: number }): AsyncGenerator<Page> {
  const rangeEnd = prefixEnd(prefix);
  let from = Buffer.from(prefix);
  let revision: string | undefined;
  for (;;) {
    const page = await kv.range({ key: from, range_end: rangeEnd, limit: pageSize, revision }, callOptions());
    revision ??= page.header.revision;
    yield { kvs: page.kvs, revision };
    const last = page.kvs.at(-1);
    if (!page.more || last === undefined) return;
    from = Buffer.concat([last.key, Buffer.from([0])]);
  }
}
