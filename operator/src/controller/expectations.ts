/**
 * What the operator wrote and its caches have not shown yet, as
 * controller-runtime's expectations: after a write the reconciler records the
 * resourceVersion the API server returned, and makes no decision for that
 * fleet until every cache holds that version (or a later one), so a pass
 * right after a scale-down never reads the old replicas or pods and drains a
 * second, healthy pod.
 */

/** A write the informers have surely delivered after this long is not waited for any more (the watch may have been restarted). */
const EXPIRY_MS = 30_000;

interface Expected {
  resourceVersion: string;
  /** A delete: the object leaving the cache meets it too. */
  goneMeets: boolean;
  at: number;
}

/** Cache key of an object: `kind/namespace/name`. */
export type ObjectKey = string;

export class Expectations {
  private readonly byFleet = new Map<string, Map<ObjectKey, Expected>>();

  /** After a create, update or patch: the cache must reach `resourceVersion`. */
  written(fleet: string, object: ObjectKey, resourceVersion: string | undefined): void {
    this.record(fleet, object, resourceVersion, false);
  }

  /** After a (graceful) delete: the cache must reach `resourceVersion`, or lose the object. */
  deleted(fleet: string, object: ObjectKey, resourceVersion: string | undefined): void {
    this.record(fleet, object, resourceVersion, true);
  }

  /**
   * The first object of the fleet whose cache is older than the operator's
   * own last write of it, or undefined when every cache has caught up.
   * `cached` gives an object's resourceVersion in the cache (undefined: absent).
   */
  behind(fleet: string, cached: (object: ObjectKey) => string | undefined, now = Date.now()): ObjectKey | undefined {
    const expected = this.byFleet.get(fleet);
    if (expected === undefined) return undefined;
    for (const [object, e] of expected) {
      const seen = cached(object);
      const met = seen === undefined ? e.goneMeets : atLeast(seen, e.resourceVersion);
      if (met || now - e.at > EXPIRY_MS) expected.delete(object);
      else return object;
    }
    if (expected.size === 0) this.byFleet.delete(fleet);
    return undefined;
  }

  forget(fleet: string): void {
    this.byFleet.delete(fleet);
  }

  private record(fleet: string, object: ObjectKey, resourceVersion: string | undefined, goneMeets: boolean): void {
    if (resourceVersion === undefined) return;
    let expected = this.byFleet.get(fleet);
    if (expected === undefined) this.byFleet.set(fleet, (expected = new Map()));
    expected.set(object, { resourceVersion, goneMeets, at: Date.now() });
  }
}

/**
 * resourceVersions are opaque to clients, but the API server's are etcd
 * revisions: integers that only grow. Anything else is compared for equality
 * only, and then waited for until the expiry.
 */
export function atLeast(seen: string, expected: string): boolean {
  if (seen === expected) return true;
  const integer = /^\d{1,30}$/;
  return integer.test(seen) && integer.test(expected) && BigInt(seen) > BigInt(expected);
}
