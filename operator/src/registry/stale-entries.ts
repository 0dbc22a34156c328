/**
 * Which registry entries are stale: their node is not a live pod of the
 * fleet. An entry must look stale in two sweeps in a row, unchanged, before
 * it is deleted, so a pod the operator's cache has not seen yet cannot lose
 * its fresh entries.
 */
import type { RegistryEntry } from './fleet-registry.ts';

export class StaleEntryTracker {
  /** key -> mod revision it had when first seen stale. */
  private suspects = new Map<string, string>();

  /** The entries to delete now; remembers the rest as suspects for the next sweep. */
  sweep(entries: readonly RegistryEntry[], liveNodes: ReadonlySet<string>): RegistryEntry[] {
    const next = new Map<string, string>();
    const confirmed: RegistryEntry[] = [];
    for (const entry of entries) {
      if (liveNodes.has(entry.node)) continue;
      if (this.suspects.get(entry.key) === entry.modRevision) confirmed.push(entry);
      else next.set(entry.key, entry.modRevision);
    }
    this.suspects = next;
    return confirmed;
  }
}
