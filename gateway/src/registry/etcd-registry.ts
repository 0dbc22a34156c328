/**
 * The fleet registry on etcd. Keys (DESIGN, "Registry (etcd)"):
 *
 *   <prefix>/nodes/<node_id>              {"grpc","started_at"}
 *   <prefix>/users/<user_id>/<device_id>  {"node","grpc","connected_at"}
 *
 * All of a node's keys live under ONE lease that the node keeps alive, so a
 * crashed node's entries vanish a TTL after it stops, and a clean close
 * (which revokes the lease) removes them at once.
 *
 * The node also remembers what it registered. If its lease is lost (etcd
 * unreachable for longer than the TTL), it grants a new lease as soon as etcd
 * answers again, publishes itself again and puts back every device it still
 * holds, except those another node registered in the meantime. Tokens handed
 * out before stay valid: they name local entries, whose mod revisions follow
 * the re-puts.
 *
 * Every call has a short deadline and at most one immediate retry, so callers
 * fail fast (REGISTRY_ERROR / SERVICE_UNAVAILABLE) while etcd is away.
 *
 * Routing reads no etcd: routes() and devicesOnNode() answer from a watch-fed
 * view of every device of the fleet (device-view.ts), which follows etcd
 * within the watch latency and keeps its last state while etcd is away. A
 * register or unregister returns once this node's view shows it, so a node
 * always routes by its own latest writes. devices() stays a linearizable read
 * for what must be fresh (the device limit, connection status); lookups made
 * in one event-loop turn share one etcd Txn (device-lookups.ts).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ConsecutiveBreaker, ConstantBackoff, circuitBreaker, handleWhen, retry } from 'cockatiel';
import { Etcd3, isRecoverableError } from 'etcd3';
import type { IKeyValue, IRangeResponse, Lease } from 'etcd3';
import type { Logger } from '../observability/logger.ts';
import { errorText } from '../observability/logger.ts';
import { Backoff } from '../shared/backoff.ts';
import { DEFAULT_ETCD_PREFIX } from '../config/defaults.ts';
import { DeviceLookups } from './device-lookups.ts';
import { DeviceView } from './device-view.ts';
import { decodeDevice, encodeDevice, parseJson, readPages } from './etcd-entries.ts';
import type { DeviceRecord, DeviceRoute, NodeRecord, Registry, RegistrationToken } from './registry.ts';

export interface EtcdRegistryOptions {
  endpoints: string[];
  /** Key prefix shared by the fleet; default DEFAULT_ETCD_PREFIX. */
  prefix?: string;
  nodeId: string;
  /** This node's gRPC address (host:port), published for forwarding. */
  grpcAddress: string;
  /** Default 10: a crashed node's entries outlive it by this long. */
  leaseTtlSeconds?: number;
  /** Deadline of each etcd call; default 1500 ms. */
  callTimeoutMs?: number;
  /** Keys per page of a scan and of the view's initial read; default 1000. */
  pageSize?: number;
  log?: Logger;
}

/** etcd could not be reached, or this node has no live lease right now. */
export class RegistryUnavailableError extends Error {
  override readonly name = 'RegistryUnavailableError';
}

interface LiveLease {
  lease: Lease;
  id: string;
}

interface Held {
  record: DeviceRecord;
  token: RegistrationToken;
  value: string;
  /** Mod revision of this node's latest put of the key; unregister deletes only while it still stands. */
  revision: string;
}

/** A key a failed call may have left behind, deleted later only if it is still exactly as left. */
interface Leftover {
  key: string;
  by: 'Mod' | 'Value';
  expected: string;
}

const DEFAULT_TTL_SECONDS = 10;
const DEFAULT_CALL_TIMEOUT_MS = 1500;
const SCAN_PAGE = 1000;
/** Devices per user in a batched lookup; more are read by a scan. Keeps a full txn far below gRPC's 4 MB reply limit. */
const LOOKUP_PAGE = 100;
const PUT_BACK_CONCURRENCY = 32;
const RECOVERY_DELAY_MIN_MS = 250;
/** Attempts fail at once while etcd is away, so they can be frequent: its return is noticed within this. */
const RECOVERY_DELAY_MAX_MS = 2000;

const SILENT: Logger = { debug() {}, info() {}, warn() {}, error() {} };
const noop = (): void => {};

