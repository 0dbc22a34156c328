/**
 * The operator's view of a fleet's etcd registry (the keys the gateways
 * write, see gateway/src/registry/etcd-registry.ts): who is connected where,
 * and deletes that only succeed if the entry did not change since it was read.
 */
import { Etcd3 } from 'etcd3';

export interface RegistryEntry {
  key: string;
  /** Node id (the gateway pod's name) the entry belongs to. */
  node: string;
  userId: string | null;
  modRevision: string;
}

export class FleetRegistry {
  private readonly client: Etcd3;
  private readonly prefix: string;

  constructor(endpoints: string[], prefix: string) {
    this.client = new Etcd3({ hosts: endpoints, dialTimeout: 3000 });
    this.prefix = prefix.replace(/\/+$/, '');
  }

  /** Every device and node entry of the fleet, with its node and mod revision. */
  async entries(): Promise<RegistryEntry[]> {
    const response = await this.client.getAll().prefix(`${this.prefix}/`).exec();
    const entries: RegistryEntry[] = [];
    for (const kv of response.kvs) {
      const key = kv.key.toString();
      const rest = key.slice(this.prefix.length + 1).split('/');
      if (rest[0] === 'nodes' && rest.length === 2) {
        entries.push({ key, node: rest[1]!, userId: null, modRevision: kv.mod_revision });
      } else if (rest[0] === 'users' && rest.length === 3) {
        const node = parseNode(kv.value.toString());
        if (node !== null) entries.push({ key, node, userId: rest[1]!, modRevision: kv.mod_revision });
      }
    }
    return entries;
  }

  /** The users with a device registered on `node`. */
  async usersOn(node: string): Promise<string[]> {
    const users = new Set<string>();
    for (const entry of await this.entries()) if (entry.node === node && entry.userId !== null) users.add(entry.userId);
    return [...users];
  }

  /** Deletes the key only if its mod revision is still `modRevision`: a fresh entry is never removed. */
  async deleteIfUnchanged(key: string, modRevision: string): Promise<boolean> {
    const result = await this.client.if(key, 'Mod', '==', modRevision).then(this.client.delete().key(key)).commit();
    return result.succeeded;
  }

  close(): void {
    this.client.close();
  }
}

function parseNode(value: string): string | null {
  try {
    const node = (JSON.parse(value) as { node?: unknown }).node;
    return typeof node === 'string' ? node : null;
  } catch {
    return null;
  }
}
