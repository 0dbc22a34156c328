/**
 * One pass from an IMGateway's observed state to its desired state: owned
 * objects in place, replicas decided on connections, scale-down through
 * drains, stale registry entries swept, status written. Idempotent and level
 * based: it is re-run on any change and on a timer, and a restarted operator
 * picks up where status says the last one was (drainingPods, scalingHistory).
 */
import {
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  NetworkingV1Api,
  PatchStrategy,
  PolicyV1Api,
  setHeaderOptions,
  type KubeConfig,
  type V1Deployment,
  type V1Pod,
  type V1Service,
} from '@kubernetes/client-node';
import { findCondition, setCondition } from '../api/v1alpha1/conditions.ts';
import { formatTime, parseTime } from '../api/v1alpha1/time.ts';
import {
  ConditionType,
  GROUP,
  PLURAL,
  VERSION,
  withDefaults,
  type Condition,
  type DrainingPod,
  type IMGateway,
  type IMGatewayStatus,
  type ResolvedIMGatewaySpec,
  type SecretKeyRef,
} from '../api/v1alpha1/types.ts';
import type { GatewayClient } from '../gateway-client/gateway-client.ts';
import { errorText, type Logger } from '../log.ts';
import { isNotFound } from '../kube/errors.ts';
import type { OperatorMetrics } from '../health/metrics.ts';
import type { RegistryLoop } from '../registry/registry-loop.ts';
import {
  buildDeployment,
  buildGrpcService,
  buildNetworkPolicy,
  buildPodDisruptionBudget,
  buildService,
  SPEC_HASH_ANNOTATION,
  type OperatorPods,
} from '../resources/owned.ts';
import { INSTANCE_LABEL, selectorString } from '../resources/labels.ts';
import { decideReplicas } from '../scaling/desired-replicas.ts';
import { decodeHistory, encodeHistory } from '../scaling/history.ts';
import { chooseVictims, drainPlan, startDrains, type PodLoad } from '../scaling/victims.ts';
import type { Caches } from './informers.ts';
import type { Drains } from './drains.ts';
import { EventRecorder } from './events.ts';
import { hashOf } from './hash.ts';

export interface ReconcilerOptions {
  /** How often a fleet is looked at when nothing changes (connections move without events). */
  syncPeriodMs: number;
  /** The operator's own pods, admitted to gRPC by the NetworkPolicies it writes. */
  operatorPods: OperatorPods;
}

/** Lower than any pod's default (0): the ReplicaSet removes these first. */
const DRAINED_POD_DELETION_COST = '-1000';
const DELETION_COST = 'controller.kubernetes.io/pod-deletion-cost';
const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export interface ReconcilerDeps {
  caches: Caches;
  gateways: GatewayClient;
  drains: Drains;
  /** The registry's own loop: sweeps, and the registry client drains read from. */
  registry: RegistryLoop;
  metrics: OperatorMetrics;
  log: Logger;
  options: ReconcilerOptions;
}

export class Reconciler {
  private readonly apps: AppsV1Api;
  private readonly core: CoreV1Api;
  private readonly policy: PolicyV1Api;
  private readonly networking: NetworkingV1Api;
  private readonly custom: CustomObjectsApi;
  private readonly events: EventRecorder;
  private readonly deps: ReconcilerDeps;

  constructor(kc: KubeConfig, deps: ReconcilerDeps) {
    this.deps = deps;
    this.apps = kc.makeApiClient(AppsV1Api);
    this.core = kc.makeApiClient(CoreV1Api);
    this.policy = kc.makeApiClient(PolicyV1Api);
    this.networking = kc.makeApiClient(NetworkingV1Api);
    this.custom = kc.makeApiClient(CustomObjectsApi);
    this.events = new EventRecorder(this.core, deps.log);
  }

