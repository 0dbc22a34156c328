/**
 * Watches the objects the operator cares about and turns every change into
 * a work-queue key (namespace/name of the IMGateway concerned). A watch that
 * fails (including 410 Gone when its resource version is too old) is started
 * again with a fresh list after a short backoff: the reconciler is level
 * based, so a relist loses nothing.
 */
import {
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  makeInformer,
  type Informer,
  type KubeConfig,
  type KubernetesObject,
  type ObjectCache,
  type V1Deployment,
  type V1Pod,
} from '@kubernetes/client-node';
import { errorText, type Logger } from '../log.ts';
import { GROUP, PLURAL, VERSION, type IMGateway } from '../api/v1alpha1/types.ts';
import { INSTANCE_LABEL, MANAGED_BY_SELECTOR } from '../resources/labels.ts';

export interface Caches {
  gateways: ObjectCache<IMGateway>;
  deployments: ObjectCache<V1Deployment>;
  pods: ObjectCache<V1Pod>;
}

export class Informers {
  readonly caches: Caches;
  private readonly informers: Array<Informer<KubernetesObject>>;
  private readonly log: Logger;
  private stopped = false;

  constructor(kc: KubeConfig, namespace: string | undefined, enqueue: (key: string) => void, log: Logger) {
    this.log = log;
    const custom = kc.makeApiClient(CustomObjectsApi);
    const apps = kc.makeApiClient(AppsV1Api);
    const core = kc.makeApiClient(CoreV1Api);
    const scope = namespace === undefined ? '' : `/namespaces/${namespace}`;
    const gateways = makeInformer<IMGateway>(
      kc,
      `/apis/${GROUP}/${VERSION}${scope}/${PLURAL}`,
      () =>
        (namespace === undefined
          ? custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL })
          : custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: PLURAL })) as never,
    );
    const deployments = makeInformer<V1Deployment>(
      kc,
      `/apis/apps/v1${scope}/deployments`,
      () =>
        namespace === undefined
          ? apps.listDeploymentForAllNamespaces({ labelSelector: MANAGED_BY_SELECTOR })
          : apps.listNamespacedDeployment({ namespace, labelSelector: MANAGED_BY_SELECTOR }),
      MANAGED_BY_SELECTOR,
    );
    const pods = makeInformer<V1Pod>(
      kc,
      `/api/v1${scope}/pods`,
      () =>
        namespace === undefined
          ? core.listPodForAllNamespaces({ labelSelector: MANAGED_BY_SELECTOR })
          : core.listNamespacedPod({ namespace, labelSelector: MANAGED_BY_SELECTOR }),
      MANAGED_BY_SELECTOR,
    );
    const ownKey = (obj: KubernetesObject): void => enqueue(`${obj.metadata?.namespace}/${obj.metadata?.name}`);
    // Deployments and pods belong to the IMGateway named by their instance label.
    const ownerKey = (obj: KubernetesObject): void => {
      const instance = obj.metadata?.labels?.[INSTANCE_LABEL];
      if (instance !== undefined) enqueue(`${obj.metadata?.namespace}/${instance}`);
    };
    for (const verb of ['add', 'update', 'delete'] as const) {
      gateways.on(verb, ownKey);
      deployments.on(verb, ownerKey);
      pods.on(verb, ownerKey);
    }
    this.caches = { gateways, deployments, pods };
    this.informers = [gateways, deployments, pods] as unknown as Array<Informer<KubernetesObject>>;
    for (const [name, informer] of [['imgateways', gateways], ['deployments', deployments], ['pods', pods]] as const) {
      (informer as Informer<KubernetesObject>).on('error', (err?: unknown) => this.restart(name, informer as Informer<KubernetesObject>, err));
    }
  }

  async start(): Promise<void> {
    await Promise.all(this.informers.map((i) => i.start()));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.allSettled(this.informers.map((i) => i.stop()));
  }

  private restart(name: string, informer: Informer<KubernetesObject>, err: unknown): void {
    if (this.stopped) return;
    this.log.warn('watch_failed', { resource: name, error: errorText(err) });
    setTimeout(() => {
      if (this.stopped) return;
      informer.start().catch((e: unknown) => this.restart(name, informer, e));
    }, 1000).unref();
  }
}
