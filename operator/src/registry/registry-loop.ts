/**
 * The registry's own loop, apart from the scaling reconcile: every
 * sweepPeriod it reads each fleet's registry in pages (each call with a
 * deadline) and deletes the entries of nodes that are no pod of the fleet.
 * An etcd that is slow or down delays only this loop and marks the fleet's
 * RegistryHealthy condition False; scaling goes on. Fleets are swept one
 * after another by one timer, and a sweep never overlaps the next.
 *
 * A pod counts until it is gone: a Terminating pod keeps serving (and
 * draining) its sockets after SIGTERM, so its entries stay.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { ConditionType, withDefaults, type IMGateway } from '../api/v1alpha1/types.ts';
import type { OperatorMetrics } from '../health/metrics.ts';
import { errorText, type Logger } from '../log.ts';
import { INSTANCE_LABEL } from '../resources/labels.ts';
import { fleetPrefixes } from '../resources/prefixes.ts';
import { FleetRegistry, type FleetRegistryOptions } from './fleet-registry.ts';
import { StaleEntryTracker } from './stale-entries.ts';

/** What the loop reads from the informers' caches. */
export interface RegistrySources {
  gateways: { list(namespace?: string): readonly IMGateway[] };
  pods: { list(namespace?: string): readonly V1Pod[] };
}

export interface RegistryLoopOptions extends Partial<FleetRegistryOptions> {
  sweepPeriodMs: number;
}

/** The RegistryHealthy condition as the last sweep left it. */
export interface RegistryHealth {
  type: typeof ConditionType.RegistryHealthy;
  status: 'True' | 'False';
  reason: 'Swept' | 'RegistryUnreachable';
  message: string;
}

interface FleetState {
  registry: FleetRegistry;
  /** Endpoints and prefix the registry client was made for: a change makes a new one. */
  registryKey: string;
  stale: StaleEntryTracker;
  health?: RegistryHealth;
  /** Entries removed since the reconciler last took the count into status. */
  removedUnreported: number;
}

export class RegistryLoop {
  private readonly fleets = new Map<string, FleetState>();
  private readonly sources: RegistrySources;
  private readonly options: RegistryLoopOptions;
  private readonly metrics: OperatorMetrics;
  private readonly log: Logger;
  /** Called when a fleet's registry health changed or entries were removed, so its status is written. */
  private readonly onChange: (fleet: string) => void;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(sources: RegistrySources, options: RegistryLoopOptions, deps: { metrics: OperatorMetrics; log: Logger; onChange: (fleet: string) => void }) {
    this.sources = sources;
    this.options = options;
    this.metrics = deps.metrics;
    this.log = deps.log;
    this.onChange = deps.onChange;
  }

  start(): void {
    this.stopped = false;
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
    for (const key of [...this.fleets.keys()]) this.forget(key);
  }

  /** The fleet's registry client (drains read who is on a pod through it). */
  registryFor(gw: IMGateway): FleetRegistry {
    return this.fleet(gw).registry;
  }

  /** The fleet's registry health after its last sweep (undefined before one), and the entries removed since the last call. */
  report(fleet: string): { health: RegistryHealth | undefined; removed: number } {
    const state = this.fleets.get(fleet);
    if (state === undefined) return { health: undefined, removed: 0 };
    const removed = state.removedUnreported;
    state.removedUnreported = 0;
    return { health: state.health, removed };
  }

  forget(fleet: string): void {
    this.fleets.get(fleet)?.registry.close();
    this.fleets.delete(fleet);
  }

  /** One sweep of every fleet the cache holds; fleets that left the cache are forgotten. */
  async sweepAll(): Promise<void> {
    const seen = new Set<string>();
    for (const gw of this.sources.gateways.list()) {
      if (this.stopped) return;
      if (gw.metadata?.deletionTimestamp !== undefined) continue;
      const key = fleetKey(gw);
      seen.add(key);
      await this.sweep(gw);
    }
    for (const key of [...this.fleets.keys()]) if (!seen.has(key)) this.forget(key);
  }

  /** Sweeps one fleet: deletes entries seen stale and unchanged twice in a row. */
  async sweep(gw: IMGateway): Promise<void> {
    const key = fleetKey(gw);
    const state = this.fleet(gw);
    const namespace = gw.metadata!.namespace!;
    const name = gw.metadata!.name!;
    // Every pod of the fleet the cache holds, Terminating ones included.
    const pods = new Set(this.sources.pods.list(namespace).filter((p) => p.metadata?.labels?.[INSTANCE_LABEL] === name).map((p) => p.metadata!.name!));
    const started = Date.now();
    let removed = 0;
    let health: RegistryHealth;
    try {
      state.stale.begin();
      for await (const page of state.registry.entries()) {
        for (const entry of state.stale.page(page, pods)) {
          if (this.stopped) break;
          if (await state.registry.deleteIfUnchanged(entry.key, entry.modRevision)) removed++;
        }
      }
      state.stale.finish();
      health = { type: ConditionType.RegistryHealthy, status: 'True', reason: 'Swept', message: `registry reachable; ${removed} stale entries removed in the last sweep` };
    } catch (err) {
      this.log.warn('registry_sweep_failed', { fleet: key, error: errorText(err) });
      health = { type: ConditionType.RegistryHealthy, status: 'False', reason: 'RegistryUnreachable', message: errorText(err).slice(0, 1000) };
    }
    this.metrics.observeRegistrySweep(namespace, name, (Date.now() - started) / 1000, health.status === 'True');
    if (removed > 0) {
      this.metrics.staleEntriesRemoved.inc({ namespace, name }, removed);
      state.removedUnreported += removed;
    }
    const changed = state.health?.status !== health.status || state.health.reason !== health.reason;
    state.health = health;
    if (changed || removed > 0) this.onChange(key);
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.sweepAll()
        .catch((err: unknown) => this.log.warn('registry_loop_failed', { error: errorText(err) }))
        .finally(() => this.schedule());
    }, this.options.sweepPeriodMs);
  }

  private fleet(gw: IMGateway): FleetState {
    const key = fleetKey(gw);
    const spec = withDefaults(gw.spec);
    const prefix = fleetPrefixes(gw, spec).etcdPrefix;
    const registryKey = `${spec.gateway.etcdEndpoints.join(',')}|${prefix}`;
    let state = this.fleets.get(key);
    if (state !== undefined && state.registryKey !== registryKey) {
      state.registry.close();
      state = undefined;
    }
    if (state === undefined) {
      const { pageSize, callTimeoutMs } = this.options;
      const registryOptions = { ...(pageSize !== undefined ? { pageSize } : {}), ...(callTimeoutMs !== undefined ? { callTimeoutMs } : {}) };
      state = { registry: new FleetRegistry(spec.gateway.etcdEndpoints, prefix, registryOptions), registryKey, stale: new StaleEntryTracker(), removedUnreported: 0 };
      this.fleets.set(key, state);
    }
    return state;
  }
}

function fleetKey(gw: IMGateway): string {
  return `${gw.metadata!.namespace}/${gw.metadata!.name}`;
}
