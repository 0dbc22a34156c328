import type { V1Pod } from '@kubernetes/client-node';

/** The pod's Ready condition is True (a draining gateway fails it on purpose). */
export function isPodReady(pod: V1Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
}