  /** Reconciles one `namespace/name`; resolves with when to look again. */
  async reconcile(key: string): Promise<{ requeueAfterMs: number }> {
    const [namespace, name] = key.split('/') as [string, string];
    const { caches, options } = this.deps;
    const gw = caches.gateways.get(name, namespace);
    if (gw === undefined || gw.metadata?.deletionTimestamp !== undefined) {
      // Owned objects go with it (owner references); only local state is left to drop.
      this.forget(key);
      return { requeueAfterMs: options.syncPeriodMs };
    }
    const spec = withDefaults(gw.spec);
    const now = Date.now();
    await this.ensureService(gw, buildService(gw, spec));
    await this.ensureService(gw, buildGrpcService(gw, spec));
    await this.ensurePodDisruptionBudget(gw, spec);
    await this.ensureNetworkPolicy(gw, spec);

    const pods = caches.pods.list(namespace).filter((p) => p.metadata?.labels?.[INSTANCE_LABEL] === name);
    const loads = await this.podLoads(pods, spec);
    const total = loads.reduce((sum, p) => sum + (p.connections ?? 0), 0);
    const status: IMGatewayStatus = gw.status ?? {};
    const deployment = caches.deployments.get(name, namespace);

    // Decide the number of serving pods.
    const current = status.desiredReplicas ?? deployment?.spec?.replicas ?? 0;
    const decision = decideReplicas({
      currentReplicas: current,
      activeConnections: total,
      targetConnectionsPerPod: spec.targetConnectionsPerPod,
      minReplicas: spec.minReplicas,
      maxReplicas: spec.maxReplicas,
      behavior: spec.behavior,
      history: decodeHistory(status.scalingHistory),
      now,
    });
    const desired = spec.replicas ?? decision.desiredReplicas;

    // Replicas move two ways only: up at once, or down one finished drain at a time.
    // R counts every pod the Deployment keeps, serving or draining.
    const plan = drainPlan(status.drainingPods ?? [], loads, spec.drain.timeoutSeconds, now);
    let draining: DrainingPod[] = plan.inProgress;
    let replicas = deployment?.spec?.replicas ?? 0;
    for (const { pod, end } of plan.finished) {
      this.deps.drains.stop(key, pod.name);
      this.deps.metrics.drainsFinished.inc({ outcome: end });
      this.deps.metrics.observeDrain((now - (parseTime(pod.startedAt) ?? now)) / 1000, end);
      if (!loads.some((p) => p.name === pod.name && !p.terminating)) continue;
      // Just before lowering replicas: the drained pod is the one the ReplicaSet removes.
      await this.markForDeletion(namespace, pod.name);
      replicas--;
      this.events.normal(gw, 'DrainFinished', `pod ${pod.name} drained (${end}); removing it`);
    }
    const serving = replicas - draining.length;
    if (desired > serving || replicas === 0) {
      replicas = desired + draining.length;
    } else if (desired < serving) {
      const victims = chooseVictims({
        pods: loads,
        draining: [...draining, ...plan.finished.map((f) => f.pod)],
        desiredReplicas: desired,
        minReplicas: Math.min(spec.minReplicas, desired),
      }).slice(0, serving - desired);
      if (victims.length > 0) {
        // Recorded in status before any pod is touched, so a new leader resumes the same drains.
        draining = [...draining, ...startDrains(victims, now)];
        await this.writeStatus(gw, { ...status, drainingPods: draining });
        for (const v of victims) this.events.normal(gw, 'DrainStarted', `draining pod ${v.name} (${v.connections ?? 'unknown'} connections) before removing it`);
      }
    }
    const scaled = await this.ensureDeployment(gw, spec, deployment, replicas);
    if (scaled !== null) this.events.normal(gw, scaled > 0 ? 'ScaledUp' : 'ScaledDown', `replicas ${replicas - scaled} -> ${replicas}: ${decision.message}`);

    const dueIn = this.runDrains(gw, spec, draining, pods);
    const registry = this.registryReport(gw);
    if (registry.removed > 0) this.events.normal(gw, 'StaleEntriesRemoved', `removed ${registry.removed} registry entries of pods that are gone`);

    const ready = deployment?.status?.readyReplicas ?? 0;
    let conditions: Condition[] | undefined = status.conditions;
    const generation = gw.metadata?.generation;
    conditions = setCondition(conditions, {
      type: ConditionType.Ready,
      status: ready >= Math.min(spec.minReplicas, desired) && ready > 0 ? 'True' : 'False',
      reason: ready > 0 ? 'PodsReady' : 'NoPodsReady',
      message: `${ready} of ${deployment?.status?.replicas ?? 0} pods ready`,
      ...(generation !== undefined ? { observedGeneration: generation } : {}),
    }, now);
    conditions = setCondition(conditions, {
      type: ConditionType.Scaling,
      status: replicas !== (deployment?.status?.replicas ?? 0) ? 'True' : 'False',
      reason: spec.replicas !== undefined ? 'ManualReplicas' : decision.reason,
      message: spec.replicas !== undefined ? `spec.replicas is set to ${spec.replicas}` : decision.message,
    }, now);
    conditions = setCondition(conditions, {
      type: ConditionType.Draining,
      status: draining.length > 0 ? 'True' : 'False',
      reason: draining.length > 0 ? 'DrainingPods' : 'NoDrains',
      message: draining.length > 0 ? `draining ${draining.map((d) => d.name).join(', ')}` : 'no pod is being drained',
    }, now);
    conditions = setCondition(conditions, registry.condition, now);

    const replicasChanged = scaled !== null;
    await this.writeStatus(gw, {
      observedGeneration: generation,
      replicas: deployment?.status?.replicas ?? 0,
      readyReplicas: ready,
      desiredReplicas: desired,
      activeConnections: total,
      drainingPods: draining,
      lastScaleTime: replicasChanged ? formatTime(now) : status.lastScaleTime,
      selector: selectorString(name),
      // A manual spec.replicas makes no scaling decisions: keep the history as it was.
      scalingHistory: spec.replicas !== undefined ? status.scalingHistory : encodeHistory(decision.history),
      staleRegistryEntriesRemoved: (status.staleRegistryEntriesRemoved ?? 0) + registry.removed,
      conditions,
    });
    this.deps.metrics.activeConnections.set({ namespace, name }, total);
    this.deps.metrics.desiredReplicas.set({ namespace, name }, desired);
    this.deps.metrics.setFleetLimits(namespace, name, spec.maxReplicas, spec.targetConnectionsPerPod);
    const next = Math.min(options.syncPeriodMs, plan.nextTimeoutInMs ?? Infinity, dueIn ?? Infinity);
    return { requeueAfterMs: Math.max(100, next) };
  }

