/**
 * The operator against a real control plane (kube-apiserver, the controller
 * manager, etcd), with gateway pods run by a stand-in kubelet as real gateway
 * processes on their own loopback IPs, on real Redis, etcd and Kafka.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request as httpsRequest } from 'node:https';
import {
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubernetesObjectApi,
  loadAllYaml,
  type KubernetesObject,
  PatchStrategy,
  PolicyV1Api,
  NetworkingV1Api,
  setHeaderOptions,
  type KubeConfig,
  type V1Pod,
} from '@kubernetes/client-node';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IMGateway } from '../operator/src/api/v1alpha1/types.ts';
import { FleetClient } from './fleet/fleet-client.ts';
import { eventually, startServices } from './fleet/fleet.ts';
import { startControlPlane, type ControlPlane } from './k8s/control-plane.ts';
import { GatewayPods } from './k8s/gateway-pods.ts';
import { startKubelet, type Kubelet } from './k8s/kubelet.ts';
import { requireTool } from './k8s/tools.ts';
import { OperatorProcess } from './k8s/operator-process.ts';
import { CHART, imgatewayApi, installForOperator, RELEASE } from './k8s/operator-install.ts';
import { DEFAULT_ETCD_PREFIX } from '../gateway/src/config/defaults.ts';

const NS = 'imgw-e2e';
const NAME = 'chat';
const HTTP_PORT = 18080;
const MERGE = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const api = imgatewayApi(NS);
const LEASE = `${RELEASE}-im-gateway-operator-leader`;

describe('the operator on a real kube-apiserver', () => {
  let services: Awaited<ReturnType<typeof startServices>>;
  let cp: ControlPlane;
  let kc: KubeConfig;
  let kubelet: Kubelet;
  let pods: GatewayPods;
  let custom: CustomObjectsApi;
  let apps: AppsV1Api;
  let core: CoreV1Api;
  const operators: OperatorProcess[] = [];
  const clients: FleetClient[] = [];

  const get = async (): Promise<IMGateway> => (await custom.getNamespacedCustomObject({ ...api, name: NAME })) as IMGateway;
  const patchSpec = (spec: object): Promise<unknown> => custom.patchNamespacedCustomObject({ ...api, name: NAME, body: { spec } }, MERGE);
  const gatewayPods = async (): Promise<V1Pod[]> =>
    (await core.listNamespacedPod({ namespace: NS, labelSelector: `app.kubernetes.io/instance=${NAME}` })).items.filter(
      (p) => p.metadata?.deletionTimestamp === undefined,
    );
  const readyUrls = (): string[] => kubelet.running().filter((p) => p.ready).map((p) => `ws://${p.ip}:${HTTP_PORT}/ws`);
  const readyPods = () => kubelet.running().filter((p) => p.ready).sort((a, b) => a.name.localeCompare(b.name));
  /** A client whose first connect goes to `podName`; reconnects go to any ready pod, as through a Service. */
  const connectTo = async (user: string, podName: string): Promise<FleetClient> => {
    const pod = kubelet.running().find((p) => p.name === podName)!;
    let first = true;
    const c = new FleetClient(user, 'phone', () => (first ? ((first = false), [`ws://${pod.ip}:${HTTP_PORT}/ws`]) : readyUrls()));
    clients.push(c);
    await c.connect();
    return c;
  };
  const connect = (user: string, podIndex: number): Promise<FleetClient> => connectTo(user, readyPods()[podIndex]!.name);
  const closeAll = async (): Promise<void> => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
  };

  beforeAll(async () => {
    [services, cp] = await Promise.all([startServices(), startControlPlane()]);
    kc = cp.kubeConfig();
    custom = kc.makeApiClient(CustomObjectsApi);
    apps = kc.makeApiClient(AppsV1Api);
    core = kc.makeApiClient(CoreV1Api);
    const env = await installForOperator(cp, kc, NS, 1);
    pods = new GatewayPods(kc);
    kubelet = await startKubelet({
      kubeConfig: kc,
      namespace: NS,
      labelSelector: 'app.kubernetes.io/name=im-gateway',
      run: pods.run,
      ready: pods.ready,
      stop: pods.stop,
      readinessPeriodMs: 300,
      onError: (err, pod) => process.stderr.write(`kubelet: ${pod.metadata?.name}: ${String(err)}\n`),
    });
    operators.push(new OperatorProcess('operator-a', env), new OperatorProcess('operator-b', env));
    await operators[0]!.start();
    await eventually('operator-a leads', () => operators[0]!.logged('leader_elected'));
    await operators[1]!.start();
  }, 240_000);

  afterAll(async () => {
    // The operators' logs, for a failure report.
    for (const o of operators) writeFileSync(join(tmpdir(), `imgw-e2e-${o.identity}.log`), o.logs.join('\n'));
    await Promise.allSettled(clients.map((c) => c.close()));
    await Promise.allSettled(operators.map((o) => o.kill()));
    await kubelet?.stop();
    await pods?.stopAll();
    await cp?.stop();
    await Promise.allSettled([services?.redis.stop(), services?.etcd.stop(), services?.kafka.stop()]);
  }, 60_000);

  const fleetSpec = () => ({
    image: 'localhost/im-gateway:e2e',
    minReplicas: 2,
    maxReplicas: 4,
    targetConnectionsPerPod: 3,
    behavior: { scaleDown: { stabilizationWindowSeconds: 3 } },
    drain: { timeoutSeconds: 60, closesPerSecond: 2 },
    gateway: {
      etcdEndpoints: services.backends.etcdEndpoints,
      redisUrl: services.backends.redisUrl,
      kafkaBrokers: services.backends.kafkaBrokers,
      jwt: { secretRef: { name: 'gateway-secrets', key: 'jwt' } },
      adminTokenSecretRef: { name: 'gateway-secrets', key: 'admin' },
      grpcApiTokensSecretRef: { name: 'gateway-secrets', key: 'grpc' },
      fleetSecretRef: { name: 'gateway-secrets', key: 'fleet' },
      limits: { rateLimitMessages: 100_000 },
      // Long leases: a crashed gateway's entries stay until the operator sweeps them.
      env: [{ name: 'ETCD_LEASE_TTL_SECONDS', value: '120' }],
    },
    service: { port: HTTP_PORT, grpcPort: 19093 },
    networkPolicy: { enabled: true, grpcFromNamespaces: ['chat-backend'] },
  });

  it('accepts every object the Helm chart renders in a server-side dry run', async () => {
    const objects = KubernetesObjectApi.makeApiClient(kc);
    const render = (release: string, ...set: string[]): KubernetesObject[] =>
      loadAllYaml(execFileSync(requireTool('helm'), ['template', release, CHART, '--namespace', NS, ...set], { encoding: 'utf8' })).filter(
        (doc): doc is KubernetesObject => doc !== null && typeof doc === 'object',
      );
    const docs = [
      ...render('dry', '--set', 'fleet.enabled=true', '--set-json', `fleet.spec=${JSON.stringify(fleetSpec())}`, '--set', 'serviceMonitor.enabled=false'),
      ...render('dry-ns', '--set', 'operator.scope=Namespace'),
    ];
    const kinds = new Set<string>();
    for (const doc of docs) {
      kinds.add(doc.kind!);
      // dryRun=All runs validation and admission (the CRD's schema and CEL rules included) without storing.
      await objects.create(doc, undefined, 'All');
    }
    expect([...kinds]).toEqual(expect.arrayContaining(['ClusterRole', 'ClusterRoleBinding', 'Deployment', 'IMGateway', 'Role', 'RoleBinding', 'ServiceAccount']));
  });

  it('refuses invalid IMGateway specs with clear messages', async () => {
    const attempt = (spec: object) =>
      custom.createNamespacedCustomObject({ ...api, body: { apiVersion: 'imgateway.io/v1alpha1', kind: 'IMGateway', metadata: { name: 'bad' }, spec } });
    const refusal = async (spec: object): Promise<string> => {
      try {
        await attempt(spec);
      } catch (err) {
        expect((err as { code?: number }).code).toBe(422);
        return String((err as { body?: unknown }).body);
      }
      throw new Error('accepted an invalid spec');
    };
    expect(await refusal({ ...fleetSpec(), minReplicas: 5, maxReplicas: 2 })).toContain('minReplicas must not exceed maxReplicas');
    expect(await refusal({ ...fleetSpec(), targetConnectionsPerPod: 0 })).toMatch(/targetConnectionsPerPod.*greater than or equal to 1/);
    const { redisUrl: _dropped, ...gatewayWithoutRedis } = fleetSpec().gateway;
    expect(await refusal({ ...fleetSpec(), gateway: gatewayWithoutRedis })).toContain('set exactly one of redisUrl and redisUrlSecretRef');
    expect(await refusal({ ...fleetSpec(), gateway: { ...fleetSpec().gateway, jwt: {} } })).toContain('set exactly one of jwt.secretRef');
  });

  it('creates the Deployment, Services, PodDisruptionBudget and NetworkPolicy it owns and fills status and printer columns', async () => {
    await custom.createNamespacedCustomObject({ ...api, body: { apiVersion: 'imgateway.io/v1alpha1', kind: 'IMGateway', metadata: { name: NAME }, spec: fleetSpec() } });
    const gw = await get();
    await eventually('two gateway pods are ready and status says so', async () => {
      const s = (await get()).status;
      return s?.readyReplicas === 2 && s.desiredReplicas === 2 && s.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
    }, 60_000);
    const owner = { kind: 'IMGateway', name: NAME, uid: gw.metadata!.uid, controller: true };
    expect((await apps.readNamespacedDeployment({ name: NAME, namespace: NS })).metadata?.ownerReferences).toMatchObject([owner]);
    const [service, grpcService] = await Promise.all([NAME, `${NAME}-grpc`].map((name) => core.readNamespacedService({ name, namespace: NS })));
    expect(service!.metadata?.ownerReferences).toMatchObject([owner]);
    // gRPC never on the public Service: on its own ClusterIP one.
    expect(service!.spec?.ports?.map((p) => p.name)).toEqual(['http']);
    expect(grpcService!.metadata?.ownerReferences).toMatchObject([owner]);
    expect(grpcService!.spec).toMatchObject({ type: 'ClusterIP', ports: [{ name: 'grpc', port: 19093 }] });
    const policy = await kc.makeApiClient(NetworkingV1Api).readNamespacedNetworkPolicy({ name: NAME, namespace: NS });
    expect(policy.metadata?.ownerReferences).toMatchObject([owner]);
    // Written through create and patch alike, the gRPC rule keeps its peers (the model calls `from` `_from`).
    expect(policy.spec?.ingress?.[1]?._from).toHaveLength(3);
    expect(policy.spec?.ingress?.[1]?._from?.[2]).toEqual({ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'chat-backend' } } });
    const pdb = await kc.makeApiClient(PolicyV1Api).readNamespacedPodDisruptionBudget({ name: NAME, namespace: NS });
    expect(pdb.metadata?.ownerReferences).toMatchObject([owner]);
    const status = (await get()).status!;
    expect(status).toMatchObject({ replicas: 2, readyReplicas: 2, desiredReplicas: 2, activeConnections: 0, selector: expect.stringContaining(`app.kubernetes.io/instance=${NAME}`) });
    expect(status.observedGeneration).toBe(gw.metadata!.generation);
    // What `kubectl get imgateways` prints: the server renders the printer columns as a Table.
    const table = (await getJson(cp, `/apis/imgateway.io/v1alpha1/namespaces/${NS}/imgateways`, 'application/json;as=Table;v=v1;g=meta.k8s.io')) as {
      columnDefinitions: Array<{ name: string }>;
      rows: Array<{ cells: unknown[] }>;
    };
    expect(table.columnDefinitions.map((c) => c.name)).toEqual(['Name', 'Replicas', 'Ready', 'Desired', 'Connections', 'Age']);
    expect(table.rows[0]!.cells.slice(0, 5)).toEqual([NAME, 2, 2, 2, 0]);
  }, 90_000);

  it('follows spec.networkPolicy: patches the NetworkPolicy on a change, deletes it when turned off', async () => {
    const networking = kc.makeApiClient(NetworkingV1Api);
    const grpcPeers = async (): Promise<number | null> =>
      networking.readNamespacedNetworkPolicy({ name: NAME, namespace: NS }).then(
        (p) => p.spec?.ingress?.[1]?._from?.length ?? 0,
        (err: { code?: number }) => (err.code === 404 ? null : Promise.reject(err)),
      );
    await patchSpec({ networkPolicy: { enabled: true, grpcFromNamespaces: ['chat-backend', 'billing'] } });
    await eventually('the NetworkPolicy admits the added namespace', async () => (await grpcPeers()) === 4, 15_000);
    await patchSpec({ networkPolicy: { enabled: false } });
    await eventually('the NetworkPolicy is gone', async () => (await grpcPeers()) === null, 15_000);
    await patchSpec({ networkPolicy: { enabled: true, grpcFromNamespaces: ['chat-backend'] } });
    await eventually('the NetworkPolicy is back', async () => (await grpcPeers()) === 3, 15_000);
  }, 60_000);
  it('scales up within one sync period when connections exceed the target', async () => {
    // 9 connections at 3 per pod need 3 pods; the fleet has 2.
    for (let i = 0; i < 9; i++) await connect(`up-${i}`, i % 2);
    const t0 = Date.now();
    await eventually('the Deployment asks for 3 pods', async () => (await apps.readNamespacedDeployment({ name: NAME, namespace: NS })).spec?.replicas === 3, 15_000);
    // One sync period is 1 s here; the connection counts are read on the next pass.
    expect(Date.now() - t0).toBeLessThan(5_000);
    await eventually('3 pods are ready', async () => (await get()).status?.readyReplicas === 3, 30_000);
    expect((await get()).status).toMatchObject({ desiredReplicas: 3, activeConnections: 9 });
  }, 60_000);

  it('scales down after the window, draining the least-loaded pod at the configured rate, losing no acknowledged message', async () => {
    // The new pod gets 3 clients, fewer than the 4 or 5 of the others; then a higher target makes 3 pods too many.
    const loads = new Map(readyPods().map((p) => [p.name, 0]));
    for (const c of clients) {
      const pod = kubelet.running().find((p) => c.connectedTo.includes(`//${p.ip}:`));
      if (pod !== undefined) loads.set(pod.name, (loads.get(pod.name) ?? 0) + 1);
    }
    const victimName = [...loads].find(([, n]) => n === 0)![0];
    // The scale-down waits out its 3 s window: time enough to place the clients below.
    await patchSpec({ targetConnectionsPerPod: 10 });
    const onVictim = await Promise.all([0, 1, 2].map((i) => connectTo(`down-${i}`, victimName)));
    const sender = await connect('down-sender', readyPods().findIndex((p) => p.name !== victimName));
    const acked = new Map<FleetClient, string[]>(onVictim.map((c) => [c, []]));
    let flowing = true;
    const traffic = (async () => {
      for (let i = 0; flowing; i++) {
        const to = onVictim[i % onVictim.length]!;
        acked.get(to)!.push((await sender.send(to.userId, `during drain ${i}`)).msgId);
        await sleep(20);
      }
    })();
    await eventually('a drain of the least-loaded pod is recorded in status', async () => (await get()).status?.drainingPods?.some((d) => d.name === victimName) === true, 20_000);
    const closes: number[] = [];
    await eventually('the victim’s clients were closed with 1012', () => {
      for (const c of onVictim) if (c.closeCodes.includes(1012) && !(c as unknown as { seen?: boolean }).seen) {
        (c as unknown as { seen?: boolean }).seen = true;
        closes.push(Date.now());
      }
      return closes.length === onVictim.length;
    }, 30_000);
    // 3 closes at 2 per second: spread over about a second, not all at once.
    expect(Math.max(...closes) - Math.min(...closes)).toBeGreaterThanOrEqual(600);
    await eventually('the victim pod is gone and 2 pods serve', async () => {
      const left = (await gatewayPods()).map((p) => p.metadata!.name!);
      return !left.includes(victimName) && left.length === 2 && (await get()).status?.drainingPods?.length === 0;
    }, 60_000);
    flowing = false;
    await traffic;
    for (const c of onVictim) {
      await eventually(`${c.userId} reconnected`, () => c.connected, 10_000);
      await c.waitFor(acked.get(c)!, 30_000);
    }
    const events = await core.listNamespacedEvent({ namespace: NS, fieldSelector: `involvedObject.name=${NAME}` });
    expect(events.items.map((e) => e.reason)).toEqual(expect.arrayContaining(['ScaledUp', 'DrainStarted', 'DrainFinished', 'ScaledDown']));
  }, 120_000);

  it('a new leader finishes a drain the old one started', async () => {
    await closeAll();
    // 16 + 14 connections at 40 per pod need 1 pod: the one with 14 is drained, 2 closes a second, 7 s.
    await patchSpec({ minReplicas: 1, targetConnectionsPerPod: 40 });
    const [heavy, light] = readyPods();
    await Promise.all([
      ...Array.from({ length: 16 }, (_, i) => connectTo(`heavy-${i}`, heavy!.name)),
      ...Array.from({ length: 14 }, (_, i) => connectTo(`light-${i}`, light!.name)),
    ]);
    await eventually('the lighter pod is being drained', async () => (await get()).status?.drainingPods?.some((d) => d.name === light!.name) === true, 30_000);
    const lease = await kc.makeApiClient(CoordinationV1Api).readNamespacedLease({ name: LEASE, namespace: NS });
    const leader = operators.find((o) => o.identity === lease.spec?.holderIdentity)!;
    const follower = operators.find((o) => o !== leader)!;
    await leader.kill();
    await eventually('the other operator leads', () => follower.logged('leader_elected'), 20_000);
    await eventually('the drain finished and the pod is gone', async () => {
      const left = (await gatewayPods()).map((p) => p.metadata!.name!);
      return !left.includes(light!.name) && (await get()).status?.drainingPods?.length === 0;
    }, 60_000);
    // The new leader resumed the recorded drain rather than choosing again.
    expect(follower.logs.some((l) => l.includes('DrainFinished') && l.includes(light!.name))).toBe(true);
    await leader.start();
  }, 120_000);

  it('sweeps the registry entries of a gateway that crashed', async () => {
    const etcd = new Etcd3({ hosts: services.backends.etcdEndpoints });
    try {
      const pod = readyPods()[0];
      await connectTo('sweep-0', pod!.name);
      const entriesOf = async (node: string): Promise<string[]> =>
        Object.entries(await etcd.getAll().prefix(`${DEFAULT_ETCD_PREFIX}/`).strings()).filter(([k, v]) => k.endsWith(`/nodes/${node}`) || v.includes(`"node":"${node}"`)).map(([k]) => k);
      expect((await entriesOf(pod!.name)).length).toBeGreaterThan(0);
      const removedBefore = (await get()).status?.staleRegistryEntriesRemoved ?? 0;
      // The process dies (its etcd lease lives on for 120 s) and the pod is deleted, as after a node failure.
      await pods.crash(pod!.name);
      await core.deleteNamespacedPod({ name: pod!.name, namespace: NS, gracePeriodSeconds: 0 });
      await eventually('the crashed pod’s entries are swept', async () => (await entriesOf(pod!.name)).length === 0, 30_000);
      await eventually('status counts what was removed', async () => ((await get()).status?.staleRegistryEntriesRemoved ?? 0) > removedBefore, 10_000);
    } finally {
      etcd.close();
    }
  }, 90_000);

  it('deletes the Deployment, Services, PodDisruptionBudget and NetworkPolicy with the IMGateway', async () => {
    await custom.deleteNamespacedCustomObject({ ...api, name: NAME });
    await eventually('the owned objects are garbage-collected', async () => {
      const gone = async (read: () => Promise<unknown>): Promise<boolean> => read().then(() => false, (err: { code?: number }) => err.code === 404);
      return (
        (await gone(() => apps.readNamespacedDeployment({ name: NAME, namespace: NS }))) &&
        (await gone(() => core.readNamespacedService({ name: NAME, namespace: NS }))) &&
        (await gone(() => core.readNamespacedService({ name: `${NAME}-grpc`, namespace: NS }))) &&
        (await gone(() => kc.makeApiClient(NetworkingV1Api).readNamespacedNetworkPolicy({ name: NAME, namespace: NS }))) &&
        (await gone(() => kc.makeApiClient(PolicyV1Api).readNamespacedPodDisruptionBudget({ name: NAME, namespace: NS })))
      );
    }, 30_000);
  }, 60_000);
});

/** A GET on the API server with the admin token, trusting the test CA. */
function getJson(cp: ControlPlane, path: string, accept: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(`${cp.server}${path}`, { headers: { Authorization: `Bearer ${cp.token}`, Accept: accept }, ca: readFileSync(cp.caFile) }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(body)) : reject(new Error(`GET ${path}: ${res.statusCode} ${body}`))));
    });
    req.on('error', reject);
    req.end();
  });
}
