import { describe, expect, it } from 'vitest';
import type { DrainingPod } from '../src/api/v1alpha1/types.ts';
import { chooseVictims, drainPlan, startDrains, type PodLoad } from '../src/scaling/victims.ts';

const T0 = Date.UTC(2026, 0, 1);
const at = (seconds: number): number => T0 + seconds * 1000;

function pod(name: string, connections: number | undefined, overrides: Partial<PodLoad> = {}): PodLoad {
  return { name, connections, ready: true, terminating: false, createdAt: at(0), ...overrides };
}

function draining(name: string, startedSeconds: number, connectionsAtStart = 10): DrainingPod {
  return { name, startedAt: new Date(at(startedSeconds)).toISOString(), connectionsAtStart };
}

const names = (pods: readonly PodLoad[]): string[] => pods.map((p) => p.name);

describe('chooseVictims', () => {
  it('picks the pods with the fewest connections', () => {
    const pods = [pod('a', 900), pod('b', 10), pod('c', 500), pod('d', 40), pod('e', 700)];
    expect(names(chooseVictims({ pods, draining: [], desiredReplicas: 3, minReplicas: 2 }))).toEqual(['b', 'd']);
  });

  it('breaks ties by the newest pod first, then by name', () => {
    const pods = [
      pod('old', 5, { createdAt: at(0) }),
      pod('new-b', 5, { createdAt: at(100) }),
      pod('new-a', 5, { createdAt: at(100) }),
      pod('mid', 5, { createdAt: at(50) }),
    ];
    expect(names(chooseVictims({ pods, draining: [], desiredReplicas: 1, minReplicas: 1 }))).toEqual(['new-a', 'new-b', 'mid']);
  });

  it('chooses nothing when the fleet is not above the desired count', () => {
    const pods = [pod('a', 1), pod('b', 2), pod('c', 3)];
    expect(chooseVictims({ pods, draining: [], desiredReplicas: 3, minReplicas: 2 })).toEqual([]);
    expect(chooseVictims({ pods, draining: [], desiredReplicas: 5, minReplicas: 2 })).toEqual([]);
  });

  it('counts pods already draining as gone and never picks them again', () => {
    const pods = [pod('a', 0), pod('b', 100), pod('c', 200), pod('d', 300), pod('e', 400)];
    const victims = chooseVictims({ pods, draining: [draining('a', 0), draining('b', 0)], desiredReplicas: 2, minReplicas: 2 });
    expect(names(victims)).toEqual(['c']);
  });

  it('drains unready pods first, the most restarted first, and skips terminating ones', () => {
    const pods = [
      pod('a', 50),
      pod('unready', 0, { ready: false }),
      pod('crash-looping', 0, { ready: false, restarts: 7 }),
      pod('leaving', 0, { terminating: true }),
      pod('b', 60),
      pod('c', 70),
      pod('d', 80),
    ];
    // Serving: a, unready, crash-looping, b, c, d (the terminating one is leaving anyway): three above the desired 3.
    expect(names(chooseVictims({ pods, draining: [], desiredReplicas: 3, minReplicas: 2 }))).toEqual(['crash-looping', 'unready', 'a']);
  });

  it('never leaves fewer than minReplicas ready pods, even when asked for fewer', () => {
    const pods = [pod('unready', 0, { ready: false }), pod('a', 5), pod('b', 6)];
    // The unready pod may go: two ready pods stay.
    expect(names(chooseVictims({ pods, draining: [], desiredReplicas: 1, minReplicas: 2 }))).toEqual(['unready']);
    const twoReady = [pod('a', 5), pod('b', 6), pod('c', 7, { ready: false })];
    expect(names(chooseVictims({ pods: twoReady, draining: [], desiredReplicas: 1, minReplicas: 2 }))).toEqual(['c']);
    const more = [pod('a', 5), pod('b', 6), pod('c', 7)];
    expect(names(chooseVictims({ pods: more, draining: [], desiredReplicas: 1, minReplicas: 2 }))).toEqual(['a']);
  });

  it('keeps minReplicas serving when the desired count is below it', () => {
    const pods = [pod('a', 1), pod('b', 2), pod('c', 3), pod('d', 4)];
    expect(names(chooseVictims({ pods, draining: [], desiredReplicas: 0, minReplicas: 2 }))).toEqual(['a', 'b']);
  });

  it('prefers pods whose load is known over pods it could not ask', () => {
    const pods = [pod('unknown', undefined), pod('busy', 5000), pod('quiet', 3)];
    expect(names(chooseVictims({ pods, draining: [], desiredReplicas: 1, minReplicas: 1 }))).toEqual(['quiet', 'busy']);
  });

  it('does not reorder the pods it was given', () => {
    const pods = [pod('a', 9), pod('b', 1)];
    chooseVictims({ pods, draining: [], desiredReplicas: 1, minReplicas: 1 });
    expect(names(pods)).toEqual(['a', 'b']);
  });
});

