import { describe, expect, it } from 'vitest';
import { DEFAULTS, withDefaults, type ResolvedBehavior, type ScalingRules } from '../src/api/v1alpha1/types.ts';
import { decideReplicas, recordManualReplicas, type ScaleDecision } from '../src/scaling/desired-replicas.ts';
import { decodeHistory, emptyHistory, encodeHistory, type ScalingHistory } from '../src/scaling/history.ts';

const T0 = Date.UTC(2026, 0, 1);
const at = (seconds: number): number => T0 + seconds * 1000;

function behavior(overrides: { scaleUp?: ScalingRules; scaleDown?: ScalingRules } = {}): ResolvedBehavior {
  return withDefaults({
    behavior: overrides,
    gateway: {
      etcdEndpoints: ['etcd:2379'],
      redisUrl: 'redis://redis:6379',
      kafkaBrokers: ['kafka:9092'],
      jwt: { jwksUrl: 'https://issuer.example/jwks' },
      adminTokenSecretRef: { name: 'admin', key: 'token' },
      grpcApiTokensSecretRef: { name: 'grpc-api', key: 'tokens' },
      fleetSecretRef: { name: 'fleet', key: 'secret' },
    },
  }).behavior;
}

const NO_WINDOWS = { scaleUp: { stabilizationWindowSeconds: 0 }, scaleDown: { stabilizationWindowSeconds: 0 } };

/**
 * A fleet driven by the decision as the operator drives it: the target
 * becomes the decision, the history is kept (through its encoded form, as
 * it is kept in status).
 */
class Fleet {
  replicas: number;
  history: ScalingHistory;
  readonly settings: { min: number; max: number; target: number; behavior: ResolvedBehavior };

  constructor(replicas: number, settings: Partial<Fleet['settings']> = {}, history: ScalingHistory = emptyHistory()) {
    this.replicas = replicas;
    this.history = history;
    this.settings = { min: 2, max: 100, target: 10_000, behavior: behavior(), ...settings };
  }

  /** Connections observed at `seconds`; returns the decision and applies it. */
  observe(connections: number, seconds: number): ScaleDecision {
    const decision = decideReplicas({
      currentReplicas: this.replicas,
      activeConnections: connections,
      targetConnectionsPerPod: this.settings.target,
      minReplicas: this.settings.min,
      maxReplicas: this.settings.max,
      behavior: this.settings.behavior,
      history: this.history,
      now: at(seconds),
    });
    this.replicas = decision.desiredReplicas;
    this.history = decodeHistory(encodeHistory(decision.history));
    return decision;
  }
}

describe('the recommendation', () => {
  it('is ceil(connections / targetConnectionsPerPod)', () => {
    const fleet = new Fleet(5, { behavior: behavior(NO_WINDOWS) });
    expect(fleet.observe(50_000, 0).neededReplicas).toBe(5);
    expect(fleet.observe(50_001, 1).neededReplicas).toBe(6);
    expect(fleet.observe(49_999, 2).neededReplicas).toBe(5);
  });

  it('scales an idle fleet to minReplicas when connections drop to 0', () => {
    const fleet = new Fleet(4, { behavior: behavior(NO_WINDOWS) });
    const decision = fleet.observe(0, 0);
    expect(decision.desiredReplicas).toBe(2);
    expect(decision.neededReplicas).toBe(0);
    expect(decision.recommendedReplicas).toBe(2);
    expect(decision.reason).toBe('TooFewReplicas');
  });

  it('never asks for more than maxReplicas, and says so', () => {
    const fleet = new Fleet(10, { max: 10 });
    const decision = fleet.observe(1_000_000, 0);
    expect(decision).toMatchObject({ desiredReplicas: 10, neededReplicas: 100, recommendedReplicas: 10, reason: 'TooManyReplicas' });
    expect(decision.message).toContain('maxReplicas 10');
  });

  it('stays put when the load matches the fleet', () => {
    const decision = new Fleet(3).observe(25_000, 0);
    expect(decision).toMatchObject({ desiredReplicas: 3, reason: 'DesiredWithinRange' });
    expect(decision.message).toBe('25000 connections at 10000 per pod need 3 replicas');
  });
});

