/**
 * The fleet's desired serving pods from everything that may decide it, in
 * order: a manual spec.replicas, the pause annotation, the fallback count
 * when not one pod's load can be read, else the autoscaler on the fleet's
 * load with each unreadable pod counted as fully loaded. Pure: the
 * reconciler reads, calls this, and writes.
 */
import { PAUSE_ANNOTATION, type DrainingPod, type ResolvedIMGatewaySpec } from '../api/v1alpha1/types.ts';
import { decideReplicas, recordManualReplicas } from './desired-replicas.ts';
import type { ScalingHistory } from './history.ts';
import type { PodLoad } from './victims.ts';

/** A fleet's connections as the scaling decision counts them. */
export interface FleetLoad {
  /** Connections of the pods that answered (draining ones included: their clients move to the others). */
  known: number;
  /** Serving pods (not draining, not terminating) whose load could not be read. */
  unknown: number;
  serving: number;
  /** known, with each unknown pod counted at the target: never lower than the truth because a pod was unreadable. */
  unknownAsFull: number;
}

export function fleetLoad(loads: readonly PodLoad[], draining: readonly DrainingPod[], targetConnectionsPerPod: number): FleetLoad {
  const drained = new Set(draining.map((d) => d.name));
  const present = loads.filter((p) => !p.terminating);
  const serving = present.filter((p) => !drained.has(p.name));
  const known = present.reduce((sum, p) => sum + (p.connections ?? 0), 0);
  const unknown = serving.filter((p) => p.connections === undefined).length;
  return { known, unknown, serving: serving.length, unknownAsFull: known + unknown * targetConnectionsPerPod };
}

export interface FleetDecisionInput {
  spec: ResolvedIMGatewaySpec;
  /** The PAUSE_ANNOTATION is "true". */
  paused: boolean;
  /** status.desiredReplicas, else the Deployment's replicas, else 0. */
  current: number;
  load: FleetLoad;
  history: ScalingHistory;
  now: number;
}

export interface FleetDecision {
  desired: number;
  /** The history to keep in status.scalingHistory. */
  history: ScalingHistory;
  /** For the Scaling condition. */
  reason: string;
  message: string;
}

export function decideFleet(input: FleetDecisionInput): FleetDecision {
  const { spec, current, load, history, now } = input;
  if (spec.replicas !== undefined) {
    // Handing scaling back later waits out the scale-down window from the manual count.
    return {
      desired: spec.replicas,
      history: recordManualReplicas(history, spec.behavior, current, spec.replicas, now),
      reason: 'ManualReplicas',
      message: `spec.replicas is set to ${spec.replicas}`,
    };
  }
  if (input.paused) return { desired: current, history, reason: 'Paused', message: `the ${PAUSE_ANNOTATION} annotation holds the fleet at ${current}` };
  if (load.serving > 0 && load.unknown === load.serving && spec.fallbackReplicas !== undefined) {
    const desired = Math.max(current, spec.fallbackReplicas);
    return { desired, history, reason: 'FallbackReplicas', message: `no serving pod answered GET /stats: holding at ${desired} (spec.fallbackReplicas ${spec.fallbackReplicas}, never below what runs)` };
  }
  const decision = decideReplicas({
    currentReplicas: current,
    // A pod whose load cannot be read counts as fully loaded: it never makes the fleet look idle.
    activeConnections: load.unknownAsFull,
    targetConnectionsPerPod: spec.targetConnectionsPerPod,
    minReplicas: spec.minReplicas,
    maxReplicas: spec.maxReplicas,
    behavior: spec.behavior,
    history,
    now,
  });
  return { desired: decision.desiredReplicas, history: decision.history, reason: decision.reason, message: decision.message };
}
