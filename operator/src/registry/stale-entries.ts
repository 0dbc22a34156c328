/**
 * Which registry entries are stale: their node is not a pod of the fleet
 * (a Terminating pod still counts: it drains its sockets after SIGTERM and
 * its entries are live until it is gone). An entry must look stale in two
 * sweeps in a row, unchanged, before it is deleted, so a pod the operator's
 * cache has not seen yet cannot lose its fresh entries. A sweep is fed page
 * by page: only suspects are remembered, never the whole registry.
 */
import type { RegistryEntry } from './fleet-registry.ts';

export class StaleEntryTracker {
  /** key -> mod revision it had when first seen stale. */
  private suspects = new Map<string, string>();
  private next = new Map<string, string>();

  /** Starts a sweep: suspects not seen again by `finish` are forgotten. */
  begin(): void {
    this.next = new Map();
  }

  /** The entries of this page to delete now; remembers the other stale ones for the next sweep. */
  page(entries: readonly RegistryEntry[], podNodes: ReadonlySet<string>): RegistryEntry[] {
    const confirmed: RegistryEntry[] = [];
    for (const entry of entries) {
      if (podNodes.has(entry.node)) continue;
      if (this.suspects.get(entry.key) === entry.modRevision) confirmed.push(entry);
      else this.next.set(entry.key, entry.modRevision);
    }
    return confirmed;
  }

  /** Ends a sweep that read every page; a sweep that failed part way keeps the old suspects instead. */
  finish(): void {
    this.suspects = this.next;
  }

  /** One whole sweep over entries already read. */
  sweep(entries: readonly RegistryEntry[], podNodes: ReadonlySet<string>): RegistryEntry[] {
    this.begin();
    const confirmed = this.page(entries, podNodes);
    this.finish();
    return confirmed;
  }
}