describe('a current count outside [minReplicas, maxReplicas]', () => {
  it('brings a new fleet (0 replicas) straight to minReplicas', () => {
    const decision = new Fleet(0).observe(0, 0);
    expect(decision).toMatchObject({ desiredReplicas: 2, reason: 'BelowMinReplicas' });
  });

  it('moves straight to maxReplicas after max was lowered, ignoring rate limits and Disabled', () => {
    const fleet = new Fleet(30, { max: 10, behavior: behavior({ scaleDown: { selectPolicy: 'Disabled' } }) });
    expect(fleet.observe(300_000, 0)).toMatchObject({ desiredReplicas: 10, reason: 'AboveMaxReplicas' });
  });

  it('counts that jump as a scale event for the rate policies', () => {
    const fleet = new Fleet(0);
    fleet.observe(0, 0); // 0 -> 2
    // Period start is 0 pods: +100% of 0 or +4 pods, the larger, is 4.
    expect(fleet.observe(1_000_000, 5)).toMatchObject({ desiredReplicas: 4, reason: 'ScaleUpLimit' });
  });
});

describe('scale-up rate (default: 100% or 4 pods per 15 s, the larger)', () => {
  it('adds at most 4 pods per 15 s to a small fleet', () => {
    const fleet = new Fleet(2);
    const decision = fleet.observe(1_000_000, 0);
    expect(decision.desiredReplicas).toBe(6);
    expect(decision.reason).toBe('ScaleUpLimit');
    expect(decision.message).toContain('faster than behavior.scaleUp allows: 6');
  });

  it('doubles a larger fleet per 15 s', () => {
    expect(new Fleet(10).observe(1_000_000, 0).desiredReplicas).toBe(20);
  });

  it('measures each period from the replicas at its start, not from the current count', () => {
    const fleet = new Fleet(2);
    expect(fleet.observe(1_000_000, 0).desiredReplicas).toBe(6);
    // Within the same 15 s the start is still 2 pods: no more growth.
    expect(fleet.observe(1_000_000, 5)).toMatchObject({ desiredReplicas: 6, reason: 'ScaleUpLimit' });
    expect(fleet.observe(1_000_000, 14.999).desiredReplicas).toBe(6);
    // A period later the start is 6: doubling wins over +4.
    expect(fleet.observe(1_000_000, 15).desiredReplicas).toBe(12);
    expect(fleet.observe(1_000_000, 30).desiredReplicas).toBe(24);
    expect(fleet.observe(1_000_000, 45).desiredReplicas).toBe(48);
    expect(fleet.observe(1_000_000, 60)).toMatchObject({ desiredReplicas: 96, reason: 'ScaleUpLimit' });
    expect(fleet.observe(2_000_000, 75)).toMatchObject({ desiredReplicas: 100, reason: 'TooManyReplicas' });
  });

  it('uses the smaller change with selectPolicy Min', () => {
    const fleet = new Fleet(10, { behavior: behavior({ scaleUp: { selectPolicy: 'Min' } }) });
    expect(fleet.observe(1_000_000, 0).desiredReplicas).toBe(14);
  });

  it('does not scale up at all with selectPolicy Disabled', () => {
    const fleet = new Fleet(2, { behavior: behavior({ scaleUp: { selectPolicy: 'Disabled' } }) });
    const decision = fleet.observe(1_000_000, 0);
    expect(decision).toMatchObject({ desiredReplicas: 2, reason: 'ScaleUpDisabled' });
    expect(fleet.observe(1_000_000, 3600).desiredReplicas).toBe(2);
  });

  it('rounds a percentage up so that a single pod can grow', () => {
    const rules = { policies: [{ type: 'Percent' as const, value: 10, periodSeconds: 60 }] };
    const fleet = new Fleet(1, { min: 1, behavior: behavior({ scaleUp: rules }) });
    expect(fleet.observe(1_000_000, 0).desiredReplicas).toBe(2);
  });

  it('computes percentages exactly (10 pods at 10% is 11, not 12)', () => {
    const rules = { policies: [{ type: 'Percent' as const, value: 10, periodSeconds: 60 }] };
    expect(new Fleet(10, { behavior: behavior({ scaleUp: rules }) }).observe(1_000_000, 0).desiredReplicas).toBe(11);
  });

  it('applies each policy over its own period', () => {
    const rules = {
      selectPolicy: 'Min' as const,
      policies: [
        { type: 'Pods' as const, value: 4, periodSeconds: 15 },
        { type: 'Pods' as const, value: 6, periodSeconds: 60 },
      ],
    };
    const fleet = new Fleet(2, { behavior: behavior({ scaleUp: rules }) });
    expect(fleet.observe(1_000_000, 0).desiredReplicas).toBe(6); // +4 (min of +4, +6)
    expect(fleet.observe(1_000_000, 15).desiredReplicas).toBe(8); // the 60 s policy allows 2 + 6
    expect(fleet.observe(1_000_000, 30).desiredReplicas).toBe(8);
    expect(fleet.observe(1_000_000, 60).desiredReplicas).toBe(12); // the first +4 has left the 60 s period: 6 + 6 and 8 + 4 agree
  });

  it('counts pods removed within the period when limiting a scale-up', () => {
    const fleet = new Fleet(2, {
      behavior: behavior({ ...NO_WINDOWS, scaleDown: { stabilizationWindowSeconds: 0, policies: [{ type: 'Pods', value: 10, periodSeconds: 15 }] } }),
    });
    expect(fleet.observe(1_000_000, 0).desiredReplicas).toBe(6);
    expect(fleet.observe(30_000, 5).desiredReplicas).toBe(3);
    // The period began at 2 pods (+4, -3 since): up to 6 again, not up to 3 + 4 or 2 * 3.
    expect(fleet.observe(1_000_000, 10).desiredReplicas).toBe(6);
  });
});

