/** Operator settings from the environment, checked at start. */
import { hostname } from 'node:os';

export interface OperatorConfig {
  /** Watch one namespace (OPERATOR_NAMESPACE), or every namespace when unset. */
  namespace: string | undefined;
  leaderElectionNamespace: string;
  leaseName: string;
  identity: string;
  leaseDurationSeconds: number;
  renewDeadlineSeconds: number;
  retryPeriodSeconds: number;
  syncPeriodMs: number;
  sweepPeriodMs: number;
  workers: number;
  healthPort: number;
  healthHost: string;
  kubeconfig: string | undefined;
  /** The operator's own pods (POD_NAMESPACE, OPERATOR_POD_LABELS), admitted to gRPC by the fleets' NetworkPolicies. */
  pods: { namespace: string; labels: Record<string, string> };
  logLevel: 'debug' | 'info' | 'warn' | 'error';
}

export function loadOperatorConfig(env: Record<string, string | undefined>): OperatorConfig {
  const str = (name: string): string | undefined => (env[name]?.trim() ? env[name]!.trim() : undefined);
  const int = (name: string, fallback: number, min: number): number => {
    const raw = str(name);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min) throw new Error(`${name}=${raw}: expected an integer >= ${min}`);
    return value;
  };
  const logLevel = str('LOG_LEVEL') ?? 'info';
  if (!['debug', 'info', 'warn', 'error'].includes(logLevel)) throw new Error(`LOG_LEVEL=${logLevel}: expected debug, info, warn or error`);
  const namespace = str('OPERATOR_NAMESPACE');
  const config: OperatorConfig = {
    namespace,
    leaderElectionNamespace: str('LEADER_ELECTION_NAMESPACE') ?? str('POD_NAMESPACE') ?? namespace ?? 'default',
    leaseName: str('LEADER_ELECTION_LEASE') ?? 'im-gateway-operator',
    identity: str('POD_NAME') ?? `${hostname()}-${process.pid}`,
    leaseDurationSeconds: int('LEASE_DURATION_SECONDS', 15, 2),
    renewDeadlineSeconds: int('RENEW_DEADLINE_SECONDS', 10, 1),
    retryPeriodSeconds: int('RETRY_PERIOD_SECONDS', 2, 1),
    syncPeriodMs: int('SYNC_PERIOD_SECONDS', 10, 1) * 1000,
    sweepPeriodMs: int('SWEEP_PERIOD_SECONDS', 30, 1) * 1000,
    workers: int('WORKERS', 2, 1),
    healthPort: int('HEALTH_PORT', 8081, 0),
    healthHost: str('HEALTH_HOST') ?? '0.0.0.0',
    kubeconfig: str('KUBECONFIG'),
    pods: { namespace: str('POD_NAMESPACE') ?? str('LEADER_ELECTION_NAMESPACE') ?? namespace ?? 'default', labels: labels('OPERATOR_POD_LABELS', str('OPERATOR_POD_LABELS')) },
    logLevel: logLevel as OperatorConfig['logLevel'],
  };
  if (config.renewDeadlineSeconds >= config.leaseDurationSeconds) {
    throw new Error('RENEW_DEADLINE_SECONDS must be below LEASE_DURATION_SECONDS');
  }
  return config;
}

/** `k=v,k=v` (as the chart writes the operator's selector labels); unset is none. */
function labels(name: string, raw: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of raw?.split(',') ?? []) {
    const [key, value, extra] = pair.split('=').map((s) => s.trim());
    if (key === undefined || key === '' || value === undefined || extra !== undefined) throw new Error(`${name}=${raw}: expected key=value pairs separated by commas`);
    out[key] = value;
  }
  return out;
}
