/** The operator's Prometheus metrics. */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

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
  readonly leader = new Gauge({ name: 'im_gateway_operator_leader', help: '1 while this replica holds the leader lease', registers: [this.registry] });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }
}