  /** Drops what is kept for a fleet that no longer exists. */
  forget(key: string): void {
    this.deps.registry.forget(key);
    this.deps.drains.stopFleet(key);
    const [namespace, name] = key.split('/') as [string, string];
    this.deps.metrics.forgetFleet(namespace, name);
  }

  private async podLoads(pods: V1Pod[], spec: ResolvedIMGatewaySpec): Promise<PodLoad[]> {
    return Promise.all(
      pods.map(async (pod) => {
        const ready = pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
        const ip = pod.status?.podIP;
        let connections: number | undefined;
        if (ip !== undefined && pod.status?.phase === 'Running') {
          try {
            connections = (await this.deps.gateways.stats({ ip, httpPort: spec.service.port, grpcPort: spec.service.grpcPort })).activeConnections;
          } catch {
            connections = undefined;
            this.deps.metrics.countStatsFailure(pod.metadata!.namespace!, pod.metadata!.labels![INSTANCE_LABEL]!);
          }
        }
        return {
          name: pod.metadata!.name!,
          ready,
          terminating: pod.metadata?.deletionTimestamp !== undefined,
          createdAt: parseTime(pod.metadata?.creationTimestamp as unknown as string) ?? 0,
          connections,
        };
      }),
    );
  }

  /** Starts (or resumes) a drain task per draining pod; returns ms until one is due to be looked at. */
  private runDrains(gw: IMGateway, spec: ResolvedIMGatewaySpec, draining: DrainingPod[], pods: V1Pod[]): number | undefined {
    const key = `${gw.metadata!.namespace}/${gw.metadata!.name}`;
    let due: number | undefined;
    for (const entry of draining) {
      const pod = pods.find((p) => p.metadata?.name === entry.name);
      const ip = pod?.status?.podIP;
      if (ip === undefined) continue;
      const started = this.deps.drains.ensure(key, entry.name, async () => {
        const [adminToken, apiToken] = await Promise.all([
          this.secretValue(gw, spec.gateway.adminTokenSecretRef),
          // The gateway accepts any of a comma-separated list: the operator sends the first.
          this.secretValue(gw, spec.gateway.grpcApiTokensSecretRef).then((value) => value.split(',')[0]!.trim()),
        ]);
        return {
          target: { podName: entry.name, address: { ip, httpPort: spec.service.port, grpcPort: spec.service.grpcPort }, startedAt: parseTime(entry.startedAt) ?? Date.now() },
          settings: { closesPerSecond: spec.drain.closesPerSecond, timeoutSeconds: spec.drain.timeoutSeconds, adminToken, apiToken },
          registry: this.deps.registry.registryFor(gw),
        };
      });
      if (started) due = Math.min(due ?? Infinity, 1000);
    }
    return due;
  }

