/**
 * The drain tasks this operator runs, at most one per pod. The reconciler
 * calls `ensure` for every pod in status.drainingPods on each pass, so a new
 * leader resumes the drains its predecessor recorded; when a task ends the
 * fleet is queued again to remove the pod.
 */
import { drainPod, type DrainSettings, type DrainTarget } from '../drain/pod-drain.ts';
import type { GatewayClient } from '../gateway-client/gateway-client.ts';
import type { FleetRegistry } from '../registry/fleet-registry.ts';
import { errorText, type Logger } from '../log.ts';

export interface DrainJob {
  target: DrainTarget;
  settings: DrainSettings;
  registry: FleetRegistry;
}

export class Drains {
  private readonly running = new Map<string, { fleet: string; stop: boolean }>();
  private readonly client: GatewayClient;
  private readonly onDone: (fleet: string) => void;
  private readonly log: Logger;

  constructor(client: GatewayClient, onDone: (fleet: string) => void, log: Logger) {
    this.client = client;
    this.onDone = onDone;
    this.log = log;
  }

  /** Starts the pod's drain unless it is running; true when it was started now. */
  ensure(fleet: string, pod: string, prepare: () => Promise<DrainJob>): boolean {
    const id = `${fleet}/${pod}`;
    if (this.running.has(id)) return false;
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
        });
        this.log.info('drain_ended', { fleet, pod, outcome });
      } catch (err) {
        this.log.warn('drain_failed', { fleet, pod, error: errorText(err) });
      } finally {
        this.running.delete(id);
        if (!state.stop) this.onDone(fleet);
      }
    })();
    return true;
  }

  isRunning(fleet: string, pod: string): boolean {
    return this.running.has(`${fleet}/${pod}`);
  }

  /** Stops one pod's drain (it ended by the reconciler's measure: empty, timed out or gone). */
  stop(fleet: string, pod: string): void {
    const state = this.running.get(`${fleet}/${pod}`);
    if (state !== undefined) state.stop = true;
  }

  stopFleet(fleet: string): void {
    for (const state of this.running.values()) if (state.fleet === fleet) state.stop = true;
  }

  stopAll(): void {
    for (const state of this.running.values()) state.stop = true;
  }
}
