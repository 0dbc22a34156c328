/**
 * Rollouts within the fleet's reconnect budget. A template change is rolled
 * out by the Deployment (maxSurge 1, maxUnavailable 0), and each old pod
 * drains itself on SIGTERM at DRAIN_CLOSES_PER_SECOND (the fleet's
 * closesPerSecond). Left alone, the Deployment moves to the next pod as soon
 * as the new one is ready, a second or two, so several old pods drain at
 * once and the surviving pods take several budgets of reconnects. The
 * Deployment's minReadySeconds holds each new pod unavailable, and so the
 * next old pod running, for as long as the busiest pod takes to drain within
 * the budget: one old pod drains at a time. During a rollout the pace only
 * rises (the clients of a drained pod reconnect to the others and make them
 * busier); outside one it follows the target load, so a steady fleet's
 * Deployment is not rewritten as connections move.
 */
import type { V1Deployment } from '@kubernetes/client-node';
import type { ResolvedIMGatewaySpec } from '../api/v1alpha1/types.ts';

/** Seconds a pod with `connections` takes to drain within the budget (never less than one at the target load, never more than a drain may last). */
export function rolloutPaceSeconds(spec: ResolvedIMGatewaySpec, connections: number): number {
  const load = Math.max(spec.targetConnectionsPerPod, connections);
  return Math.min(spec.drain.timeoutSeconds, Math.ceil(load / spec.drain.closesPerSecond));
}

/** minReadySeconds for the Deployment: raised to the busiest pod's pace while a rollout runs (or starts now), else the pace at the target load. */
export function minReadySeconds(spec: ResolvedIMGatewaySpec, existing: V1Deployment | undefined, templateChanges: boolean, busiestConnections: number): number {
  const status = existing?.status;
  const rolling =
    templateChanges ||
    (existing !== undefined && ((status?.observedGeneration ?? 0) < (existing.metadata?.generation ?? 0) || (status?.updatedReplicas ?? 0) < (status?.replicas ?? 0)));
  if (!rolling) return rolloutPaceSeconds(spec, 0);
  return Math.max(existing?.spec?.minReadySeconds ?? 0, rolloutPaceSeconds(spec, busiestConnections));
}