  private async secretValue(gw: IMGateway, ref: SecretKeyRef): Promise<string> {
    const secret = await this.core.readNamespacedSecret({ name: ref.name, namespace: gw.metadata!.namespace! });
    const value = secret.data?.[ref.key];
    if (value === undefined) throw new Error(`secret ${ref.name} has no key ${ref.key}`);
    return Buffer.from(value, 'base64').toString('utf8');
  }

  /** The RegistryHealthy condition and entries removed, as the registry loop last reported them. */
  private registryReport(gw: IMGateway) {
    const { health, removed } = this.deps.registry.report(`${gw.metadata!.namespace}/${gw.metadata!.name}`);
    const previous = findCondition(gw.status?.conditions, ConditionType.RegistryHealthy);
    const condition = health ?? {
      type: ConditionType.RegistryHealthy,
      status: previous?.status ?? 'Unknown',
      reason: previous?.reason ?? 'NotSweptYet',
      message: previous?.message ?? 'the registry has not been swept yet',
    };
    return { removed, condition };
  }

  private async markForDeletion(namespace: string, pod: string): Promise<void> {
    try {
      await this.core.patchNamespacedPod({ name: pod, namespace, body: { metadata: { annotations: { [DELETION_COST]: DRAINED_POD_DELETION_COST } } } }, MERGE_PATCH);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  /** Creates or updates the Deployment; returns the change in replicas when it changed, else null. */
  private async ensureDeployment(gw: IMGateway, spec: ResolvedIMGatewaySpec, existing: V1Deployment | undefined, replicas: number): Promise<number | null> {
    const desired = buildDeployment(gw, spec, replicas);
    const hash = hashOf(desired.spec!.template);
    desired.metadata!.annotations = { ...desired.metadata!.annotations, [SPEC_HASH_ANNOTATION]: hash };
    const namespace = gw.metadata!.namespace!;
    if (existing === undefined) {
      try {
        await this.apps.createNamespacedDeployment({ namespace, body: desired });
        return replicas;
      } catch (err) {
        // The cache was behind: it exists; the next pass updates it.
        if ((err as { code?: number }).code === 409) return null;
        throw err;
      }
    }
    const before = existing.spec?.replicas ?? 0;
    if (before === replicas && existing.metadata?.annotations?.[SPEC_HASH_ANNOTATION] === hash) return null;
    await this.apps.patchNamespacedDeployment(
      { name: gw.metadata!.name!, namespace, body: { metadata: { annotations: { [SPEC_HASH_ANNOTATION]: hash } }, spec: { replicas, template: desired.spec!.template } } },
      MERGE_PATCH,
    );
    return before === replicas ? null : replicas - before;
  }

  private async ensureService(gw: IMGateway, desired: V1Service): Promise<void> {
    // Services, PDBs and NetworkPolicies are not watched: read, compare the hash, write when it differs.
    const namespace = gw.metadata!.namespace!;
    const name = desired.metadata!.name!;
    const hash = hashOf(desired.spec);
    desired.metadata!.annotations = { ...desired.metadata!.annotations, [SPEC_HASH_ANNOTATION]: hash };
    try {
      const current = await this.core.readNamespacedService({ name, namespace });
      if (current.metadata?.annotations?.[SPEC_HASH_ANNOTATION] === hash) return;
      // A merge patch replaces the ports list whole: a gRPC port left from before it had its own Service goes.
      await this.core.patchNamespacedService(
        { name, namespace, body: { metadata: { annotations: desired.metadata!.annotations, labels: desired.metadata!.labels }, spec: { type: desired.spec!.type, ports: desired.spec!.ports, selector: desired.spec!.selector } } },
        MERGE_PATCH,
      );
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await this.core.createNamespacedService({ namespace, body: desired });
    }
  }

  private async ensurePodDisruptionBudget(gw: IMGateway, spec: ResolvedIMGatewaySpec): Promise<void> {
    const desired = buildPodDisruptionBudget(gw, spec);
    const namespace = gw.metadata!.namespace!;
    const hash = hashOf(desired.spec);
    desired.metadata!.annotations = { ...desired.metadata!.annotations, [SPEC_HASH_ANNOTATION]: hash };
    try {
      const current = await this.policy.readNamespacedPodDisruptionBudget({ name: gw.metadata!.name!, namespace });
      if (current.metadata?.annotations?.[SPEC_HASH_ANNOTATION] === hash) return;
      await this.policy.patchNamespacedPodDisruptionBudget(
        { name: gw.metadata!.name!, namespace, body: { metadata: { annotations: desired.metadata!.annotations }, spec: desired.spec } },
        MERGE_PATCH,
      );
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await this.policy.createNamespacedPodDisruptionBudget({ namespace, body: desired });
    }
  }

  /** Writes spec.networkPolicy's NetworkPolicy, or deletes the one written before it was turned off. */
  private async ensureNetworkPolicy(gw: IMGateway, spec: ResolvedIMGatewaySpec): Promise<void> {
    const namespace = gw.metadata!.namespace!;
    const name = gw.metadata!.name!;
    if (spec.networkPolicy?.enabled !== true) {
      try {
        const current = await this.networking.readNamespacedNetworkPolicy({ name, namespace });
        // Only ours: a policy of that name someone else wrote is left alone.
        if (current.metadata?.ownerReferences?.some((o) => o.uid === gw.metadata!.uid) === true) {
          await this.networking.deleteNamespacedNetworkPolicy({ name, namespace });
        }
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      return;
    }
    const desired = buildNetworkPolicy(gw, spec, this.deps.options.operatorPods);
    const hash = hashOf(desired.spec);
    desired.metadata!.annotations = { ...desired.metadata!.annotations, [SPEC_HASH_ANNOTATION]: hash };
    try {
      const current = await this.networking.readNamespacedNetworkPolicy({ name, namespace });
      if (current.metadata?.annotations?.[SPEC_HASH_ANNOTATION] === hash) return;
      // A patch goes out as given (not through the model's serializer): the model's `_from` must be written as `from`.
      const ingress = desired.spec!.ingress!.map(({ _from, ...rule }) => (_from === undefined ? rule : { ...rule, from: _from }));
      await this.networking.patchNamespacedNetworkPolicy(
        { name, namespace, body: { metadata: { annotations: desired.metadata!.annotations }, spec: { ...desired.spec, ingress } } },
        MERGE_PATCH,
      );
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await this.networking.createNamespacedNetworkPolicy({ namespace, body: desired });
    }
  }

  /** Writes status through the status subresource (a merge patch: lists are replaced whole). */
  private async writeStatus(gw: IMGateway, status: IMGatewayStatus): Promise<void> {
    try {
      await this.custom.patchNamespacedCustomObjectStatus(
        { group: GROUP, version: VERSION, namespace: gw.metadata!.namespace!, plural: PLURAL, name: gw.metadata!.name!, body: { status } },
        MERGE_PATCH,
      );
    } catch (err) {
      // Deleted since the cache saw it: nothing left to report on.
      if (!isNotFound(err)) throw err;
    }
    gw.status = status;
  }
}