export class EtcdRegistry implements Registry {
  readonly name = 'etcd';
  private readonly endpoints: string[];
  private readonly prefix: string;
  private readonly nodeId: string;
  private readonly grpcAddress: string;
  private readonly ttlSeconds: number;
  private readonly callTimeoutMs: number;
  private readonly pageSize: number;
  private readonly log: Logger;

  private client: Etcd3 | undefined;
  /** Every device of the fleet, as the watch reports it; made at start. */
  private view: DeviceView | undefined;
  /** The lease new keys go under; undefined while lost and not yet replaced. */
  private live: LiveLease | undefined;
  /** The lease whose node key and devices are all in place; healthy() needs it to be the live one. */
  private settled: LiveLease | undefined;
  private lastKeepAlive = 0;
  private startedAt = 0;
  private nextToken = 0;
  /** What this node registered, by key: the source of truth for putting it back. */
  private readonly held = new Map<string, Held>();
  private leftovers: Leftover[] = [];
  private flushing = false;
  /** Tail of each key's task chain: calls on one device never interleave. */
  private readonly queues = new Map<string, Promise<void>>();
  private recovery: Promise<void> | undefined;
  /** devices() reads, batched per event-loop turn into Txns sent with the usual call options. */
  private readonly lookups = new DeviceLookups({ send: (request) => this.etcd().kv.txn(request, this.callOptions()), limit: LOOKUP_PAGE });
  /** Recovery starts only once start() has succeeded; before that, start() itself fails. */
  private started = false;
  private readonly closing = new AbortController();

  constructor(options: EtcdRegistryOptions) {
    if (options.endpoints.length === 0) throw new Error('EtcdRegistry needs at least one endpoint');
    this.endpoints = options.endpoints;
    this.prefix = (options.prefix ?? DEFAULT_ETCD_PREFIX).replace(/\/+$/, '');
    this.nodeId = checkSegment('node id', options.nodeId);
    this.grpcAddress = options.grpcAddress;
    this.ttlSeconds = options.leaseTtlSeconds ?? DEFAULT_TTL_SECONDS;
    this.callTimeoutMs = options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    this.pageSize = options.pageSize ?? SCAN_PAGE;
    this.log = options.log ?? SILENT;
  }

