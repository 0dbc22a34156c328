import { describe, expect, it } from 'vitest';
import { findCondition, isConditionTrue, removeCondition, setCondition } from '../src/api/v1alpha1/conditions.ts';
import { formatTime, parseTime } from '../src/api/v1alpha1/time.ts';
import { API_VERSION, ConditionType, DEFAULTS, withDefaults, type Condition, type IMGatewaySpec } from '../src/api/v1alpha1/types.ts';
import { REQUIRED_GATEWAY } from './support/spec.ts';

const minimal: IMGatewaySpec = { gateway: REQUIRED_GATEWAY };

describe('withDefaults', () => {
  it('fills every default of the CRD into a minimal spec', () => {
    expect(withDefaults(minimal)).toEqual({
      ...minimal,
      image: 'im-gateway:latest',
      resources: { requests: { cpu: '500m', memory: '512Mi' }, limits: { memory: '1Gi' } },
      minReplicas: 2,
      maxReplicas: 10,
      targetConnectionsPerPod: 10_000,
      behavior: {
        scaleUp: {
          stabilizationWindowSeconds: 0,
          selectPolicy: 'Max',
          policies: [
            { type: 'Percent', value: 100, periodSeconds: 15 },
            { type: 'Pods', value: 4, periodSeconds: 15 },
          ],
        },
        scaleDown: { stabilizationWindowSeconds: 300, selectPolicy: 'Max', policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }] },
      },
      drain: { timeoutSeconds: 300, closesPerSecond: 100, maxConcurrent: 1 },
      service: { type: 'ClusterIP', port: 8080, grpcPort: 9093 },
      podDisruptionBudget: { maxUnavailable: 1 },
    });
  });

  it('keeps every value that is set', () => {
    const spec: IMGatewaySpec = {
      ...minimal,
      replicas: 4,
      image: 'registry.example/im-gateway:1.2.3',
      imagePullPolicy: 'IfNotPresent',
      resources: { requests: { cpu: '1' } },
      minReplicas: 3,
      maxReplicas: 30,
      targetConnectionsPerPod: 5000,
      behavior: {
        scaleUp: { stabilizationWindowSeconds: 30, selectPolicy: 'Min', policies: [{ type: 'Pods', value: 1, periodSeconds: 60 }] },
        scaleDown: { stabilizationWindowSeconds: 0, selectPolicy: 'Disabled', policies: [{ type: 'Pods', value: 1, periodSeconds: 60 }] },
      },
      drain: { timeoutSeconds: 60, closesPerSecond: 10, maxConcurrent: 1 },
      service: { type: 'LoadBalancer', port: 80, grpcPort: 9000, annotations: { 'lb.example/internal': 'true' } },
      podDisruptionBudget: { maxUnavailable: '25%' },
    };
    expect(withDefaults(spec)).toEqual(spec);
  });

  it('defaults each field of a partly written behavior on its own', () => {
    const resolved = withDefaults({ ...minimal, behavior: { scaleDown: { stabilizationWindowSeconds: 60 } } });
    expect(resolved.behavior.scaleDown).toEqual({ ...DEFAULTS.scaleDown, stabilizationWindowSeconds: 60 });
    expect(resolved.behavior.scaleUp).toEqual(DEFAULTS.scaleUp);
  });

  it('keeps an explicit empty list, as the API server does', () => {
    const resolved = withDefaults({ ...minimal, behavior: { scaleUp: { policies: [] } } });
    expect(resolved.behavior.scaleUp.policies).toEqual([]);
  });

  it('keeps maxUnavailable 0 rather than treating it as absent', () => {
    expect(withDefaults({ ...minimal, podDisruptionBudget: { maxUnavailable: 0 } }).podDisruptionBudget.maxUnavailable).toBe(0);
  });

  it('neither changes its input nor shares objects with it', () => {
    const spec = structuredClone(minimal);
    const resolved = withDefaults(spec);
    expect(spec).toEqual(minimal);
    resolved.behavior.scaleUp.policies[0]!.value = 1;
    resolved.gateway.etcdEndpoints.push('x');
    expect(spec).toEqual(minimal);
    expect(withDefaults(minimal).behavior.scaleUp.policies[0]!.value).toBe(100);
  });

  it('names the API as the CRD does', () => {
    expect(API_VERSION).toBe('imgateway.io/v1alpha1');
  });
});

