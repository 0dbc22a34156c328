/**
 * How many pods a fleet should run: the autoscaling/v2 HPA algorithm with
 * `behavior`, on one metric, connections per pod.
 *
 *   1. needed      = ceil(activeConnections / targetConnectionsPerPod)
 *   2. recommended = needed clamped to [minReplicas, maxReplicas]
 *   3. stabilized  = current raised to the lowest recommendation of the
 *                    scale-up window, or lowered to the highest of the
 *                    scale-down window (each window includes this one)
 *   4. desired     = stabilized, limited by the rate policies of its
 *                    direction, measured from the replicas at the start of
 *                    each policy's period (from the scale-event history)
 *
 * A current count outside [min, max] moves straight to the nearest bound, as
 * in the HPA controller. The caller owns the history: persist the returned
 * one together with the returned desiredReplicas (status.scalingHistory and
 * status.desiredReplicas, one status write), and pass it back next time.
 *
 * One addition to the HPA: until a full scale-down window has been observed
 * (a new history, or one lost with the status), the current count stands in
 * for the recommendations not seen, so a restarted operator never scales
 * down sooner than the window allows.
 */
import type { ResolvedBehavior, ResolvedScalingRules } from '../api/v1alpha1/types.ts';
import type { ScaleEvent, ScalingHistory } from './history.ts';

export interface ScaleInput {
  /**
   * The fleet's present target: status.desiredReplicas, else the
   * Deployment's replicas, else 0 for a fleet that has none yet.
   */
  currentReplicas: number;
  activeConnections: number;
  targetConnectionsPerPod: number;
  minReplicas: number;
  maxReplicas: number;
  behavior: ResolvedBehavior;
  history: ScalingHistory;
  /** Milliseconds since the epoch. */
  now: number;
}

/** Valid condition reasons; the HPA's own words where it has them. */
export type ScalingReason =
  | 'DesiredWithinRange'
  | 'BelowMinReplicas'
  | 'AboveMaxReplicas'
  | 'TooFewReplicas'
  | 'TooManyReplicas'
  | 'ScaleUpStabilized'
  | 'ScaleDownStabilized'
  | 'ScaleUpLimit'
  | 'ScaleDownLimit'
  | 'ScaleUpDisabled'
  | 'ScaleDownDisabled';

export interface ScaleDecision {
  desiredReplicas: number;
  /** ceil(connections / target), before any bound. */
  neededReplicas: number;
  /** neededReplicas within [min, max]: the value recorded in the history. */
  recommendedReplicas: number;
  /** The last step that changed the count (or DesiredWithinRange). */
  reason: ScalingReason;
  message: string;
  history: ScalingHistory;
}

export function decideReplicas(input: ScaleInput): ScaleDecision {
  checkInput(input);
  const { currentReplicas: current, minReplicas: min, maxReplicas: max, behavior, now } = input;
  const history = prune(input.history, behavior, now);
  const needed = Math.ceil(input.activeConnections / input.targetConnectionsPerPod);
  const recommended = clamp(needed, min, max);
  const base = { neededReplicas: needed, recommendedReplicas: recommended };

  if (current < min || current > max) {
    const desired = clamp(current, min, max);
    return {
      ...base,
      desiredReplicas: desired,
      reason: current < min ? 'BelowMinReplicas' : 'AboveMaxReplicas',
      message: `${current} replicas are outside [${min}, ${max}]: moving to ${desired}`,
      history: recordScale(history, current, desired, now),
    };
  }

  let reason: ScalingReason = 'DesiredWithinRange';
  let message = `${input.activeConnections} connections at ${input.targetConnectionsPerPod} per pod need ${needed} replicas`;
  if (needed > max) {
    reason = 'TooManyReplicas';
    message = `${message}, more than maxReplicas ${max}`;
  } else if (needed < min) {
    reason = 'TooFewReplicas';
    message = `${message}, fewer than minReplicas ${min}`;
  }

  const { scaleUp: up, scaleDown: down } = behavior;
  const bounds = stabilizationBounds(recommended, current, history, behavior, now);
  const stabilized = clamp(current, bounds.upTo, bounds.downTo);
  if (stabilized !== recommended) {
    if (recommended > current) {
      reason = 'ScaleUpStabilized';
      message = `recommending ${recommended} replicas but holding at ${stabilized}: the lowest recommendation of the last ${up.stabilizationWindowSeconds}s`;
    } else {
      reason = 'ScaleDownStabilized';
      message = bounds.young
        ? `recommending ${recommended} replicas but holding at ${stabilized} until a full ${down.stabilizationWindowSeconds}s scale-down window has been observed`
        : `recommending ${recommended} replicas but holding at ${stabilized}: the highest recommendation of the last ${down.stabilizationWindowSeconds}s`;
    }
  }

  let desired = stabilized;
  if (stabilized > current) {
    const limit = Math.min(max, scaleUpLimit(current, history, up, now));
    if (stabilized > limit) {
      desired = limit;
      reason = up.selectPolicy === 'Disabled' ? 'ScaleUpDisabled' : 'ScaleUpLimit';
      message =
        up.selectPolicy === 'Disabled'
          ? `scaling up to ${stabilized} replicas is disabled by behavior.scaleUp.selectPolicy`
          : `scaling up to ${stabilized} replicas faster than behavior.scaleUp allows: ${limit} for now`;
    }
  } else if (stabilized < current) {
    const limit = Math.max(min, scaleDownLimit(current, history, down, now));
    if (stabilized < limit) {
      desired = limit;
      reason = down.selectPolicy === 'Disabled' ? 'ScaleDownDisabled' : 'ScaleDownLimit';
      message =
        down.selectPolicy === 'Disabled'
          ? `scaling down to ${stabilized} replicas is disabled by behavior.scaleDown.selectPolicy`
          : `scaling down to ${stabilized} replicas faster than behavior.scaleDown allows: ${limit} for now`;
    }
  }

  const recorded = recordRecommendation(history, recommended, now);
  return { ...base, desiredReplicas: desired, reason, message, history: recordScale(recorded, current, desired, now) };
}