describe('scale-down rate', () => {
  it('removes up to 100% per 15 s by default, never below minReplicas', () => {
    const fleet = new Fleet(40, { behavior: behavior(NO_WINDOWS) });
    expect(fleet.observe(0, 0)).toMatchObject({ desiredReplicas: 2, reason: 'TooFewReplicas' });
  });

  it('limits removals to the Pods policy per period', () => {
    const rules = { stabilizationWindowSeconds: 0, policies: [{ type: 'Pods' as const, value: 1, periodSeconds: 60 }] };
    const fleet = new Fleet(5, { behavior: behavior({ scaleDown: rules }) });
    expect(fleet.observe(0, 0)).toMatchObject({ desiredReplicas: 4, reason: 'ScaleDownLimit' });
    expect(fleet.observe(0, 30).desiredReplicas).toBe(4);
    expect(fleet.observe(0, 60).desiredReplicas).toBe(3);
    expect(fleet.observe(0, 120).desiredReplicas).toBe(2);
  });

  it('rounds a percentage down, removing at least a pod', () => {
    const rules = { stabilizationWindowSeconds: 0, policies: [{ type: 'Percent' as const, value: 10, periodSeconds: 60 }] };
    expect(new Fleet(5, { behavior: behavior({ scaleDown: rules }) }).observe(0, 0).desiredReplicas).toBe(4);
    expect(new Fleet(50, { behavior: behavior({ scaleDown: rules }) }).observe(0, 0).desiredReplicas).toBe(45);
  });

  it('with selectPolicy Max takes the policy allowing the larger change, with Min the smaller', () => {
    const policies = [
      { type: 'Pods' as const, value: 2, periodSeconds: 60 },
      { type: 'Percent' as const, value: 50, periodSeconds: 60 },
    ];
    const max = new Fleet(20, { behavior: behavior({ scaleDown: { stabilizationWindowSeconds: 0, policies } }) });
    const min = new Fleet(20, { behavior: behavior({ scaleDown: { stabilizationWindowSeconds: 0, policies, selectPolicy: 'Min' } }) });
    expect(max.observe(0, 0).desiredReplicas).toBe(10);
    expect(min.observe(0, 0).desiredReplicas).toBe(18);
  });

  it('does not scale down at all with selectPolicy Disabled', () => {
    const fleet = new Fleet(8, { behavior: behavior({ scaleDown: { stabilizationWindowSeconds: 0, selectPolicy: 'Disabled' } }) });
    expect(fleet.observe(0, 0)).toMatchObject({ desiredReplicas: 8, reason: 'ScaleDownDisabled' });
    expect(fleet.observe(0, 3600).desiredReplicas).toBe(8);
    // Scaling up still works.
    expect(fleet.observe(200_000, 3700).desiredReplicas).toBe(16);
  });
});

