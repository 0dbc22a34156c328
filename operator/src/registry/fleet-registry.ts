/**
 * The operator's view of a fleet's etcd registry (the keys the gateways
 * write, see gateway/src/registry/etcd-registry.ts): who is connected where,
 * and deletes that only succeed if the entry did not change since it was read.
 * Reads go page by page at one revision (a fleet of 25k devices is past
 * gRPC's 4 MiB reply limit in one range), and every call has a deadline, so
 * an etcd that does not answer fails the call instead of hanging its caller.
 */
import { Etcd3 } from 'etcd3';
import { readPages } from '../../../gateway/src/operator-contract.ts';

export interface RegistryEntry {
  key: string;
  /** Node id (the gateway pod's name) the entry belongs to. */
  node: string;
  userId: string | null;
  modRevision: string;
}

export interface FleetRegistryOptions {
  /** Keys per range request. */
  pageSize: number;
  /** Deadline of each etcd call. */
  callTimeoutMs: number;
}

const DEFAULT_OPTIONS: FleetRegistryOptions = { pageSize: 1000, callTimeoutMs: 3000 };

export class FleetRegistry {
  private readonly client: Etcd3;
  readonly prefix: string;
  private readonly options: FleetRegistryOptions;

  constructor(endpoints: string[], prefix: string, options: Partial<FleetRegistryOptions> = {}) {
    this.options = { ...DEFAULT_OPTIONS, ...options };
    this.client = new Etcd3({ hosts: endpoints, dialTimeout: this.options.callTimeoutMs });
    this.prefix = prefix.replace(/\/+$/, '');
  }

  /** Every device and node entry of the fleet, one page at a time, with its node and mod revision. */
  async *entries(): AsyncGenerator<RegistryEntry[]> {
    const root = `${this.prefix}/`;
    for await (const page of readPages(this.client.kv, root, this.options.pageSize, () => this.callOptions())) {
      const entries: RegistryEntry[] = [];
      for (const kv of page.kvs) {
        const key = kv.key.toString();
        const rest = key.slice(root.length).split('/');
        if (rest[0] === 'nodes' && rest.length === 2) {
          entries.push({ key, node: rest[1]!, userId: null, modRevision: kv.mod_revision });
        } else if (rest[0] === 'users' && rest.length === 3) {
          const node = parseNode(kv.value.toString());
          if (node !== null) entries.push({ key, node, userId: rest[1]!, modRevision: kv.mod_revision });
        }
      }
      yield entries;
    }
  }

  /** The users with a device registered on `node`. */
  async usersOn(node: string): Promise<string[]> {
    const users = new Set<string>();
    for await (const page of this.entries()) {
      for (const entry of page) if (entry.node === node && entry.userId !== null) users.add(entry.userId);
    }
    return [...users];
  }

  /** Deletes the key only if its mod revision is still `modRevision`: a fresh entry is never removed. */
  async deleteIfUnchanged(key: string, modRevision: string): Promise<boolean> {
    const result = await this.client.if(key, 'Mod', '==', modRevision).then(this.client.delete().key(key)).options(this.callOptions()).commit();
    return result.succeeded;
  }

  close(): void {
    this.client.close();
  }

  private callOptions(): { deadline: number } {
    return { deadline: Date.now() + this.options.callTimeoutMs };
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
