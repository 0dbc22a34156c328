import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { drainAnnotations, drainOf, drainsOf } from '../src/drain/drain-state.ts';

const pod = (name: string, annotations?: Record<string, string>): V1Pod => ({ metadata: { name, ...(annotations !== undefined ? { annotations } : {}) } });

describe('drain state on the pod', () => {
  it('round-trips a drain through the pod’s annotations', () => {
    const drain = { name: 'chat-1', startedAt: '2026-01-01T00:00:05Z', connectionsAtStart: 212 };
    expect(drainOf(pod('chat-1', drainAnnotations(drain)))).toEqual(drain);
  });

  it('reads a pod without the annotation as not draining, and a mangled count as 0', () => {
    expect(drainOf(pod('chat-1'))).toBeUndefined();
    expect(drainOf(pod('chat-1', { 'imgateway.io/drain-started-at': '2026-01-01T00:00:05Z', 'imgateway.io/drain-connections-at-start': 'many' }))?.connectionsAtStart).toBe(0);
  });

  it('lists the fleet’s drains oldest first', () => {
    const pods = [
      pod('b', { 'imgateway.io/drain-started-at': '2026-01-01T00:00:09Z' }),
      pod('idle'),
      pod('a', { 'imgateway.io/drain-started-at': '2026-01-01T00:00:01Z' }),
    ];
    expect(drainsOf(pods).map((d) => d.name)).toEqual(['a', 'b']);
  });
});
