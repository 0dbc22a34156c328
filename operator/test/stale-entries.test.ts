import { describe, expect, it } from 'vitest';
import { StaleEntryTracker } from '../src/registry/stale-entries.ts';
import type { RegistryEntry } from '../src/registry/fleet-registry.ts';

const entry = (key: string, node: string, modRevision = '1'): RegistryEntry => ({ key, node, userId: 'u', modRevision });

describe('stale registry entries', () => {
  it('deletes an entry of a node that is gone only when a second sweep still finds it unchanged', () => {
    const tracker = new StaleEntryTracker();
    const live = new Set(['gw-a']);
    const entries = [entry('/k/1', 'gw-a'), entry('/k/2', 'gw-dead')];
    expect(tracker.sweep(entries, live)).toEqual([]);
    expect(tracker.sweep(entries, live)).toEqual([entries[1]]);
  });

  it('spares an entry that changed between sweeps, or whose node came to life', () => {
    const tracker = new StaleEntryTracker();
    tracker.sweep([entry('/k/1', 'gw-new'), entry('/k/2', 'gw-x')], new Set());
    // gw-new was only late in the pod cache; /k/2 was re-registered meanwhile.
    expect(tracker.sweep([entry('/k/1', 'gw-new'), entry('/k/2', 'gw-x', '7')], new Set(['gw-new']))).toEqual([]);
    expect(tracker.sweep([entry('/k/2', 'gw-x', '7')], new Set(['gw-new']))).toEqual([entry('/k/2', 'gw-x', '7')]);
  });
});