describe('startDrains', () => {
  it('records each victim with the start time in whole seconds and its connections', () => {
    const entries = startDrains([pod('a', 12), pod('b', undefined)], at(10) + 750);
    expect(entries).toEqual([
      { name: 'a', startedAt: '2026-01-01T00:00:10Z', connectionsAtStart: 12 },
      { name: 'b', startedAt: '2026-01-01T00:00:10Z', connectionsAtStart: 0 },
    ]);
  });
});

describe('drainPlan', () => {
  const timeout = 300;

  it('finishes a drain when its pod has no connections left', () => {
    const plan = drainPlan([draining('a', 0)], [pod('a', 0, { ready: false })], timeout, at(5));
    expect(plan.finished).toEqual([{ pod: draining('a', 0), end: 'empty' }]);
    expect(plan.inProgress).toEqual([]);
    expect(plan.nextTimeoutInMs).toBeUndefined();
  });

  it('finishes a drain only once more than timeoutSeconds have passed', () => {
    const pods = [pod('a', 40, { ready: false })];
    expect(drainPlan([draining('a', 0)], pods, timeout, at(300)).inProgress).toHaveLength(1);
    expect(drainPlan([draining('a', 0)], pods, timeout, at(300) + 1).finished).toEqual([{ pod: draining('a', 0), end: 'timedOut' }]);
  });

  it('finishes a drain whose pod is gone or terminating', () => {
    const plan = drainPlan([draining('a', 0), draining('b', 0)], [pod('b', 40, { terminating: true })], timeout, at(1));
    expect(plan.finished.map((f) => [f.pod.name, f.end])).toEqual([['a', 'gone'], ['b', 'gone']]);
  });

  it('keeps waiting for a pod it could not ask, until the timeout', () => {
    const pods = [pod('a', undefined, { ready: false })];
    expect(drainPlan([draining('a', 0)], pods, timeout, at(100)).inProgress).toHaveLength(1);
    expect(drainPlan([draining('a', 0)], pods, timeout, at(301)).finished[0]?.end).toBe('timedOut');
  });

  it('treats an unreadable start time as timed out rather than waiting forever', () => {
    const entry = { name: 'a', startedAt: 'yesterday', connectionsAtStart: 1 };
    expect(drainPlan([entry], [pod('a', 40)], timeout, at(0)).finished).toEqual([{ pod: entry, end: 'timedOut' }]);
  });

  it('resumes after a restart with the deadline recorded, and says when to look again', () => {
    const entries = [draining('a', 0), draining('b', 200)];
    const pods = [pod('a', 40, { ready: false }), pod('b', 80, { ready: false })];
    const plan = drainPlan(entries, pods, timeout, at(250));
    expect(plan.inProgress.map((p) => p.name)).toEqual(['a', 'b']);
    expect(plan.nextTimeoutInMs).toBe(50_001);
  });
});