/**
 * The range the count may move within without leaving a window: up to the
 * lowest recommendation of the scale-up window, down to the highest of the
 * scale-down window. Both include the recommendation being made.
 */
function stabilizationBounds(
  recommended: number,
  current: number,
  history: ScalingHistory,
  behavior: ResolvedBehavior,
  now: number,
): { upTo: number; downTo: number; young: boolean } {
  const upCutoff = now - behavior.scaleUp.stabilizationWindowSeconds * 1000;
  const downCutoff = now - behavior.scaleDown.stabilizationWindowSeconds * 1000;
  let upTo = recommended;
  let downTo = recommended;
  // The latest entry is still in force: it was last recommended just before this pass.
  const list = history.recommendations;
  list.forEach((r, i) => {
    const lastSeen = i === list.length - 1 ? now : r.at;
    if (lastSeen > upCutoff) upTo = Math.min(upTo, r.replicas);
    if (lastSeen > downCutoff) downTo = Math.max(downTo, r.replicas);
  });
  // The history is younger than the scale-down window: what it has not seen may have been higher.
  const young = (history.since ?? now) > downCutoff && current > downTo;
  if (young) downTo = current;
  return { upTo, downTo, young };
}

/** Most replicas the scale-up policies allow now; never below current. */
function scaleUpLimit(current: number, history: ScalingHistory, rules: ResolvedScalingRules, now: number): number {
  if (rules.selectPolicy === 'Disabled') return current;
  const proposals = rules.policies.map((policy) => {
    const start = replicasAtPeriodStart(current, history, policy.periodSeconds, now);
    // Percent rounds up so that a small fleet can grow at all; integer
    // arithmetic keeps 10 pods at 10% from becoming 11.000000000000002.
    return policy.type === 'Pods' ? start + policy.value : Math.ceil((start * (100 + policy.value)) / 100);
  });
  if (proposals.length === 0) return current;
  const limit = rules.selectPolicy === 'Min' ? Math.min(...proposals) : Math.max(...proposals);
  return Math.max(limit, current);
}

/** Fewest replicas the scale-down policies allow now; never above current. */
function scaleDownLimit(current: number, history: ScalingHistory, rules: ResolvedScalingRules, now: number): number {
  if (rules.selectPolicy === 'Disabled') return current;
  const proposals = rules.policies.map((policy) => {
    const start = replicasAtPeriodStart(current, history, policy.periodSeconds, now);
    return policy.type === 'Pods' ? start - policy.value : Math.floor((start * (100 - policy.value)) / 100);
  });
  if (proposals.length === 0) return current;
  // Max means the larger change, which for scaling down is the lower count.
  const limit = rules.selectPolicy === 'Min' ? Math.max(...proposals) : Math.min(...proposals);
  return Math.min(limit, current);
}