describe('scale-down stabilization (default window 300 s: the highest recommendation wins)', () => {
  it('after a spike and a drop, scales down only once the spike leaves the window', () => {
    const fleet = new Fleet(2);
    expect(fleet.observe(50_000, 0).desiredReplicas).toBe(5);
    const held = fleet.observe(5_000, 30);
    expect(held).toMatchObject({ desiredReplicas: 5, recommendedReplicas: 2, reason: 'ScaleDownStabilized' });
    expect(held.message).toContain('highest recommendation of the last 300s');
    // 5 was in force until the pass at 30 s that saw the drop: the window counts from there.
    expect(fleet.observe(5_000, 329).desiredReplicas).toBe(5);
    expect(fleet.observe(5_000, 329.999).desiredReplicas).toBe(5);
    expect(fleet.observe(5_000, 330).desiredReplicas).toBe(2);
  });

  it('steps down through the highest recommendation still in the window, not the latest', () => {
    const fleet = new Fleet(2);
    fleet.observe(80_000, 0); // 8 wanted, 6 allowed
    expect(fleet.observe(80_000, 15).desiredReplicas).toBe(8);
    fleet.observe(40_000, 100); // recommends 4
    fleet.observe(10_000, 200); // recommends 2
    expect(fleet.observe(10_000, 399).desiredReplicas).toBe(8);
    expect(fleet.observe(10_000, 400).desiredReplicas).toBe(4); // the 8 (in force until 100 s) left; the 4 (until 200 s) is the highest left
    expect(fleet.observe(10_000, 499).desiredReplicas).toBe(4);
    expect(fleet.observe(10_000, 500).desiredReplicas).toBe(2);
  });

  it('scales down at once with a window of 0', () => {
    const fleet = new Fleet(2, { behavior: behavior({ scaleDown: { stabilizationWindowSeconds: 0 } }) });
    fleet.observe(50_000, 0);
    expect(fleet.observe(0, 1).desiredReplicas).toBe(2);
  });

  it('does not hold back a scale-up', () => {
    const fleet = new Fleet(5);
    fleet.observe(50_000, 0);
    fleet.observe(20_000, 10);
    expect(fleet.observe(70_000, 20).desiredReplicas).toBe(7);
  });

  it('applies the rate policies to the stabilized count', () => {
    const rules = { policies: [{ type: 'Pods' as const, value: 2, periodSeconds: 15 }] };
    const fleet = new Fleet(10, { behavior: behavior({ scaleDown: rules }) }, { since: at(-600), recommendations: [], scaleUps: [], scaleDowns: [] });
    fleet.observe(100_000, 0);
    fleet.observe(0, 1);
    expect(fleet.observe(0, 301)).toMatchObject({ desiredReplicas: 8, reason: 'ScaleDownLimit' });
  });
});

