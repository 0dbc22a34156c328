/**
 * Every device of the fleet in memory, fed by an etcd watch on
 * `<prefix>/users/`, so that routing a message reads no etcd
 * (EtcdRegistry.routes()).
 *
 * The view is read in pages at one revision, then follows a watch from the
 * next revision. Each watch response is applied whole (fragments of a large
 * one are gathered first), and `applied` is the revision up to which the view
 * equals etcd. When the stream breaks (etcd away or restarted) the watch
 * resumes from applied + 1, so no event is missed; each record keeps the mod
 * revision that set it, so an event seen twice changes nothing. When etcd can
 * no longer replay from there (compacted past it, or a store behind the view,
 * as after a restore) the view is read afresh and replaces the old one at once.
 * Meanwhile, and for as long as etcd is away, lookups answer from the last
 * known view.
 *
 * Memory: node ids and gRPC addresses are interned (a fleet has few nodes and
 * many devices), each user's devices are one shared array of small records,
 * and nothing else is kept per device: 238 bytes of heap per device with one
 * device per user, 251 with two, ids included (bench/micro/registry-view-memory.ts:
 * 1M devices, 10-character user and device ids, Node 24). Of those, the
 * record is 72, the ids 64, the user's array and map entry about 85, the
 * connected_at number 16.
 */
