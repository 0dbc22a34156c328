/**
 * Status conditions per the Kubernetes API conventions (metav1.Condition):
 * one entry per type; lastTransitionTime moves only when status changes, so
 * it tells how long the fleet has been in its present state; reason and
 * message always describe the latest observation.
 */
import type { Condition, ConditionStatus } from './types.ts';
import { formatTime } from './time.ts';

export interface ConditionUpdate {
  type: string;
  status: ConditionStatus;
  /** CamelCase, as the CRD's pattern requires. */
  reason: string;
  message: string;
  observedGeneration?: number;
}

/** The CRD's patterns and limits for metav1.Condition. */
const REASON = /^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/;
const REASON_MAX = 1024;
const MESSAGE_MAX = 32768;

/**
 * Returns the conditions with `update` set: replaces the entry of the same
 * type in place (order kept) or appends one. A reason the API server would
 * reject throws here, where the mistake is, rather than failing the status
 * write; a message too long is cut to fit.
 */
export function setCondition(conditions: readonly Condition[] | undefined, update: ConditionUpdate, now: Date | number): Condition[] {
  if (!REASON.test(update.reason) || update.reason.length > REASON_MAX) {
    throw new RangeError(`condition reason ${JSON.stringify(update.reason)} is not CamelCase of at most ${REASON_MAX} characters`);
  }
  const list = conditions ?? [];
  const existing = list.find((c) => c.type === update.type);
  const changed = existing === undefined || existing.status !== update.status || existing.lastTransitionTime === '';
  const next: Condition = {
    type: update.type,
    status: update.status,
    ...(update.observedGeneration !== undefined ? { observedGeneration: update.observedGeneration } : {}),
    lastTransitionTime: changed ? formatTime(now) : existing.lastTransitionTime,
    reason: update.reason,
    message: fitMessage(update.message),
  };
  return existing === undefined ? [...list, next] : list.map((c) => (c === existing ? next : c));
}

export function findCondition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

export function isConditionTrue(conditions: readonly Condition[] | undefined, type: string): boolean {
  return findCondition(conditions, type)?.status === 'True';
}

export function removeCondition(conditions: readonly Condition[] | undefined, type: string): Condition[] {
  return (conditions ?? []).filter((c) => c.type !== type);
}

/** The schema's maxLength counts characters (code points), not UTF-16 units. */
function fitMessage(message: string): string {
  if (message.length <= MESSAGE_MAX) return message;
  const chars = Array.from(message);
  return chars.length <= MESSAGE_MAX ? message : chars.slice(0, MESSAGE_MAX).join('');
}
