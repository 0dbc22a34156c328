/**
 * The CRD upgrade path on a real kube-apiserver. Helm installs crds/ on the
 * first install only and never upgrades it, so the chart documents applying
 * the CRD before `helm upgrade` (`kubectl apply --server-side -f
 * <chart>/crds/imgateway.yaml`, NOTES.txt and the chart README). This test
 * installs the CRD as it shipped before spec.podTemplate and friends
 * (e2e/k8s/fixtures), stores an IMGateway under it, then makes the same
 * server-side apply request kubectl makes with the current file, and checks
 * the stored fleet survives and the new fields are kept. Without the apply,
 * the old schema prunes them silently: that is why the step is documented.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ApiextensionsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubernetesObjectApi,
  PatchStrategy,
  loadYaml,
  type V1CustomResourceDefinition,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, type ControlPlane } from './k8s/control-plane.ts';
import type { IMGateway } from '../operator/src/api/v1alpha1/types.ts';
import { REQUIRED_GATEWAY } from '../operator/test/support/spec.ts';

const NS = 'crd-upgrade';
const OLD_CRD = loadYaml<V1CustomResourceDefinition>(readFileSync(new URL('./k8s/fixtures/imgateway-crd-before-pod-template.yaml', import.meta.url), 'utf8'));
const NEW_CRD = loadYaml<V1CustomResourceDefinition>(readFileSync(new URL('../crds/imgateway.yaml', import.meta.url), 'utf8'));
const api = { group: 'imgateway.io', version: 'v1alpha1', plural: 'imgateways', namespace: NS };
const POD_TEMPLATE = { imagePullSecrets: [{ name: 'registry-creds' }], priorityClassName: 'user-facing' };

describe('upgrading the IMGateway CRD', () => {
  let cp: ControlPlane;
  let custom: CustomObjectsApi;
  let extensions: ApiextensionsV1Api;
  let objects: KubernetesObjectApi;

  const established = async (generation: number): Promise<void> => {
    for (let i = 0; i < 100; i++) {
      const crd = await extensions.readCustomResourceDefinition({ name: NEW_CRD.metadata!.name! });
      const ok = crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True');
      if (ok && (crd.metadata?.generation ?? 0) >= generation) return;
      await sleep(100);
    }
    throw new Error('the CRD was not established');
  };
  const read = async (name: string) => (await custom.getNamespacedCustomObject({ ...api, name })) as IMGateway;
  const patchSpec = (name: string, spec: object) =>
    objects.patch({ apiVersion: 'imgateway.io/v1alpha1', kind: 'IMGateway', metadata: { name, namespace: NS }, spec } as never, undefined, undefined, 'test', undefined, PatchStrategy.MergePatch);

  beforeAll(async () => {
    cp = await startControlPlane();
    const kc = cp.kubeConfig();
    custom = kc.makeApiClient(CustomObjectsApi);
    extensions = kc.makeApiClient(ApiextensionsV1Api);
    objects = KubernetesObjectApi.makeApiClient(kc);
    await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: NS } } });
    // What `helm install` did with the earlier chart.
    await extensions.createCustomResourceDefinition({ body: OLD_CRD });
    await established(1);
  }, 120_000);

  afterAll(async () => {
    await cp?.stop();
  });

  it('prunes the new fields while the old CRD is installed, keeps every fleet and takes them after the documented server-side apply', async () => {
    await custom.createNamespacedCustomObject({ ...api, body: { apiVersion: 'imgateway.io/v1alpha1', kind: 'IMGateway', metadata: { name: 'chat' }, spec: { gateway: REQUIRED_GATEWAY, maxReplicas: 20 } } });
    // `helm upgrade` alone: the old schema drops what it does not know, without an error.
    await patchSpec('chat', { podTemplate: POD_TEMPLATE });
    expect((await read('chat')).spec.podTemplate).toBeUndefined();

    // kubectl apply --server-side -f crds/imgateway.yaml: an apply patch under kubectl's field manager.
    const applied = await objects.patch(
      { ...NEW_CRD, metadata: { ...NEW_CRD.metadata, resourceVersion: undefined } } as V1CustomResourceDefinition,
      undefined,
      undefined,
      'kubectl',
      true,
      PatchStrategy.ServerSideApply,
    );
    await established(applied.metadata!.generation!);

    const before = await read('chat');
    expect(before.spec.maxReplicas).toBe(20);
    expect(before.spec.gateway).toEqual(REQUIRED_GATEWAY);
    await patchSpec('chat', { podTemplate: POD_TEMPLATE });
    const after = await read('chat');
    expect(after.spec.podTemplate).toEqual(POD_TEMPLATE);
    // The new defaults apply to the stored object as it is read.
    expect(after.spec.resources).toEqual({ requests: { cpu: '500m', memory: '512Mi' }, limits: { memory: '1Gi' } });
  });
});