  async start(): Promise<void> {
    if (this.client !== undefined) throw new Error('EtcdRegistry already started');
    this.startedAt = Date.now();
    this.client = new Etcd3({
      hosts: this.endpoints,
      // A safety net for calls made without options; never on the keepalive stream, which lives for hours.
      defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + this.callTimeoutMs }),
      faultHandling: {
        // One immediate retry (another endpoint, if any) within the caller's deadline: never a wait.
        global: retry(handleWhen(isRecoverableError), { maxAttempts: 1, backoff: new ConstantBackoff(0) }),
        // Skip a failing endpoint, but try it again soon: recovery waits on it.
        host: () => circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: 1000, breaker: new ConsecutiveBreaker(3) }),
      },
      grpcOptions: {
        // gRPC's reconnect backoff grows to two minutes; etcd's return must be noticed within a second.
        'grpc.initial_reconnect_backoff_ms': 200,
        'grpc.max_reconnect_backoff_ms': 1000,
        // The watch and keepalive streams are quiet for long stretches: pings find a dead connection
        // (etcd refuses pings more often than every 5 s).
        'grpc.keepalive_time_ms': 10_000,
        'grpc.keepalive_timeout_ms': 5_000,
      },
    });
    const view = new DeviceView({
      client: this.client,
      users: this.usersPrefix(),
      pageSize: this.pageSize,
      callOptions: () => this.callOptions(),
      catchUpMs: this.callTimeoutMs,
      log: this.log,
    });
    try {
      await this.establish();
      await view.start();
    } catch (err) {
      view.close();
      this.client.close();
      this.client = undefined;
      throw unavailable('start', err);
    }
    this.view = view;
    this.started = true;
    // Lost while starting, after its steps had passed: recover like any later loss.
    if (this.live === undefined) this.recover();
    this.log.info('registry_started', { registry: 'etcd', lease: this.live?.id, ttl_s: this.ttlSeconds, devices: view.size });
  }

  async healthy(): Promise<boolean> {
    const { client, live } = this;
    // Still putting devices back after a lease loss: some records are missing.
    if (client === undefined || live === undefined || this.settled !== live) return false;
    // Routing would go by a view that no longer follows etcd.
    if (this.view?.isLive !== true) return false;
    // Keepalives have not answered for a TTL: etcd may already have expired the lease.
    if (Date.now() - this.lastKeepAlive > this.ttlSeconds * 1000) return false;
    try {
      const response = await client.get(this.nodeKey()).options(this.callOptions()).exec();
      return response.kvs[0]?.lease === live.id;
    } catch {
      return false;
    }
  }

  async register(record: DeviceRecord): Promise<RegistrationToken> {
    const key = this.deviceKey(record.userId, record.deviceId);
    const value = encodeDevice(record);
    const token = String(++this.nextToken);
    const revision = await this.serial(key, async () => {
      const live = this.live;
      if (live === undefined) throw new RegistryUnavailableError('etcd registry has no live lease (etcd unreachable); retry later');
      let revision: string;
      try {
        revision = (await live.lease.put(key).value(value).options(this.callOptions())).header.revision;
      } catch (err) {
        // The put may have landed although its answer did not arrive.
        this.leftovers.push({ key, by: 'Value', expected: value });
        throw unavailable('register', err);
      }
      const held: Held = { record: { ...record }, token, value, revision };
      this.held.set(key, held);
      // The lease was replaced while the put ran, possibly after the new one re-put what it held: move the key over.
      const now = this.live;
      if (now !== undefined && now !== live) {
        try {
          await this.putBack(key, now.id);
        } catch (err) {
          this.held.delete(key);
          throw unavailable('register', err);
        }
      }
      return held.revision;
    });
    await this.view?.caughtUp(revision);
    return token;
  }

  async unregister(userId: string, deviceId: string, token: RegistrationToken): Promise<void> {
    const key = this.deviceKey(userId, deviceId);
    const revision = await this.serial(key, async () => {
      const held = this.held.get(key);
      // Already removed, or a newer registration of the device on this node holds the key.
      if (held === undefined || held.token !== token) return undefined;
      this.held.delete(key);
      const client = this.etcd();
      try {
        // A newer registration elsewhere changed the mod revision: leave it.
        const deleted = await client.if(key, 'Mod', '==', held.revision).then(client.delete().key(key)).options(this.callOptions()).commit();
        return deleted.succeeded ? deleted.header.revision : undefined;
      } catch (err) {
        this.leftovers.push({ key, by: 'Mod', expected: held.revision });
        throw unavailable('unregister', err);
      }
    });
    if (revision !== undefined) await this.view?.caughtUp(revision);
  }

  async devices(userId: string): Promise<DeviceRecord[]> {
    checkSegment('user id', userId);
    const prefix = `${this.usersPrefix()}${userId}/`;
    let range: IRangeResponse;
    try {
      range = await this.lookups.read(prefix);
    } catch (err) {
      throw unavailable('read', err);
    }
    // More devices than a page: read them all, as a scan does.
    return this.parseDevices(range.more ? await this.scan(prefix) : range.kvs);
  }

  async nodes(): Promise<NodeRecord[]> {
    const prefix = `${this.prefix}/nodes/`;
    const found: NodeRecord[] = [];
    for (const kv of await this.scan(prefix)) {
      const node = kv.key.toString().slice(prefix.length);
      const value = parseJson(kv.value);
      if (typeof value?.grpc === 'string' && typeof value.started_at === 'number') {
        found.push({ node, grpc: value.grpc, startedAt: value.started_at });
      } else {
        this.log.warn('registry_bad_entry', { key: kv.key.toString() });
      }
    }
    return found;
  }

  routes(userId: string): readonly DeviceRoute[] {
    return this.view?.routes(userId) ?? [];
  }

  routesLive(): boolean {
    return this.view?.isLive === true;
  }

  /**
   * From the view: one pass over memory in slices (100-200 ms in all per
   * million devices, bench/micro/registry-view-memory.ts). While the view does
   * not follow etcd, a scan of etcd, which fails fast while etcd is away.
   */
  async devicesOnNode(nodeId: string): Promise<DeviceRecord[]> {
    if (this.view?.isLive === true) return this.view.devicesOnNode(nodeId);
    return this.parseDevices(await this.scan(this.usersPrefix())).filter((d) => d.node === nodeId);
  }

  async close(): Promise<void> {
    if (this.closing.signal.aborted) return;
    this.closing.abort();
    this.view?.close();
    // A recovery under way stops at its next step, each bounded by a call deadline.
    await this.recovery;
    const live = this.live;
    this.live = undefined;
    try {
      // Revoking removes this node's entries now rather than a TTL later.
      if (live !== undefined) await live.lease.revoke(this.callOptions());
    } catch (err) {
      this.log.warn('registry_lease_revoke_failed', { lease: live?.id, error: errorText(err) });
    } finally {
      this.client?.close();
      this.held.clear();
    }
  }

  /** Grants a lease, publishes this node under it and puts back every device the node holds. */
  private async establish(): Promise<LiveLease> {
    const lease = this.etcd().lease(this.ttlSeconds, { deadline: this.deadline() });
    lease.on('lost', (err) => this.onLost(lease, err));
    lease.on('keepaliveSucceeded', () => {
      if (this.live?.lease !== lease) return;
      this.lastKeepAlive = Date.now();
      this.flushLeftovers();
    });
    // On failure the lease has already torn itself down (and said so with 'lost').
    const id = await lease.grant();
    if (this.closing.signal.aborted) {
      await lease.revoke(this.callOptions()).catch(noop);
      throw new Error('registry closed');
    }
    // New registrations go under the new lease from here. Older leftovers were
    // under the old lease and vanish with it.
    const live = { lease, id };
    this.live = live;
    this.lastKeepAlive = Date.now();
    this.leftovers = [];
    try {
      const node = JSON.stringify({ grpc: this.grpcAddress, started_at: this.startedAt });
      await lease.put(this.nodeKey()).value(node).options(this.callOptions());
      await this.putBackAll(id);
      this.settled = live;
      return live;
    } catch (err) {
      // Keys already moved to this lease are moved again by the next attempt.
      if (this.live?.lease === lease) this.live = undefined;
      lease.release();
      throw err;
    }
  }

  private onLost(lease: Lease, err: Error): void {
    if (this.live?.lease !== lease || this.closing.signal.aborted) return;
    this.log.warn('registry_lease_lost', { lease: this.live.id, devices: this.held.size, error: errorText(err) });
    this.live = undefined;
    if (this.started) this.recover();
  }

  /** Re-establishes the lease in the background until it works or the registry closes. */
  private recover(): void {
    if (this.recovery !== undefined || this.closing.signal.aborted) return;
    this.recovery = this.recoverLoop().finally(() => {
      this.recovery = undefined;
      // Lost again just as the loop ended: go round once more.
      if (this.live === undefined) this.recover();
    });
  }

  private async recoverLoop(): Promise<void> {
    const began = Date.now();
    const backoff = new Backoff({ initialMs: RECOVERY_DELAY_MIN_MS, maxMs: RECOVERY_DELAY_MAX_MS });
    for (let attempt = 1; this.live === undefined && !this.closing.signal.aborted; attempt++) {
      try {
        const { id } = await this.establish();
        this.log.info('registry_lease_recovered', { lease: id, attempts: attempt, after_ms: Date.now() - began, devices: this.held.size });
      } catch (err) {
        if (this.closing.signal.aborted) return;
        // The first failure says etcd is still away; the next ones would only repeat it.
        const delay = backoff.next();
        const fields = { attempt, retry_in_ms: delay, error: errorText(err) };
        if (attempt === 1) this.log.warn('registry_recovery_failed', fields);
        else this.log.debug('registry_recovery_failed', fields);
        await sleep(delay, undefined, { signal: this.closing.signal }).catch(noop);
      }
    }
  }

  private async putBackAll(leaseId: string): Promise<void> {
    const keys = [...this.held.keys()];
    let next = 0;
    let failed = false;
    const worker = async (): Promise<void> => {
      while (!failed && !this.closing.signal.aborted && next < keys.length) {
        const key = keys[next++]!;
        try {
          await this.serial(key, () => this.putBack(key, leaseId));
        } catch (err) {
          failed = true;
          throw err;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(PUT_BACK_CONCURRENCY, keys.length) }, worker));
  }

  /** Puts one held device under lease `leaseId`, unless another node has registered it since. Runs in the key's chain. */
  private async putBack(key: string, leaseId: string): Promise<void> {
    const held = this.held.get(key);
    if (held === undefined) return;
    const client = this.etcd();
    const put = client.put(key).value(held.value).lease(leaseId);
    // Still this node's put (the old lease may outlive an etcd restart): move it.
    const moved = await client.if(key, 'Mod', '==', held.revision).then(put).else(client.get(key)).options(this.callOptions()).commit();
    let revision = moved.succeeded ? moved.header.revision : undefined;
    if (!moved.succeeded && (moved.responses[0]?.response_range?.kvs.length ?? 0) === 0) {
      // Gone with the old lease: ours again, unless another node creates it first.
      const created = await client.if(key, 'Create', '==', 0).then(put).options(this.callOptions()).commit();
      if (created.succeeded) revision = created.header.revision;
    }
    if (revision !== undefined) {
      held.revision = revision;
      return;
    }
    // Another node registered the device meanwhile: its record is the newer one.
    this.held.delete(key);
    this.log.info('registry_device_taken_over', { user_id: held.record.userId, device_id: held.record.deviceId });
  }

  /** Deletes keys failed calls may have left behind, once etcd answers again. */
  private flushLeftovers(): void {
    if (this.flushing || this.leftovers.length === 0) return;
    this.flushing = true;
    const batch = this.leftovers;
    this.leftovers = [];
    void (async () => {
      for (let i = 0; i < batch.length; i++) {
        const leftover = batch[i]!;
        try {
          await this.serial(leftover.key, () => this.deleteLeftover(leftover));
        } catch {
          this.leftovers.push(...batch.slice(i));
          return;
        }
      }
    })().finally(() => {
      this.flushing = false;
    });
  }

  private async deleteLeftover({ key, by, expected }: Leftover): Promise<void> {
    // Registered again since, with this very value: the key is in use.
    if (by === 'Value' && this.held.get(key)?.value === expected) return;
    const client = this.etcd();
    await client.if(key, by, '==', expected).then(client.delete().key(key)).options(this.callOptions()).commit();
  }

  private parseDevices(kvs: IKeyValue[]): DeviceRecord[] {
    const users = Buffer.from(this.usersPrefix());
    const found: DeviceRecord[] = [];
    for (const kv of kvs) {
      const record = decodeDevice(users, kv);
      if (record !== undefined) found.push(record);
      else this.log.warn('registry_bad_entry', { key: kv.key.toString() });
    }
    return found;
  }

  /** Every key under `prefix`, in pages, all read at the first page's revision. */
  private async scan(prefix: string): Promise<IKeyValue[]> {
    const found: IKeyValue[] = [];
    try {
      for await (const page of readPages(this.etcd().kv, prefix, this.pageSize, () => this.callOptions())) found.push(...page.kvs);
      return found;
    } catch (err) {
      throw unavailable('read', err);
    }
  }

  /** Runs `task` after every earlier task on `key`, so no two calls interleave their reads and writes of one device. */
  private serial<T>(key: string, task: () => Promise<T>): Promise<T> {
    const run = (this.queues.get(key) ?? Promise.resolve()).then(task);
    const tail = run.then(noop, noop);
    this.queues.set(key, tail);
    void tail.then(() => {
      if (this.queues.get(key) === tail) this.queues.delete(key);
    });
    return run;
  }

  private etcd(): Etcd3 {
    if (this.client === undefined) throw new RegistryUnavailableError('etcd registry is not started');
    return this.client;
  }

  private deadline(): number {
    return Date.now() + this.callTimeoutMs;
  }

  /** One deadline per operation, shared by its retry. */
  private callOptions(): { deadline: number } {
    return { deadline: this.deadline() };
  }

  private nodeKey(): string {
    return `${this.prefix}/nodes/${this.nodeId}`;
  }

  private usersPrefix(): string {
    return `${this.prefix}/users/`;
  }

  private deviceKey(userId: string, deviceId: string): string {
    return `${this.usersPrefix()}${checkSegment('user id', userId)}/${checkSegment('device id', deviceId)}`;
  }
}

function unavailable(what: string, err: unknown): Error {
  if (err instanceof RegistryUnavailableError) return err;
  return new RegistryUnavailableError(`etcd registry ${what} failed: ${errorText(err)}`, { cause: err });
}

/** Ids are key segments: a '/' would let one user's prefix scan see another's devices. */
function checkSegment(what: string, value: string): string {
  if (value === '' || value.includes('/')) throw new Error(`invalid ${what} for the etcd registry: ${JSON.stringify(value)}`);
  return value;
}