/** Replicas when the period began: the changes made within it undone. */
function replicasAtPeriodStart(current: number, history: ScalingHistory, periodSeconds: number, now: number): number {
  const cutoff = now - periodSeconds * 1000;
  const sum = (events: readonly ScaleEvent[]): number => events.reduce((n, e) => (e.at > cutoff ? n + e.change : n), 0);
  return current - sum(history.scaleUps) + sum(history.scaleDowns);
}

/**
 * Each entry is the last time its value was recommended, except the latest,
 * which is in force until a different one comes: a pass that recommends the
 * same again records nothing, so a steady fleet's history (kept in status)
 * does not change from pass to pass. An older entry with the value being
 * recorded can never decide a window the new one is not also in, so it
 * goes: the list stays within maxReplicas - minReplicas + 1 entries.
 */
function recordRecommendation(history: ScalingHistory, replicas: number, now: number): ScalingHistory {
  const list = history.recommendations;
  const latest = list.at(-1);
  if (latest?.replicas === replicas) return history;
  const ended = latest === undefined ? [] : [...list.slice(0, -1), { at: now, replicas: latest.replicas }];
  return { ...history, recommendations: [...ended.filter((r) => r.replicas !== replicas), { at: now, replicas }] };
}

/**
 * A manual spec.replicas recorded as the autoscaler's own recommendation and
 * scale event, so that handing scaling back waits out the scale-down window
 * from the manual count, as if the autoscaler had chosen it.
 */
export function recordManualReplicas(history: ScalingHistory, behavior: ResolvedBehavior, current: number, replicas: number, now: number): ScalingHistory {
  return recordScale(recordRecommendation(prune(history, behavior, now), replicas, now), current, replicas, now);
}

function recordScale(history: ScalingHistory, from: number, to: number, now: number): ScalingHistory {
  if (to > from) return { ...history, scaleUps: [...history.scaleUps, { at: now, change: to - from }] };
  if (to < from) return { ...history, scaleDowns: [...history.scaleDowns, { at: now, change: from - to }] };
  return history;
}

/**
 * Drops what no window or period can see any more, and pulls times from the
 * future (another leader's clock ran ahead) back to now.
 */
function prune(history: ScalingHistory, behavior: ResolvedBehavior, now: number): ScalingHistory {
  const { scaleUp: up, scaleDown: down } = behavior;
  const keepAfter = (seconds: number) => now - seconds * 1000;
  const windowCutoff = keepAfter(Math.max(up.stabilizationWindowSeconds, down.stabilizationWindowSeconds));
  const upCutoff = keepAfter(longestPeriod(up));
  const downCutoff = keepAfter(longestPeriod(down));
  const settle = <T extends { at: number }>(items: readonly T[], cutoff: number): T[] =>
    items.map((item) => (item.at > now ? { ...item, at: now } : item)).filter((item) => item.at > cutoff);
  const recommendations = history.recommendations;
  const inForce = recommendations.at(-1);
  return {
    since: Math.min(history.since ?? now, now),
    // The latest entry is in force whatever its age.
    recommendations: inForce === undefined ? [] : [...settle(recommendations.slice(0, -1), windowCutoff), ...settle([inForce], Number.NEGATIVE_INFINITY)],
    scaleUps: settle(history.scaleUps, upCutoff),
    scaleDowns: settle(history.scaleDowns, downCutoff),
  };
}

function longestPeriod(rules: ResolvedScalingRules): number {
  return rules.policies.reduce((longest, p) => Math.max(longest, p.periodSeconds), 0);
}

function clamp(value: number, low: number, high: number): number {
  return Math.min(Math.max(value, low), high);
}

/** A NaN count would otherwise slip through every comparison and scale the fleet to its minimum. */
function checkInput(input: ScaleInput): void {
  const counts: Array<[string, number]> = [
    ['currentReplicas', input.currentReplicas],
    ['activeConnections', input.activeConnections],
    ['minReplicas', input.minReplicas],
    ['maxReplicas', input.maxReplicas],
  ];
  for (const [name, value] of counts) {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${name} must be a non-negative integer, got ${value}`);
  }
  if (!Number.isSafeInteger(input.targetConnectionsPerPod) || input.targetConnectionsPerPod < 1) {
    throw new RangeError(`targetConnectionsPerPod must be a positive integer, got ${input.targetConnectionsPerPod}`);
  }
  if (input.minReplicas > input.maxReplicas) {
    throw new RangeError(`minReplicas ${input.minReplicas} exceeds maxReplicas ${input.maxReplicas}`);
  }
  if (!Number.isFinite(input.now)) throw new RangeError(`now must be a time in milliseconds, got ${input.now}`);
}
