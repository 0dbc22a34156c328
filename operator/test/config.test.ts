import { describe, expect, it } from 'vitest';
import { loadOperatorConfig } from '../src/config.ts';

describe('operator configuration: its own pods, for the NetworkPolicies it writes', () => {
  it('reads POD_NAMESPACE and OPERATOR_POD_LABELS as the chart sets them', () => {
    const config = loadOperatorConfig({ POD_NAMESPACE: 'imgw-system', OPERATOR_POD_LABELS: 'app.kubernetes.io/name=im-gateway-operator,app.kubernetes.io/instance=r1' });
    expect(config.pods).toEqual({ namespace: 'imgw-system', labels: { 'app.kubernetes.io/name': 'im-gateway-operator', 'app.kubernetes.io/instance': 'r1' } });
  });

  it('falls back to the leader-election namespace and no labels (the whole namespace) outside the chart', () => {
    expect(loadOperatorConfig({ LEADER_ELECTION_NAMESPACE: 'ops' }).pods).toEqual({ namespace: 'ops', labels: {} });
  });

  it('refuses labels that are not key=value pairs', () => {
    for (const bad of ['app', 'a=b=c', '=x', 'a=b,,c=d']) expect(() => loadOperatorConfig({ OPERATOR_POD_LABELS: bad })).toThrow(/OPERATOR_POD_LABELS/);
  });
});
