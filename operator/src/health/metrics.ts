/**
 * The operator's Prometheus metrics. The controller and the registry loop
 * report through the small `observe*`/`set*` functions, so the metric names
 * and buckets live here only (the chart's alerts and dashboard use them).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Reconcile passes take milliseconds to a few seconds (pod /stats calls, API writes). */
const RECONCILE_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** Drains last from seconds to spec.drain.timeoutSeconds (default 300). */
const DRAIN_BUCKETS = [1, 5, 10, 30, 60, 120, 300, 600, 1200, 3600];
/** A sweep is a few paged reads, each with a deadline of seconds. */
const SWEEP_BUCKETS = [0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60];

export class OperatorMetrics {
  readonly registry = new Registry();
  readonly reconciles = new Counter({ name: 'im_gateway_operator_reconciles_total', help: 'Reconcile passes, by result', labelNames: ['result'], registers: [this.registry] });
  readonly staleEntriesRemoved = new Counter({
    name: 'im_gateway_operator_stale_registry_entries_removed_total',
    help: 'Registry entries of departed pods deleted by the sweeper',
    labelNames: ['namespace', 'name'],
    registers: [this.registry],
  });
  readonly drainsFinished = new Counter({ name: 'im_gateway_operator_drains_total', help: 'Pod drains finished, by how they ended', labelNames: ['outcome'], registers: [this.registry] });
  readonly activeConnections = new Gauge({ name: 'im_gateway_operator_fleet_connections', help: 'Active connections of a fleet at the last reconcile', labelNames: ['namespace', 'name'], registers: [this.registry] });
  readonly desiredReplicas = new Gauge({ name: 'im_gateway_operator_fleet_desired_replicas', help: 'Serving pods a fleet should have', labelNames: ['namespace', 'name'], registers: [this.registry] });
  readonly maxReplicas = new Gauge({ name: 'im_gateway_operator_fleet_max_replicas', help: 'spec.maxReplicas of a fleet', labelNames: ['namespace', 'name'], registers: [this.registry] });
  readonly targetConnectionsPerPod = new Gauge({
    name: 'im_gateway_operator_fleet_target_connections_per_pod',
    help: 'spec.targetConnectionsPerPod of a fleet',
    labelNames: ['namespace', 'name'],
    registers: [this.registry],
  });
  readonly leader = new Gauge({ name: 'im_gateway_operator_leader', help: '1 while this replica holds the leader lease', registers: [this.registry] });
  readonly queueDepth = new Gauge({ name: 'im_gateway_operator_work_queue_depth', help: 'Fleets waiting in the work queue', registers: [this.registry] });
  readonly reconcileDuration = new Histogram({
    name: 'im_gateway_operator_reconcile_duration_seconds',
    help: 'Time one reconcile pass of one fleet took',
    buckets: RECONCILE_BUCKETS,
    registers: [this.registry],
  });
  readonly drainDuration = new Histogram({
    name: 'im_gateway_operator_drain_duration_seconds',
    help: 'Time from the start of a pod drain to its end, by how it ended',
    labelNames: ['outcome'],
    buckets: DRAIN_BUCKETS,
    registers: [this.registry],
  });
  readonly statsFailures = new Counter({
    name: 'im_gateway_operator_pod_stats_failures_total',
    help: 'GET /stats calls to gateway pods that failed (the pod counts as fully loaded on scale-down)',
    labelNames: ['namespace', 'name'],
    registers: [this.registry],
  });
  readonly registryHealthy = new Gauge({
    name: 'im_gateway_operator_registry_healthy',
    help: '1 when the last sweep of the fleet registry read every page, 0 when it failed',
    labelNames: ['namespace', 'name'],
    registers: [this.registry],
  });
  readonly registrySweepDuration = new Histogram({
    name: 'im_gateway_operator_registry_sweep_duration_seconds',
    help: 'Time one sweep of one fleet registry took',
    buckets: SWEEP_BUCKETS,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  observeReconcile(seconds: number): void {
    this.reconcileDuration.observe(seconds);
  }

  setQueueDepth(n: number): void {
    this.queueDepth.set(n);
  }

  /** A drain ended (`empty`, `timed_out`, `stopped`, ...) after `seconds`. */
  observeDrain(seconds: number, outcome: string): void {
    this.drainDuration.observe({ outcome }, seconds);
  }

  /** One `/stats` call of a fleet's pod failed. */
  countStatsFailure(namespace: string, name: string): void {
    this.statsFailures.inc({ namespace, name });
  }

  /** The bounds a fleet scales within: alerts compare connections with maxReplicas x target. */
  setFleetLimits(namespace: string, name: string, maxReplicas: number, targetConnectionsPerPod: number): void {
    this.maxReplicas.set({ namespace, name }, maxReplicas);
    this.targetConnectionsPerPod.set({ namespace, name }, targetConnectionsPerPod);
  }

  observeRegistrySweep(namespace: string, name: string, seconds: number, healthy: boolean): void {
    this.registrySweepDuration.observe(seconds);
    this.registryHealthy.set({ namespace, name }, healthy ? 1 : 0);
  }

  /** A fleet is gone: its labelled series go too, so alerts do not fire on what no longer exists. */
  forgetFleet(namespace: string, name: string): void {
    for (const gauge of [this.activeConnections, this.desiredReplicas, this.maxReplicas, this.targetConnectionsPerPod, this.registryHealthy]) gauge.remove({ namespace, name });
  }
}
