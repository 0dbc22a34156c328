/**
 * Runs the reconciler over the work queue: informers feed keys in, workers
 * take them out one key at a time, failures come back with backoff, and every
 * fleet is looked at again after its requeue delay even when nothing changed
 * (connection counts move without Kubernetes events).
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { errorText, type Logger } from '../log.ts';
import { isConflict } from '../kube/errors.ts';
import { rateLimited } from '../kube/rate-limit.ts';
import type { OperatorMetrics } from '../health/metrics.ts';
import { GatewayClient } from '../gateway-client/gateway-client.ts';
import { RegistryLoop } from '../registry/registry-loop.ts';
import { Drains } from './drains.ts';
import { Informers } from './informers.ts';
import { Reconciler, type ReconcilerOptions } from './reconciler.ts';
import { WorkQueue } from './work-queue.ts';

export interface ControllerOptions extends ReconcilerOptions {
  /** Watch one namespace, or all when undefined. */
  namespace: string | undefined;
  /** How often the registry loop sweeps each fleet's registry. */
  sweepPeriodMs: number;
  workers: number;
}

export class Controller {
  private readonly queue = new WorkQueue({ baseDelayMs: 200, maxDelayMs: 60_000 });
  private readonly informers: Informers;
  private readonly reconciler: Reconciler;
  private readonly gateways = new GatewayClient();
  private readonly drains: Drains;
  private readonly registry: RegistryLoop;
  private readonly options: ControllerOptions;
  private readonly metrics: OperatorMetrics;
  private readonly log: Logger;
  private workers: Array<Promise<void>> = [];

  constructor(kc: KubeConfig, options: ControllerOptions, metrics: OperatorMetrics, log: Logger) {
    this.options = options;
    this.metrics = metrics;
    this.log = log;
    const api = rateLimited(kc);
    this.informers = new Informers(api, options.namespace, (key) => this.queue.add(key), log);
    this.drains = new Drains(
      this.gateways,
      {
        onDone: (key) => this.queue.add(key),
        onFailed: (key, pod, error, retryInMs) => this.reconciler.reportDrainFailure(key, pod, error, retryInMs),
        onStepFailed: (key, pod, error) => this.reconciler.reportDrainStepFailure(key, pod, error),
      },
      log,
    );
    // The registry runs on a loop of its own: an etcd outage slows sweeps, never scaling.
    this.registry = new RegistryLoop(this.informers.caches, { sweepPeriodMs: options.sweepPeriodMs }, { metrics, log, onChange: (key) => this.queue.add(key) });
    this.reconciler = new Reconciler(api, { caches: this.informers.caches, gateways: this.gateways, drains: this.drains, registry: this.registry, metrics, log, options });
  }

  async start(): Promise<void> {
    await this.informers.start();
    this.registry.start();
    this.workers = Array.from({ length: this.options.workers }, () => this.work());
    this.log.info('controller_started', { namespace: this.options.namespace ?? '(all)', workers: this.options.workers });
  }

  async stop(): Promise<void> {
    this.queue.shutDown();
    this.drains.stopAll();
    await this.informers.stop();
    await Promise.allSettled(this.workers);
    await this.registry.stop();
    this.gateways.close();
  }

  private async work(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === null) return;
      this.metrics.setQueueDepth(this.queue.length);
      const started = performance.now();
      try {
        const { requeueAfterMs } = await this.reconciler.reconcile(key);
        this.queue.forget(key);
        this.queue.addAfter(key, requeueAfterMs);
        this.metrics.reconciles.inc({ result: 'success' });
      } catch (err) {
        this.log.warn('reconcile_failed', { fleet: key, error: errorText(err) });
        // A conflict means the object changed since the pass read it: the pass runs again on the new one, nothing failed.
        if (!isConflict(err)) this.reconciler.reportFailure(key, errorText(err));
        this.metrics.reconciles.inc({ result: 'error' });
        this.queue.addRateLimited(key);
      } finally {
        this.metrics.observeReconcile((performance.now() - started) / 1000);
        this.queue.done(key);
      }
    }
  }
}
