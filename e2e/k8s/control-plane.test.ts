// The e2e control plane: a real apiserver and controller manager, and the
// fake kubelet that runs Pods as local servers on loopback addresses.
import { createServer, get, type Server } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ApiextensionsV1Api,
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  KubeConfig,
  RbacAuthorizationV1Api,
  type V1Pod,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, type ControlPlane } from './control-plane.ts';
import { startKubelet } from './kubelet.ts';

const APP_PORT = 8080;

async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
}

function httpGet(ip: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = get({ host: ip, port: APP_PORT, path, timeout: 1000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
  });
}

describe('k8s control plane', () => {
  let cp: ControlPlane;
  let kc: KubeConfig;
  let core: CoreV1Api;

  beforeAll(async () => {
    cp = await startControlPlane();
    kc = cp.kubeConfig();
    core = kc.makeApiClient(CoreV1Api);
  }, 90_000);

  afterAll(async () => {
    await cp?.stop();
  });

  it('authenticates the admin token and enforces RBAC on service accounts', async () => {
    const namespace = 'rbac';
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'reader' } } });
    const saConfig = new KubeConfig();
    saConfig.loadFromString(await cp.serviceAccountKubeconfig(namespace, 'reader'));
    const saCore = saConfig.makeApiClient(CoreV1Api);

    await expect(saCore.listNamespacedConfigMap({ namespace })).rejects.toMatchObject({ code: 403 });
    const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    await rbac.createNamespacedRole({
      namespace,
      body: {
        metadata: { name: 'configmap-reader' },
        rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list'] }],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace,
      body: {
        metadata: { name: 'reader' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'configmap-reader' },
        subjects: [{ kind: 'ServiceAccount', name: 'reader', namespace }],
      },
    });
    // The authorizer's cache follows RBAC objects within moments.
    await eventually('the role binding to apply', async () => (await saCore.listNamespacedConfigMap({ namespace })).items);
    await expect(
      saCore.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'nope' } } }),
    ).rejects.toMatchObject({ code: 403 });
  });

  it('answers a server-side dry run without persisting', async () => {
    const body = { metadata: { name: 'dry', namespace: 'default' }, data: { key: 'value' } };
    const created = await core.createNamespacedConfigMap({ namespace: 'default', body, dryRun: 'All' });
    expect(created.metadata?.name).toBe('dry');
    expect(created.metadata?.creationTimestamp).toBeDefined();
    await expect(core.readNamespacedConfigMap({ namespace: 'default', name: 'dry' })).rejects.toMatchObject({
      code: 404,
    });
    // Validation still runs on a dry run.
    await expect(
      core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'Bad_Name' } }, dryRun: 'All' }),
    ).rejects.toMatchObject({ code: 422 });
  });

  it('establishes a CRD and serves its objects', async () => {
    const extensions = kc.makeApiClient(ApiextensionsV1Api);
    await extensions.createCustomResourceDefinition({
      body: {
        metadata: { name: 'widgets.e2e.example.com' },
        spec: {
          group: 'e2e.example.com',
          scope: 'Namespaced',
          names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
          versions: [
            {
              name: 'v1',
              served: true,
              storage: true,
              schema: {
                openAPIV3Schema: {
                  type: 'object',
                  properties: { spec: { type: 'object', properties: { size: { type: 'integer', minimum: 1 } } } },
                },
              },
            },
          ],
        },
      },
    });
    await eventually('the CRD to be Established', async () => {
      const crd = await extensions.readCustomResourceDefinition({ name: 'widgets.e2e.example.com' });
      return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') || undefined;
    });
    const custom = kc.makeApiClient(CustomObjectsApi);
    const widget = { apiVersion: 'e2e.example.com/v1', kind: 'Widget', metadata: { name: 'w1' }, spec: { size: 3 } };
    // Discovery may lag Established by a moment.
    await eventually('the Widget API to be served', () =>
      custom.createNamespacedCustomObject({ group: 'e2e.example.com', version: 'v1', namespace: 'default', plural: 'widgets', body: widget }),
    );
    await expect(
      custom.createNamespacedCustomObject({
        group: 'e2e.example.com',
        version: 'v1',
        namespace: 'default',
        plural: 'widgets',
        body: { ...widget, metadata: { name: 'w2' }, spec: { size: 0 } },
      }),
    ).rejects.toMatchObject({ code: 422 });
  });

  it('runs Deployment pods on loopback IPs through the fake kubelet', { timeout: 60_000 }, async () => {
    const namespace = 'apps';
    const labels = { app: 'echo' };
    await core.createNamespace({ body: { metadata: { name: namespace } } });

    const servers = new Map<string, Server>();
    const stopped: string[] = [];
    const errors: unknown[] = [];
    const kubelet = await startKubelet({
      kubeConfig: kc,
      namespace,
      labelSelector: 'app=echo',
      async run(pod: V1Pod, ip: string) {
        const name = pod.metadata!.name!;
        const server = createServer((_req, res) => res.end(name));
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(APP_PORT, ip, resolve);
        });
        servers.set(name, server);
      },
      async ready(_pod: V1Pod, ip: string) {
        return (await httpGet(ip, '/healthz')).status === 200;
      },
      async stop(pod: V1Pod) {
        const name = pod.metadata!.name!;
        stopped.push(name);
        await new Promise((resolve) => servers.get(name)?.close(resolve) ?? resolve(undefined));
        servers.delete(name);
      },
      onError: (error) => errors.push(error),
    });

    try {
      const apps = kc.makeApiClient(AppsV1Api);
      await apps.createNamespacedDeployment({
        namespace,
        body: {
          metadata: { name: 'echo' },
          spec: {
            replicas: 2,
            selector: { matchLabels: labels },
            template: {
              metadata: { labels },
              spec: { containers: [{ name: 'echo', image: 'e2e/echo:1', ports: [{ containerPort: APP_PORT }] }] },
            },
          },
        },
      });
      await core.createNamespacedService({
        namespace,
        body: {
          metadata: { name: 'echo' },
          spec: { selector: labels, ports: [{ name: 'http', port: 80, targetPort: APP_PORT }] },
        },
      });

      const readyPods = async (want: number): Promise<V1Pod[] | undefined> => {
        const pods = (await core.listNamespacedPod({ namespace, labelSelector: 'app=echo' })).items;
        const ready = pods.filter(
          (p) =>
            p.status?.phase === 'Running' &&
            !p.metadata?.deletionTimestamp &&
            p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
        );
        return pods.length === want && ready.length === want ? ready : undefined;
      };
      const pods = await eventually('2 ready pods', () => readyPods(2));
      const ips = pods.map((p) => p.status!.podIP!);
      expect(new Set(ips).size).toBe(2);
      for (const pod of pods) {
        expect(pod.spec?.nodeName).toBe(kubelet.nodeName);
        expect(pod.status?.podIP).toMatch(/^127\.0\.\d+\.\d+$/);
        expect(pod.status?.containerStatuses?.[0]?.ready).toBe(true);
        // The workload answers on its pod IP.
        expect((await httpGet(pod.status!.podIP!, '/')).body).toBe(pod.metadata!.name);
      }
      await eventually('the Deployment to report 2 ready replicas', async () =>
        (await apps.readNamespacedDeployment({ namespace, name: 'echo' })).status?.readyReplicas === 2 || undefined,
      );

      // The EndpointSlice controller computes endpoints from the ready pods'
      // IPs. API validation rejects loopback addresses in EndpointSlices, so
      // here they show in the controller's warning on the Service instead.
      const discovery = kc.makeApiClient(DiscoveryV1Api);
      const outcome = await eventually('the EndpointSlice controller to select both pod IPs', async () => {
        const slices = await discovery.listNamespacedEndpointSlice({
          namespace,
          labelSelector: 'kubernetes.io/service-name=echo',
        });
        const addresses = slices.items.flatMap((s) => (s.endpoints ?? []).flatMap((e) => e.addresses));
        if (ips.every((ip) => addresses.includes(ip))) return 'published';
        const events = await core.listNamespacedEvent({
          namespace,
          fieldSelector: 'involvedObject.kind=Service,involvedObject.name=echo,reason=FailedToUpdateEndpointSlices',
        });
        const messages = events.items.map((e) => e.message ?? '').join('\n');
        return ips.every((ip) => messages.includes(`"${ip}"`)) ? 'rejected as loopback' : undefined;
      });
      expect(['published', 'rejected as loopback']).toContain(outcome);

      await apps.patchNamespacedDeploymentScale(
        { namespace, name: 'echo', body: [{ op: 'replace', path: '/spec/replicas', value: 1 }] },
      );
      const remaining = await eventually('1 pod after scale-down', () => readyPods(1));
      expect(stopped).toHaveLength(1);
      expect(pods.map((p) => p.metadata!.name)).toContain(stopped[0]);
      expect(remaining[0]!.metadata!.name).not.toBe(stopped[0]);
      expect(kubelet.running().map((p) => p.name)).toEqual([remaining[0]!.metadata!.name]);

      // Garbage collection: deleting the Deployment removes its ReplicaSet and Pod.
      await apps.deleteNamespacedDeployment({ namespace, name: 'echo' });
      await eventually('the ReplicaSet and Pod to be collected', async () => {
        const sets = await apps.listNamespacedReplicaSet({ namespace });
        const left = await core.listNamespacedPod({ namespace });
        return sets.items.length === 0 && left.items.length === 0 ? true : undefined;
      });
      expect(stopped).toHaveLength(2);
      expect(errors).toEqual([]);
    } finally {
      await kubelet.stop();
      for (const server of servers.values()) server.close();
    }
  });
});
