/**
 * The drain tasks this operator runs, at most one per pod. The reconciler
 * calls `ensure` for every drain recorded on the fleet's pods on each pass,
 * so a new leader resumes the drains its predecessor recorded; when a task
 * ends the fleet is queued again to remove the pod. All drains of a fleet
 * take their closes from one TokenBucket (the fleet-wide reconnect budget). A task that
 * fails (its secrets unreadable, the pod unreachable) is reported and not
 * started again before its backoff has passed.
 */
import { drainPod, type DrainSettings, type DrainTarget } from '../drain/pod-drain.ts';
import { TokenBucket } from '../rate/token-bucket.ts';
import type { GatewayClient } from '../gateway-client/gateway-client.ts';
import type { FleetRegistry } from '../registry/fleet-registry.ts';
import { errorText, type Logger } from '../log.ts';
import { backoffDelay } from '../../../gateway/src/operator-contract.ts';

export interface DrainJob {
  target: DrainTarget;
  settings: DrainSettings;
  registry: FleetRegistry;
}

export interface DrainCallbacks {
  /** A drain ended (or failed): look at its fleet again. */
  onDone(fleet: string): void;
  /** A drain failed: say so where people look (a Warning event). */
  onFailed(fleet: string, pod: string, error: string, retryInMs: number): void;
  /** A step of a running drain failed (it goes on, backing off): a Warning event too. */
  onStepFailed(fleet: string, pod: string, error: string): void;
}

const DRAIN_BACKOFF = { initialMs: 1000, maxMs: 60_000 };

export class Drains {
  private readonly running = new Map<string, { fleet: string; stop: boolean }>();
  private readonly failures = new Map<string, { count: number; retryAt: number }>();
  /** The fleet-wide reconnect budget: the closes of all of a fleet's drains, evenly spaced (burst 1). */
  private readonly budgets = new Map<string, TokenBucket>();
  private readonly client: GatewayClient;
  private readonly callbacks: DrainCallbacks;
  private readonly log: Logger;

  constructor(client: GatewayClient, callbacks: DrainCallbacks, log: Logger) {
    this.client = client;
    this.callbacks = callbacks;
    this.log = log;
  }

  /**
   * Starts the pod's drain unless it is running or backing off after a
   * failure; true when it was started now. `closesPerSecond` is the fleet's
   * budget, shared by all its drains.
   */
  ensure(fleet: string, pod: string, closesPerSecond: number, prepare: () => Promise<DrainJob>, now = Date.now()): boolean {
    const id = `${fleet}/${pod}`;
    if (this.running.has(id)) return false;
    if ((this.failures.get(id)?.retryAt ?? 0) > now) return false;
    const budget = this.budget(fleet, closesPerSecond);
    const state = { fleet, stop: false };
    this.running.set(id, state);
    void (async () => {
      try {
        const job = await prepare();
        const outcome = await drainPod(job.target, job.settings, {
          client: this.client,
          registry: job.registry,
          log: this.log,
          stopped: () => state.stop,
          onStepFailed: (error) => this.callbacks.onStepFailed(fleet, pod, error),
          budget,
        });
        this.failures.delete(id);
        this.log.info('drain_ended', { fleet, pod, outcome });
      } catch (err) {
        const count = (this.failures.get(id)?.count ?? 0) + 1;
        const retryInMs = backoffDelay(count, DRAIN_BACKOFF);
        this.failures.set(id, { count, retryAt: Date.now() + retryInMs });
        this.log.warn('drain_failed', { fleet, pod, error: errorText(err), retryInMs });
        if (!state.stop) this.callbacks.onFailed(fleet, pod, errorText(err), retryInMs);
      } finally {
        this.running.delete(id);
        if (!state.stop) this.callbacks.onDone(fleet);
      }
    })();
    return true;
  }

  /** Milliseconds until a failed drain of `pod` may start again; undefined when it is not backing off. */
  retryInMs(fleet: string, pod: string, now = Date.now()): number | undefined {
    const retryAt = this.failures.get(`${fleet}/${pod}`)?.retryAt;
    return retryAt !== undefined && retryAt > now ? retryAt - now : undefined;
  }

  isRunning(fleet: string, pod: string): boolean {
    return this.running.has(`${fleet}/${pod}`);
  }

  /** Stops one pod's drain (it ended by the reconciler's measure: empty, timed out or gone). */
  stop(fleet: string, pod: string): void {
    const id = `${fleet}/${pod}`;
    const state = this.running.get(id);
    if (state !== undefined) state.stop = true;
    this.failures.delete(id);
  }

  stopFleet(fleet: string): void {
    for (const state of this.running.values()) if (state.fleet === fleet) state.stop = true;
    for (const id of this.failures.keys()) if (id.startsWith(`${fleet}/`)) this.failures.delete(id);
    this.budgets.delete(fleet);
  }

  stopAll(): void {
    for (const state of this.running.values()) state.stop = true;
  }

  private budget(fleet: string, closesPerSecond: number): TokenBucket {
    let budget = this.budgets.get(fleet);
    if (budget === undefined || budget.rate.perSecond !== closesPerSecond) {
      // A changed budget applies to drains started from now on; running ones keep theirs until they end.
      budget = new TokenBucket({ perSecond: closesPerSecond, burst: 1 });
      this.budgets.set(fleet, budget);
    }
    return budget;
  }
}