describe('scale-up stabilization (the lowest recommendation of the window wins)', () => {
  const upWindow = (seconds: number) => behavior({ scaleUp: { stabilizationWindowSeconds: seconds } });

  it('ignores a spike shorter than the window', () => {
    const fleet = new Fleet(2, { behavior: upWindow(60) });
    fleet.observe(10_000, 0);
    const held = fleet.observe(50_000, 30);
    expect(held).toMatchObject({ desiredReplicas: 2, recommendedReplicas: 5, reason: 'ScaleUpStabilized' });
    fleet.observe(10_000, 40);
    expect(fleet.observe(50_000, 61).desiredReplicas).toBe(2); // the low at 40 s is still in the window
  });

  it('scales up once the load has stayed high for the whole window', () => {
    const fleet = new Fleet(2, { behavior: upWindow(60) });
    fleet.observe(10_000, 0);
    fleet.observe(50_000, 30);
    // The low load was in force until the pass at 30 s.
    expect(fleet.observe(50_000, 89).desiredReplicas).toBe(2);
    expect(fleet.observe(50_000, 90).desiredReplicas).toBe(5);
  });

  it('rises to the lowest recommendation in the window, not the highest', () => {
    const fleet = new Fleet(2, { behavior: upWindow(60) });
    fleet.observe(10_000, 0);
    fleet.observe(30_000, 10);
    fleet.observe(50_000, 20);
    expect(fleet.observe(50_000, 70).desiredReplicas).toBe(3);
    expect(fleet.observe(50_000, 80).desiredReplicas).toBe(5);
  });

  it('does not delay the first scale-up of a fresh history', () => {
    expect(new Fleet(2, { behavior: upWindow(60) }).observe(50_000, 0).desiredReplicas).toBe(5);
  });
});

describe('the history', () => {
  it('holds scale-down for a full window when it was lost (operator restart without status)', () => {
    const fleet = new Fleet(8, {}, decodeHistory('not json'));
    const held = fleet.observe(0, 0);
    expect(held).toMatchObject({ desiredReplicas: 8, reason: 'ScaleDownStabilized' });
    expect(held.message).toContain('until a full 300s scale-down window has been observed');
    expect(fleet.observe(0, 299).desiredReplicas).toBe(8);
    expect(fleet.observe(0, 300.001).desiredReplicas).toBe(2);
  });

  it('gives the same decisions whether or not it went through encode and decode', () => {
    const load = [0, 50_000, 120_000, 400_000, 90_000, 30_000, 0, 70_000, 10_000, 0];
    const plain = { replicas: 2, history: emptyHistory() };
    const fleet = new Fleet(2);
    for (let i = 0; i < 200; i++) {
      const connections = load[i % load.length] ?? 0;
      const direct = decideReplicas({
        currentReplicas: plain.replicas,
        activeConnections: connections,
        targetConnectionsPerPod: 10_000,
        minReplicas: 2,
        maxReplicas: 100,
        behavior: behavior(),
        history: plain.history,
        now: at(i * 7),
      });
      plain.replicas = direct.desiredReplicas;
      plain.history = direct.history;
      expect(fleet.observe(connections, i * 7).desiredReplicas).toBe(direct.desiredReplicas);
    }
  });

  it('stays small however often the reconciler runs', () => {
    const fleet = new Fleet(2, { max: 20 });
    for (let second = 0; second < 3600; second++) fleet.observe(((second * 7919) % 200) * 1000, second);
    expect(fleet.history.recommendations.length).toBeLessThanOrEqual(19);
    expect(fleet.history.recommendations.every((r) => r.at > at(3599 - 300))).toBe(true);
    expect(fleet.history.scaleUps.every((e) => e.at > at(3599 - 15))).toBe(true);
    expect(encodeHistory(fleet.history).length).toBeLessThan(2000);
  });

  it('does not change while the recommendation stays the same, so a steady fleet writes no status', () => {
    const fleet = new Fleet(2);
    fleet.observe(30_000, 0);
    // The scale-up's event leaves the rate policies' 15 s period once.
    fleet.observe(30_000, 20);
    const steady = encodeHistory(fleet.history);
    for (let second = 30; second < 1000; second += 10) fleet.observe(30_000, second);
    expect(encodeHistory(fleet.history)).toBe(steady);
  });

  it('keeps a recommendation in force past the window for as long as nothing replaces it', () => {
    const fleet = new Fleet(2);
    fleet.observe(80_000, 0);
    fleet.observe(80_000, 15);
    fleet.observe(80_000, 900);
    // 8 was recommended by every pass up to 900 s: the drop seen at 1000 s waits a full window from there.
    expect(fleet.observe(10_000, 1000).desiredReplicas).toBe(8);
    expect(fleet.observe(10_000, 1299).desiredReplicas).toBe(8);
    expect(fleet.observe(10_000, 1300).desiredReplicas).toBe(2);
  });

  it('hands scaling back from a manual count only after the scale-down window, from that count', () => {
    const fleet = new Fleet(2);
    fleet.observe(20_000, 0);
    // spec.replicas = 9 at 100 s, removed at 200 s, with load for 2 pods.
    fleet.history = recordManualReplicas(fleet.history, fleet.settings.behavior, 2, 9, at(100));
    fleet.replicas = 9;
    fleet.history = recordManualReplicas(fleet.history, fleet.settings.behavior, 9, 9, at(199));
    expect(fleet.observe(20_000, 200)).toMatchObject({ desiredReplicas: 9, reason: 'ScaleDownStabilized' });
    expect(fleet.observe(20_000, 499).desiredReplicas).toBe(9);
    expect(fleet.observe(20_000, 500).desiredReplicas).toBe(2);
  });

  it('treats times from a clock that ran ahead as now', () => {
    const fromTheFuture: ScalingHistory = {
      since: at(-1000),
      recommendations: [{ at: at(100), replicas: 2 }],
      scaleUps: [],
      scaleDowns: [],
    };
    const fleet = new Fleet(2, {}, fromTheFuture);
    // With a 0 s scale-up window a stray low recommendation "in the future" must not block scale-up.
    expect(fleet.observe(50_000, 0).desiredReplicas).toBe(5);
    expect(fleet.history.recommendations.every((r) => r.at <= at(0))).toBe(true);
  });

  it('round-trips through encodeHistory and decodeHistory', () => {
    const history: ScalingHistory = {
      since: at(0),
      recommendations: [{ at: at(1), replicas: 3 }, { at: at(2), replicas: 5 }],
      scaleUps: [{ at: at(1), change: 1 }],
      scaleDowns: [{ at: at(2), change: 2 }],
    };
    expect(decodeHistory(encodeHistory(history))).toEqual(history);
    expect(decodeHistory(encodeHistory(emptyHistory()))).toEqual(emptyHistory());
  });

  it('decodes anything it did not write as an empty history', () => {
    for (const text of [undefined, '', 'null', '[]', '{"v":2,"r":[],"u":[],"d":[]}', '{"v":1,"r":[[1]],"u":[],"d":[]}', '{"v":1,"r":[],"u":[[1,-1]],"d":[]}', '{"v":1,"s":"x","r":[],"u":[],"d":[]}']) {
      expect(decodeHistory(text)).toEqual(emptyHistory());
    }
  });
});

