import { describe, expect, it } from 'vitest';
import { withDefaults, type IMGatewaySpec } from '../src/api/v1alpha1/types.ts';
import { decideFleet, fleetLoad, type FleetLoad } from '../src/scaling/fleet-decision.ts';
import { emptyHistory } from '../src/scaling/history.ts';
import { REQUIRED_GATEWAY } from './support/spec.ts';

const T0 = Date.UTC(2026, 0, 1);
const load = (name: string, connections: number | undefined, terminating = false) => ({ name, connections, ready: true, terminating, createdAt: 0 });
const spec = (overrides: Partial<IMGatewaySpec> = {}) =>
  withDefaults({ gateway: REQUIRED_GATEWAY, minReplicas: 1, maxReplicas: 10, targetConnectionsPerPod: 100, behavior: { scaleDown: { stabilizationWindowSeconds: 0 } }, ...overrides });
/** A history a full scale-down window old, so nothing holds a scale-down back. */
const settled = () => ({ ...emptyHistory(), since: T0 - 3_600_000 });

describe('fleetLoad', () => {
  it('counts a serving pod whose load is unknown as carrying the target', () => {
    expect(fleetLoad([load('a', 10), load('b', undefined), load('c', 5)], [], 100)).toEqual({ known: 15, unknown: 1, serving: 3, unknownAsFull: 115 });
  });

  it('counts draining pods’ connections (their clients move to the others) but not terminating ones', () => {
    const result = fleetLoad([load('a', 10), load('d', 4), load('t', 50, true)], [{ name: 'd', startedAt: '2026-01-01T00:00:00Z', connectionsAtStart: 9 }], 100);
    expect(result).toEqual({ known: 14, unknown: 0, serving: 1, unknownAsFull: 14 });
  });
});

describe('decideFleet', () => {
  const loadOf = (known: number, unknown: number, serving: number): FleetLoad => ({ known, unknown, serving, unknownAsFull: known + unknown * 100 });

  it('does not scale down on account of a pod whose load cannot be read', () => {
    // 3 pods, 20 connections on the two that answer: counted idle, the third would make 1 pod enough.
    const decision = decideFleet({ spec: spec(), paused: false, current: 3, load: loadOf(20, 1, 3), history: settled(), now: T0 });
    expect(decision.desired).toBe(2);
    const allKnown = decideFleet({ spec: spec(), paused: false, current: 3, load: loadOf(20, 0, 3), history: settled(), now: T0 });
    expect(allKnown.desired).toBe(1);
  });

  it('holds at least spec.fallbackReplicas when not one pod answers, never below what runs', () => {
    const up = decideFleet({ spec: spec({ fallbackReplicas: 5 }), paused: false, current: 3, load: loadOf(0, 3, 3), history: settled(), now: T0 });
    expect(up).toMatchObject({ desired: 5, reason: 'FallbackReplicas' });
    const hold = decideFleet({ spec: spec({ fallbackReplicas: 2 }), paused: false, current: 4, load: loadOf(0, 4, 4), history: settled(), now: T0 });
    expect(hold.desired).toBe(4);
  });

  it('holds the fleet while paused, and records nothing', () => {
    const history = settled();
    const decision = decideFleet({ spec: spec(), paused: true, current: 6, load: loadOf(0, 0, 6), history, now: T0 });
    expect(decision).toMatchObject({ desired: 6, reason: 'Paused' });
    expect(decision.history).toBe(history);
  });

  it('follows spec.replicas, and remembers it so that handing back waits out the scale-down window', () => {
    const manual = decideFleet({ spec: spec({ replicas: 8, behavior: {} }), paused: false, current: 8, load: loadOf(0, 0, 8), history: settled(), now: T0 });
    expect(manual).toMatchObject({ desired: 8, reason: 'ManualReplicas' });
    const handedBack = decideFleet({ spec: spec({ behavior: {} }), paused: false, current: 8, load: loadOf(0, 0, 8), history: manual.history, now: T0 + 1000 });
    expect(handedBack).toMatchObject({ desired: 8, reason: 'ScaleDownStabilized' });
    const later = decideFleet({ spec: spec({ behavior: {} }), paused: false, current: 8, load: loadOf(0, 0, 8), history: handedBack.history, now: T0 + 301_000 });
    expect(later.desired).toBe(1);
  });
});