describe('setCondition', () => {
  const t1 = Date.UTC(2026, 0, 1, 0, 0, 0);
  const t2 = t1 + 60_000;

  it('adds a condition with the transition time of now, in whole seconds', () => {
    const conditions = setCondition(undefined, { type: 'Ready', status: 'True', reason: 'MinimumReplicasReady', message: '2 of 2 ready', observedGeneration: 3 }, t1 + 999);
    expect(conditions).toEqual([
      { type: 'Ready', status: 'True', observedGeneration: 3, lastTransitionTime: '2026-01-01T00:00:00Z', reason: 'MinimumReplicasReady', message: '2 of 2 ready' },
    ]);
  });

  it('keeps lastTransitionTime while the status stays, updating reason, message and generation', () => {
    const first = setCondition([], { type: 'Scaling', status: 'True', reason: 'ScaleUpLimit', message: 'a', observedGeneration: 1 }, t1);
    const second = setCondition(first, { type: 'Scaling', status: 'True', reason: 'DesiredWithinRange', message: 'b', observedGeneration: 2 }, t2);
    expect(second).toEqual([
      { type: 'Scaling', status: 'True', observedGeneration: 2, lastTransitionTime: formatTime(t1), reason: 'DesiredWithinRange', message: 'b' },
    ]);
  });

  it('moves lastTransitionTime when the status changes', () => {
    const first = setCondition([], { type: 'Draining', status: 'False', reason: 'NoDrains', message: '' }, t1);
    const second = setCondition(first, { type: 'Draining', status: 'True', reason: 'DrainingPods', message: '1 pod' }, t2);
    expect(second[0]?.lastTransitionTime).toBe(formatTime(t2));
    const third = setCondition(second, { type: 'Draining', status: 'Unknown', reason: 'GatewayUnreachable', message: '' }, t2 + 60_000);
    expect(third[0]?.lastTransitionTime).toBe(formatTime(t2 + 60_000));
  });

  it('replaces in place, keeps the other conditions and their order, and leaves its input alone', () => {
    const all = [ConditionType.Ready, ConditionType.Scaling, ConditionType.Draining, ConditionType.RegistryHealthy].reduce<Condition[]>(
      (list, type) => setCondition(list, { type, status: 'True', reason: 'Initial', message: '' }, t1),
      [],
    );
    const before = structuredClone(all);
    const next = setCondition(all, { type: 'Draining', status: 'False', reason: 'NoDrains', message: 'none' }, t2);
    expect(next.map((c) => c.type)).toEqual(['Ready', 'Scaling', 'Draining', 'RegistryHealthy']);
    expect(next[0]).toBe(all[0]);
    expect(findCondition(next, 'Draining')).toMatchObject({ status: 'False', reason: 'NoDrains' });
    expect(all).toEqual(before);
  });

  it('drops observedGeneration when the update has none', () => {
    const first = setCondition([], { type: 'Ready', status: 'True', reason: 'A', message: '', observedGeneration: 5 }, t1);
    expect(setCondition(first, { type: 'Ready', status: 'True', reason: 'A', message: '' }, t2)[0]).not.toHaveProperty('observedGeneration');
  });

  it('gives a condition stored without a transition time one', () => {
    const stored: Condition[] = [{ type: 'Ready', status: 'True', lastTransitionTime: '', reason: 'A', message: '' }];
    expect(setCondition(stored, { type: 'Ready', status: 'True', reason: 'A', message: '' }, t2)[0]?.lastTransitionTime).toBe(formatTime(t2));
  });

  it('rejects a reason the API server would reject', () => {
    for (const reason of ['', 'two words', '1Leading', 'Trailing,', 'x'.repeat(1025)]) {
      expect(() => setCondition([], { type: 'Ready', status: 'True', reason, message: '' }, t1)).toThrow(RangeError);
    }
    expect(() => setCondition([], { type: 'Ready', status: 'True', reason: 'Some_Reason:Detail', message: '' }, t1)).not.toThrow();
  });

  it('cuts a message to the 32768 characters the schema allows', () => {
    const message = '€'.repeat(40_000);
    const [condition] = setCondition([], { type: 'Ready', status: 'False', reason: 'A', message }, t1);
    expect(Array.from(condition!.message)).toHaveLength(32_768);
  });
});

describe('condition lookups', () => {
  const conditions: Condition[] = [
    { type: 'Ready', status: 'True', lastTransitionTime: '2026-01-01T00:00:00Z', reason: 'A', message: '' },
    { type: 'Scaling', status: 'False', lastTransitionTime: '2026-01-01T00:00:00Z', reason: 'B', message: '' },
  ];

  it('tells whether a condition is True, treating a missing one as not', () => {
    expect(isConditionTrue(conditions, 'Ready')).toBe(true);
    expect(isConditionTrue(conditions, 'Scaling')).toBe(false);
    expect(isConditionTrue(conditions, 'Draining')).toBe(false);
    expect(isConditionTrue(undefined, 'Ready')).toBe(false);
  });

  it('removes a condition by type', () => {
    expect(removeCondition(conditions, 'Ready').map((c) => c.type)).toEqual(['Scaling']);
    expect(removeCondition(undefined, 'Ready')).toEqual([]);
  });
});

describe('status times', () => {
  it('are written as metav1.Time writes them', () => {
    expect(formatTime(new Date('2026-03-04T05:06:07.890Z'))).toBe('2026-03-04T05:06:07Z');
    expect(formatTime(Date.UTC(2026, 2, 4, 5, 6, 7))).toBe('2026-03-04T05:06:07Z');
  });

  it('are read back, and an unreadable one is undefined', () => {
    expect(parseTime('2026-03-04T05:06:07Z')).toBe(Date.UTC(2026, 2, 4, 5, 6, 7));
    expect(parseTime('2026-03-04T06:06:07+01:00')).toBe(Date.UTC(2026, 2, 4, 5, 6, 7));
    expect(parseTime('soon')).toBeUndefined();
    expect(parseTime(undefined)).toBeUndefined();
  });
});
