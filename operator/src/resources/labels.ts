/** Labels on everything the operator makes (Kubernetes recommended labels). */

export const MANAGED_BY = 'im-gateway-operator';
export const INSTANCE_LABEL = 'app.kubernetes.io/instance';
export const MANAGED_BY_SELECTOR = `app.kubernetes.io/managed-by=${MANAGED_BY}`;

/** The labels that select one fleet's pods; also the Deployment's selector. */
export function selectorLabels(name: string): Record<string, string> {
  return { 'app.kubernetes.io/name': 'im-gateway', [INSTANCE_LABEL]: name };
}

export function fleetLabels(name: string): Record<string, string> {
  return { ...selectorLabels(name), 'app.kubernetes.io/component': 'gateway', 'app.kubernetes.io/managed-by': MANAGED_BY };
}

export function selectorString(name: string): string {
  return Object.entries(selectorLabels(name))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}
