/**
 * A drain is recorded on the pod it empties, before the pod is touched: the
 * pod is the one object that exists exactly as long as the drain matters, so
 * any leader (a new one after a failover included) finds every drain in
 * progress by listing the fleet's pods, level-based, and resumes it with its
 * original deadline. status.drainingPods only reports these annotations.
 */
import type { V1Pod } from '@kubernetes/client-node';
import type { DrainingPod } from '../api/v1alpha1/types.ts';
import { parseTime } from '../api/v1alpha1/time.ts';

/** RFC 3339 time the drain began. */
export const DRAIN_STARTED_ANNOTATION = 'imgateway.io/drain-started-at';
/** Open connections when the drain began, for the report. */
export const DRAIN_CONNECTIONS_ANNOTATION = 'imgateway.io/drain-connections-at-start';

/** The drain recorded on a pod, or undefined when it is not being drained. */
export function drainOf(pod: V1Pod): DrainingPod | undefined {
  const annotations = pod.metadata?.annotations;
  const startedAt = annotations?.[DRAIN_STARTED_ANNOTATION];
  if (startedAt === undefined) return undefined;
  const connections = Number(annotations?.[DRAIN_CONNECTIONS_ANNOTATION] ?? 0);
  return { name: pod.metadata!.name!, startedAt, connectionsAtStart: Number.isSafeInteger(connections) && connections >= 0 ? connections : 0 };
}

/** The annotations that record `drain` on its pod. */
export function drainAnnotations(drain: DrainingPod): Record<string, string> {
  return { [DRAIN_STARTED_ANNOTATION]: drain.startedAt, [DRAIN_CONNECTIONS_ANNOTATION]: String(drain.connectionsAtStart) };
}

/** The drains recorded on `pods`, oldest first. */
export function drainsOf(pods: readonly V1Pod[]): DrainingPod[] {
  return pods
    .map(drainOf)
    .filter((d): d is DrainingPod => d !== undefined)
    .sort((a, b) => (parseTime(a.startedAt) ?? 0) - (parseTime(b.startedAt) ?? 0) || (a.name < b.name ? -1 : 1));
}
