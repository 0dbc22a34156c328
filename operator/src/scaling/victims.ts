/**
 * Scale-down, pod by pod: which pods to empty (the fewest connections, so
 * the fewest clients reconnect) and when an emptying pod may go. The
 * reconciler records the choice on the pod (drain/drain-state.ts) before it
 * touches it, so a restarted operator resumes the same drains with the same
 * deadlines instead of choosing again.
 */
import type { DrainingPod } from '../api/v1alpha1/types.ts';
import { formatTime, parseTime } from '../api/v1alpha1/time.ts';

/** One pod of the fleet as the reconciler sees it. */
export interface PodLoad {
  name: string;
  /** Passes readiness (a draining gateway fails it on purpose). */
  ready: boolean;
  /** deletionTimestamp is set: the pod is leaving whatever is decided here. */
  terminating: boolean;
  /** creationTimestamp, milliseconds since the epoch. */
  createdAt: number;
  /** Open connections; undefined when the pod could not be asked. */
  connections: number | undefined;
  /** Container restarts: a crash-looping pod is drained before a healthy one. */
  restarts?: number;
}

export interface VictimInput {
  pods: readonly PodLoad[];
  /** Drains in progress: already chosen, neither survivors nor candidates. */
  draining: readonly DrainingPod[];
  desiredReplicas: number;
  minReplicas: number;
}

/**
 * The pods to start draining so that max(desired, min) pods remain serving.
 * Unready pods first (they serve nobody new, and one crash-looping goes
 * before a healthy one), the most restarted first among them; then among
 * ready pods the fewest connections first (the fewest clients reconnect); on
 * a tie the newest pod (its clients have had the least time to settle),
 * then by name so the choice is stable. Pods whose load is unknown come last.
 * Never leaves fewer than minReplicas ready pods serving, even if that means
 * draining fewer than asked.
 */
export function chooseVictims(input: VictimInput): PodLoad[] {
  const draining = new Set(input.draining.map((d) => d.name));
  const serving = input.pods.filter((p) => !p.terminating && !draining.has(p.name));
  let readyLeft = serving.filter((p) => p.ready).length;
  const wanted = serving.length - Math.max(input.desiredReplicas, input.minReplicas);
  const victims: PodLoad[] = [];
  for (const pod of [...serving].sort(drainOrder)) {
    if (victims.length >= wanted) break;
    if (pod.ready) {
      if (readyLeft - 1 < input.minReplicas) continue;
      readyLeft--;
    }
    victims.push(pod);
  }
  return victims;
}

function drainOrder(a: PodLoad, b: PodLoad): number {
  if (a.ready !== b.ready) return a.ready ? 1 : -1;
  if (!a.ready && (a.restarts ?? 0) !== (b.restarts ?? 0)) return (b.restarts ?? 0) - (a.restarts ?? 0);
  const load = (p: PodLoad) => p.connections ?? Number.POSITIVE_INFINITY;
  if (load(a) !== load(b)) return load(a) < load(b) ? -1 : 1;
  if (a.createdAt !== b.createdAt) return b.createdAt - a.createdAt;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** The drains of newly chosen pods. */
export function startDrains(victims: readonly PodLoad[], now: number): DrainingPod[] {
  return victims.map((p) => ({ name: p.name, startedAt: formatTime(now), connectionsAtStart: p.connections ?? 0 }));
}

/** Why a drain is over: no connections left, out of time, or the pod is leaving anyway. */
export type DrainEnd = 'empty' | 'timedOut' | 'gone';

export interface DrainPlan {
  finished: Array<{ pod: DrainingPod; end: DrainEnd }>;
  inProgress: DrainingPod[];
  /** Milliseconds until the earliest drain in progress times out; undefined when none is. */
  nextTimeoutInMs: number | undefined;
}

/**
 * Sorts the recorded drains into finished and in progress. A drain is over
 * when its pod has no connections, or began more than timeoutSeconds ago,
 * or its pod is gone or terminating. An unreadable start time counts as
 * timed out: waiting for a deadline that cannot be known would block
 * scale-down for good.
 */
export function drainPlan(draining: readonly DrainingPod[], pods: readonly PodLoad[], timeoutSeconds: number, now: number): DrainPlan {
  const byName = new Map(pods.map((p) => [p.name, p]));
  const plan: DrainPlan = { finished: [], inProgress: [], nextTimeoutInMs: undefined };
  for (const pod of draining) {
    const started = parseTime(pod.startedAt);
    const deadline = started === undefined ? Number.NEGATIVE_INFINITY : started + timeoutSeconds * 1000;
    const end = drainEnd(byName.get(pod.name), deadline, now);
    if (end !== undefined) {
      plan.finished.push({ pod, end });
      continue;
    }
    plan.inProgress.push(pod);
    // Timed out only once past the deadline, hence the extra millisecond.
    const wait = deadline - now + 1;
    plan.nextTimeoutInMs = Math.min(plan.nextTimeoutInMs ?? wait, wait);
  }
  return plan;
}

function drainEnd(live: PodLoad | undefined, deadline: number, now: number): DrainEnd | undefined {
  if (live === undefined || live.terminating) return 'gone';
  if (live.connections === 0) return 'empty';
  if (now > deadline) return 'timedOut';
  return undefined;
}