describe('input checks', () => {
  const base = {
    currentReplicas: 2,
    activeConnections: 0,
    targetConnectionsPerPod: 10_000,
    minReplicas: 2,
    maxReplicas: 10,
    behavior: behavior(),
    history: emptyHistory(),
    now: at(0),
  };

  it('refuses a connection count that is not a count, rather than scaling to the minimum', () => {
    expect(() => decideReplicas({ ...base, activeConnections: Number.NaN })).toThrow(RangeError);
    expect(() => decideReplicas({ ...base, activeConnections: -1 })).toThrow(/activeConnections/);
  });

  it('refuses inconsistent bounds and a zero target', () => {
    expect(() => decideReplicas({ ...base, minReplicas: 11 })).toThrow(/exceeds maxReplicas/);
    expect(() => decideReplicas({ ...base, targetConnectionsPerPod: 0 })).toThrow(/targetConnectionsPerPod/);
  });

  it('does not change the history it was given', () => {
    const history: ScalingHistory = { since: at(-10), recommendations: [{ at: at(-5), replicas: 4 }], scaleUps: [], scaleDowns: [] };
    const before = structuredClone(history);
    decideReplicas({ ...base, currentReplicas: 4, activeConnections: 90_000, history });
    expect(history).toEqual(before);
  });

  it('uses the CRD defaults for behavior', () => {
    expect(behavior()).toEqual({ scaleUp: DEFAULTS.scaleUp, scaleDown: DEFAULTS.scaleDown });
  });
});