import type { Etcd3, IDuplexStream, IEvent, IKeyValue, IWatchRequest, IWatchResponse } from 'etcd3';
import { setImmediate, setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../observability/logger.ts';
import { errorText } from '../observability/logger.ts';
import { Backoff } from '../shared/backoff.ts';
import { prefixEnd } from './device-lookups.ts';
import { decodeDevice, decodeDeviceKey, readPages } from './etcd-entries.ts';
import { plainRecord } from './registry.ts';
import type { DeviceRecord, DeviceRoute } from './registry.ts';

export interface DeviceViewOptions {
  client: Etcd3;
  /** `<prefix>/users/`. */
  users: string;
  /** Keys per page of the initial read. */
  pageSize: number;
  /** Options of each unary call (its deadline). */
  callOptions(): { deadline: number };
  /** Longest a write's caller waits to see its write in the view (caughtUp). */
  catchUpMs: number;
  log: Logger;
}

const RESUME_DELAY_MIN_MS = 100;
/** Attempts fail at once while etcd is away, so they can be frequent: its return is noticed within this. */
const RESUME_DELAY_MAX_MS = 1000;
const NO_ROUTES: readonly DeviceRoute[] = Object.freeze([]);
/** Users per slice of devicesOnNode's pass: a few milliseconds of the event loop. */
const ON_NODE_SLICE = 20_000;
const noop = (): void => {};

type WatchStream = IDuplexStream<IWatchRequest, IWatchResponse>;

/** Ends our side before cancelling: etcd3 counts a cancelled stream that is still writable as a failure of the endpoint, and resets its connections. */
function stop(stream: WatchStream): void {
  if ((stream as { writable?: boolean }).writable === true) stream.end();
  stream.cancel();
}

/** etcd cannot replay the watch from the view's revision: the view must be read again. */
class ViewOutdated extends Error {
  override readonly name = 'ViewOutdated';
}

/** One device in the view. A class, so every record shares one shape. */
class Route implements DeviceRoute {
  readonly userId: string;
  readonly deviceId: string;
  readonly node: string;
  readonly grpc: string;
  readonly connectedAt: number;
  readonly revision: number;

  constructor(userId: string, deviceId: string, endpoint: Endpoint, connectedAt: number, revision: number) {
    this.userId = userId;
    this.deviceId = deviceId;
    this.node = endpoint.node;
    this.grpc = endpoint.grpc;
    this.connectedAt = connectedAt;
    this.revision = revision;
  }
}

/** A node and its gRPC address, held once for all of its devices. */
interface Endpoint {
  readonly node: string;
  readonly grpc: string;
  devices: number;
}

/** The devices of one view: replaced whole when the view is read again. Exported for bench/micro. */
export class DeviceTable {
  /** Per user, an array replaced (never changed) on each change: routes() hands it out. */
  readonly users = new Map<string, readonly Route[]>();
  /** Interned endpoints by `node grpc`, counted so a departed node's strings go too. */
  private readonly endpoints = new Map<string, Endpoint>();
  size = 0;

  put(record: DeviceRecord, revision: number): void {
    const current = this.users.get(record.userId);
    const at = current === undefined ? -1 : current.findIndex((r) => r.deviceId === record.deviceId);
    const old = at < 0 ? undefined : current![at]!;
    if (old !== undefined && old.revision >= revision) return;
    const endpoint = this.hold(record.node, record.grpc);
    // One string per user and device, however many events name them.
    const userId = current?.[0]?.userId ?? record.userId;
    const route = new Route(userId, old?.deviceId ?? record.deviceId, endpoint, record.connectedAt, revision);
    if (old !== undefined) {
      this.release(old);
      this.users.set(userId, current!.with(at, route));
    } else {
      this.users.set(userId, current === undefined ? [route] : [...current, route]);
      this.size++;
    }
  }

  delete(userId: string, deviceId: string, revision: number): void {
    const current = this.users.get(userId);
    const at = current === undefined ? -1 : current.findIndex((r) => r.deviceId === deviceId);
    if (at < 0) return;
    const old = current![at]!;
    if (old.revision >= revision) return;
    this.release(old);
    this.size--;
    if (current!.length === 1) this.users.delete(userId);
    else this.users.set(userId, current!.toSpliced(at, 1));
  }

  /** One pass over every user, yielding to the event loop between slices: a million devices take ~100-200 ms. */
  async onNode(nodeId: string): Promise<DeviceRecord[]> {
    const found: DeviceRecord[] = [];
    if (![...this.endpoints.values()].some((e) => e.node === nodeId)) return found;
    let slice = 0;
    // A Map iterator survives changes made between slices: the answer is the view as of about now.
    for (const routes of this.users.values()) {
      for (const route of routes) if (route.node === nodeId) found.push(plainRecord(route));
      if (++slice === ON_NODE_SLICE) {
        slice = 0;
        await setImmediate();
      }
    }
    return found;
  }

  private hold(node: string, grpc: string): Endpoint {
    const key = `${node} ${grpc}`;
    let endpoint = this.endpoints.get(key);
    if (endpoint === undefined) {
      endpoint = { node, grpc, devices: 0 };
      this.endpoints.set(key, endpoint);
    }
    endpoint.devices++;
    return endpoint;
  }

  private release(route: Route): void {
    const key = `${route.node} ${route.grpc}`;
    const endpoint = this.endpoints.get(key);
    if (endpoint !== undefined && --endpoint.devices === 0) this.endpoints.delete(key);
  }
}

interface Waiter {
  revision: number;
  resolve(): void;
  until: number;
}

export class DeviceView {
  private readonly client: Etcd3;
  private readonly users: string;
  private readonly usersKey: Buffer;
  private readonly pageSize: number;
  private readonly callOptions: () => { deadline: number };
  private readonly catchUpMs: number;
  private readonly log: Logger;

  private table = new DeviceTable();
  /** The revision up to which the view equals etcd; 0 before the first read. */
  private applied = 0;
  /** The watch is created and feeding the view. */
  private live = false;
  /** The next attempt must read the view afresh rather than resume the watch. */
  private outdated = true;
  private stream: WatchStream | undefined;
  private resuming: Promise<void> | undefined;
  /** Why the watch last broke. */
  private broken: Error | undefined;
  /** Callers waiting to see a revision, oldest first (so deadlines ascend). */
  private waiters: Waiter[] = [];
  /** One timer for every waiter: fires at the oldest one's deadline. */
  private lagTimer: NodeJS.Timeout | undefined;
  private readonly closing = new AbortController();

  constructor(options: DeviceViewOptions) {
    this.client = options.client;
    this.users = options.users;
    this.usersKey = Buffer.from(options.users);
    this.pageSize = options.pageSize;
    this.callOptions = options.callOptions;
    this.catchUpMs = options.catchUpMs;
    this.log = options.log;
  }

  /** Reads the view and starts the watch; fails if etcd cannot be read. */
  async start(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        if (this.outdated) await this.read();
        return await this.follow();
      } catch (err) {
        // Compacted between the read and the watch: read again, a few times at most.
        if (!(err instanceof ViewOutdated) || attempt === 3) throw err;
      }
    }
  }

  routes(userId: string): readonly DeviceRoute[] {
    return this.table.users.get(userId) ?? NO_ROUTES;
  }

  devicesOnNode(nodeId: string): Promise<DeviceRecord[]> {
    return this.table.onNode(nodeId);
  }

  get isLive(): boolean {
    return this.live;
  }

  get size(): number {
    return this.table.size;
  }

  /**
   * Resolves once the view has applied `revision` (a write's own revision),
   * or at once if the view is not following etcd now; waits at most catchUpMs.
   */
  caughtUp(revision: string): Promise<void> {
    const wanted = Number(revision);
    if (!this.live || this.applied >= wanted) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiters.push({ revision: wanted, resolve, until: Date.now() + this.catchUpMs });
      this.lagTimer ??= this.armLagTimer();
    });
  }

  close(): void {
    this.closing.abort();
    if (this.stream !== undefined) stop(this.stream);
    this.stream = undefined;
    this.setLive(false);
  }

  /** Reads every device in pages at one revision into a new table, then swaps it in. */
  private async read(): Promise<void> {
    const started = Date.now();
    const table = new DeviceTable();
    let revision = '0';
    for await (const page of readPages(this.client.kv, this.users, this.pageSize, this.callOptions)) {
      revision = page.revision;
      for (const kv of page.kvs) this.apply(table, 'Put', kv);
    }
    if (this.closing.signal.aborted) throw new Error('registry closed');
    this.table = table;
    this.applied = Number(revision);
    this.outdated = false;
    this.log.info('registry_view_read', { devices: table.size, revision, ms: Date.now() - started });
  }

  /** Opens the watch from applied + 1; resolves once etcd has created it, rejects if it cannot. */
  private async follow(): Promise<void> {
    const stream = await this.client.watchClient.watch();
    if (this.closing.signal.aborted) {
      stop(stream);
      throw new Error('registry closed');
    }
    this.stream = stream;
    let fragments: IEvent[] = [];
    await new Promise<void>((resolve, reject) => {
      let created = false;
      let ended = false;
      const end = (err: Error): void => {
        if (ended) return;
        ended = true;
        stop(stream);
        if (this.stream === stream) this.stream = undefined;
        if (err instanceof ViewOutdated) this.outdated = true;
        this.broken = err;
        this.setLive(false);
        if (created) this.resume(err);
        else reject(err);
      };
      stream.on('data', (response: IWatchResponse) => {
        if (ended) return;
        if (Number(response.compact_revision) > 0) {
          return end(new ViewOutdated(`etcd compacted past revision ${this.applied + 1} (to ${response.compact_revision})`));
        }
        if (response.canceled) return end(new Error(`etcd canceled the watch: ${response.cancel_reason || 'no reason given'}`));
        if (response.created) {
          if (Number(response.header.revision) < this.applied) {
            return end(new ViewOutdated(`etcd is at revision ${response.header.revision}, behind the view's ${this.applied}`));
          }
          created = true;
          this.setLive(true);
          return resolve();
        }
        if (response.fragment) {
          fragments.push(...response.events);
          return;
        }
        const events = fragments.length === 0 ? response.events : [...fragments, ...response.events];
        fragments = [];
        this.applyResponse(events);
      });
      stream.on('error', (err) => end(err));
      stream.on('end', () => end(new Error('etcd ended the watch stream')));
      stream.write({
        create_request: {
          key: this.usersKey,
          range_end: prefixEnd(this.users),
          start_revision: String(this.applied + 1),
          // No progress notices: etcd releases without the fix for etcd issue 15220 can send one
          // ahead of events still queued, and a resume from its revision would skip them. A quiet
          // prefix costs a re-read after a compaction instead.
          // A node's lease expiring deletes all of its devices in one revision: more than a 4 MiB reply.
          fragment: true,
        },
      });
    });
  }

  private applyResponse(events: IEvent[]): void {
    for (const event of events) this.apply(this.table, event.type, event.kv);
    // etcd puts whole revisions in a response, so its last event ends one.
    const last = events.at(-1);
    if (last !== undefined) this.advance(Number(last.kv.mod_revision));
  }

  private apply(table: DeviceTable, type: IEvent['type'], kv: IKeyValue): void {
    const revision = Number(kv.mod_revision);
    if (type === 'Delete') {
      const ids = decodeDeviceKey(this.usersKey, kv.key);
      if (ids !== undefined) table.delete(ids.userId, ids.deviceId, revision);
      return;
    }
    const record = decodeDevice(this.usersKey, kv);
    if (record !== undefined) return table.put(record, revision);
    // Its own event: every node's view sees the entry, and the registry's reads log theirs.
    this.log.warn('registry_view_bad_entry', { key: kv.key.toString() });
    // What the key held before is gone: the view keeps no device for it.
    const ids = decodeDeviceKey(this.usersKey, kv.key);
    if (ids !== undefined) table.delete(ids.userId, ids.deviceId, revision);
  }

  private advance(revision: number): void {
    if (revision <= this.applied) return;
    this.applied = revision;
    if (this.waiters.length > 0) this.wake((w) => w.revision <= revision);
  }

  private setLive(live: boolean): void {
    this.live = live;
    // A caller must not wait on a view that is not following etcd.
    if (!live && this.waiters.length > 0) this.wake(() => true);
  }

  private wake(ready: (waiter: Waiter) => boolean): void {
    const waiting: Waiter[] = [];
    for (const waiter of this.waiters) {
      if (ready(waiter)) waiter.resolve();
      else waiting.push(waiter);
    }
    this.waiters = waiting;
    if (waiting.length === 0 && this.lagTimer !== undefined) {
      clearTimeout(this.lagTimer);
      this.lagTimer = undefined;
    }
  }

  private armLagTimer(): NodeJS.Timeout {
    const oldest = this.waiters[0]!;
    const timer = setTimeout(() => {
      this.lagTimer = undefined;
      const now = Date.now();
      const late = this.waiters.filter((w) => w.until <= now).length;
      if (late > 0) this.log.warn('registry_view_lagging', { waiters: late, applied: this.applied, wait_ms: this.catchUpMs });
      this.wake((w) => w.until <= now);
      if (this.waiters.length > 0) this.lagTimer = this.armLagTimer();
    }, Math.max(0, oldest.until - Date.now()));
    timer.unref();
    return timer;
  }

  /** Follows etcd again after the watch broke, in the background, until it works or the view closes. */
  private resume(reason: Error): void {
    if (this.resuming !== undefined || this.closing.signal.aborted) return;
    this.log.warn('registry_view_interrupted', { applied: this.applied, outdated: this.outdated, error: errorText(reason) });
    this.resuming = this.resumeLoop().finally(() => {
      this.resuming = undefined;
      // Broke again just as the loop ended: go round once more.
      if (!this.live) this.resume(new Error('the watch broke again as it resumed'));
    });
  }

  private async resumeLoop(): Promise<void> {
    const began = Date.now();
    const backoff = new Backoff({ initialMs: RESUME_DELAY_MIN_MS, maxMs: RESUME_DELAY_MAX_MS });
    // Whether this resume read the view again, in any attempt (the one that read may break before it follows).
    let reread = false;
    for (let attempt = 1; !this.closing.signal.aborted; attempt++) {
      try {
        if (this.outdated) {
          await this.read();
          reread = true;
        }
        await this.follow();
        // Broken again at once, as when etcd answers a new watch with the compaction that ends it.
        if (!this.live) throw this.broken ?? new Error('the watch broke as it was created');
        this.log.info('registry_view_resumed', { attempts: attempt, after_ms: Date.now() - began, reread, applied: this.applied, devices: this.table.size });
        return;
      } catch (err) {
        if (this.closing.signal.aborted) return;
        if (err instanceof ViewOutdated) this.outdated = true;
        // The first failure says etcd is still away; the next ones would only repeat it.
        const delay = backoff.next();
        const fields = { attempt, retry_in_ms: delay, error: errorText(err) };
        if (attempt === 1) this.log.warn('registry_view_resume_failed', fields);
        else this.log.debug('registry_view_resume_failed', fields);
        await sleep(delay, undefined, { signal: this.closing.signal }).catch(noop);
      }
    }
  }
}
