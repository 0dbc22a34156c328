/**
 * How the operator writes the objects an IMGateway owns: server-side apply
 * under its own field manager, with force, so a field someone else changed
 * (a Service selector edited by hand, replicas set by `kubectl scale`) is
 * taken back, and fields others add and the operator never sets are left to
 * them. An object of the same name that this IMGateway does not control is
 * refused, never taken over: the reconciler reports it in a condition.
 *
 * Applying what is already there is a no-op the API server does not store
 * (the resourceVersion stays), so an object is applied when what the
 * operator wants of it changed, and otherwise once per resync period, which
 * bounds how long drift lasts.
 */
import { KubernetesObjectApi, PatchStrategy, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { hashOf } from '../controller/hash.ts';
import { isNotFound } from '../kube/errors.ts';
import { MANAGED_BY } from './labels.ts';

/** The operator's name in metadata.managedFields. */
export const FIELD_MANAGER = MANAGED_BY;

/** An object of the wanted name exists and its controller is not this IMGateway. */
export class ForeignObjectError extends Error {
  readonly object: string;

  constructor(object: string) {
    super(`${object} exists and is not controlled by this IMGateway`);
    this.object = object;
  }
}

/** `Kind namespace/name`, as the condition and events name an object. */
export function objectName(obj: KubernetesObject): string {
  return `${obj.kind} ${obj.metadata?.namespace}/${obj.metadata?.name}`;
}

export class Applier {
  private readonly objects: KubernetesObjectApi;
  private readonly resyncMs: number;
  /** What was last applied per object, and when. */
  private readonly applied = new Map<string, { hash: string; at: number }>();

  constructor(kc: KubeConfig, resyncMs: number) {
    this.objects = KubernetesObjectApi.makeApiClient(kc);
    this.resyncMs = resyncMs;
  }

  /**
   * Applies `desired` (its metadata must carry the controller owner
   * reference of `ownerUid`); resolves with the object as stored, or null
   * when it was applied with the same content within the resync period.
   */
  async apply<T extends KubernetesObject>(ownerUid: string, desired: T, now = Date.now()): Promise<T | null> {
    const name = objectName(desired);
    const hash = hashOf(desired);
    const last = this.applied.get(name);
    if (last !== undefined && last.hash === hash && now - last.at < this.resyncMs) return null;
    const live = await this.read(desired);
    if (live !== undefined && !controlledBy(live, ownerUid)) {
      this.applied.delete(name);
      throw new ForeignObjectError(name);
    }
    const stored = (await this.objects.patch(desired, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply)) as T;
    this.applied.set(name, { hash, at: now });
    return stored;
  }

  /** Deletes the object if this IMGateway controls it (a spec field turned off); a namesake of someone else's is left alone. */
  async deleteIfControlled(ownerUid: string, obj: KubernetesObject): Promise<void> {
    const name = objectName(obj);
    const live = await this.read(obj);
    if (live === undefined || !controlledBy(live, ownerUid)) return;
    this.applied.delete(name);
    try {
      await this.objects.delete(obj);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  /** Drops what is remembered of one namespace/name's objects (the IMGateway is gone). */
  forget(namespace: string, names: readonly string[]): void {
    for (const key of [...this.applied.keys()]) {
      if (names.some((n) => key.endsWith(` ${namespace}/${n}`))) this.applied.delete(key);
    }
  }

  private async read(obj: KubernetesObject): Promise<KubernetesObject | undefined> {
    try {
      return await this.objects.read({ apiVersion: obj.apiVersion!, kind: obj.kind!, metadata: { name: obj.metadata!.name!, namespace: obj.metadata!.namespace! } });
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }
}

function controlledBy(obj: KubernetesObject, ownerUid: string): boolean {
  return obj.metadata?.ownerReferences?.some((o) => o.controller === true && o.uid === ownerUid) === true;
}
