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
  type KubernetesObject,
  type V1Deployment,
  type V1Pod,
  type V1Service,
} from '@kubernetes/client-node';
import { findCondition, setCondition, type ConditionUpdate } from '../api/v1alpha1/conditions.ts';
import { formatTime, parseTime } from '../api/v1alpha1/time.ts';
import {
  ConditionType,
  GROUP,
  PLURAL,
  VERSION,
  PAUSE_ANNOTATION,
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
import { isConflict, isNotFound } from '../kube/errors.ts';
import { isPodReady } from '../kube/pods.ts';
import type { OperatorMetrics } from '../health/metrics.ts';
import type { RegistryLoop } from '../registry/registry-loop.ts';
import {
  buildDeployment,
  buildGrpcService,
  buildNetworkPolicy,
  buildPodDisruptionBudget,
  buildService,
  type OperatorPods,
} from '../resources/owned.ts';
import { INSTANCE_LABEL, selectorString } from '../resources/labels.ts';
import { decideFleet, fleetLoad, type FleetLoad } from '../scaling/fleet-decision.ts';
import { decodeHistory, encodeHistory } from '../scaling/history.ts';
import { chooseVictims, drainPlan, startDrains, type PodLoad } from '../scaling/victims.ts';
import type { Caches } from './informers.ts';
import type { Drains } from './drains.ts';
import { EventRecorder } from './events.ts';
import { Expectations } from './expectations.ts';
import { PodLoadReader } from './pod-loads.ts';
import { drainAnnotations, drainOf, drainsOf } from '../drain/drain-state.ts';
import { minReadySeconds } from '../drain/rollout-pace.ts';
import { hashOf } from './hash.ts';
import { Applier, ForeignObjectError } from '../resources/apply.ts';

export interface ReconcilerOptions {
  /** How often a fleet is looked at when nothing changes (connections move without events). */
  syncPeriodMs: number;
  /** The operator's own pods, admitted to gRPC by the NetworkPolicies it writes. */
  operatorPods: OperatorPods;
}

/** How soon to look again when a cache is behind the operator's own write (its watch event usually comes first). */
const CACHE_RECHECK_MS = 1000;
/** Lower than any pod's default (0): among running pods, a ReplicaSet removes this one first. */
const DRAINED_POD_DELETION_COST = '-1000';
const DELETION_COST = 'controller.kubernetes.io/pod-deletion-cost';
/** How long past its drain's deadline a drained pod that stays ready is waited for before it is removed anyway. */
const UNREADY_GRACE_SECONDS = 30;
/** The hash of the pod template last applied to the Deployment. */
const TEMPLATE_HASH_ANNOTATION = 'imgateway.io/template-hash';
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
  private readonly expectations = new Expectations();
  private readonly loads: PodLoadReader;
  private readonly applier: Applier;

  constructor(kc: KubeConfig, deps: ReconcilerDeps) {
    this.deps = deps;
    this.apps = kc.makeApiClient(AppsV1Api);
    this.core = kc.makeApiClient(CoreV1Api);
    this.policy = kc.makeApiClient(PolicyV1Api);
    this.networking = kc.makeApiClient(NetworkingV1Api);
    this.custom = kc.makeApiClient(CustomObjectsApi);
    this.events = new EventRecorder(this.core, deps.log);
    this.loads = new PodLoadReader(deps.gateways, deps.options.syncPeriodMs, (pod) => {
      deps.metrics.countStatsFailure(pod.metadata!.namespace!, pod.metadata!.labels![INSTANCE_LABEL]!);
    });
    this.applier = new Applier(kc, deps.options.syncPeriodMs);
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
    const deployment = caches.deployments.get(name, namespace);
    const pods = caches.pods.list(namespace).filter((p) => p.metadata?.labels?.[INSTANCE_LABEL] === name);
    // No decision on a cache older than this operator's own last write: the watch event that brings it re-queues the fleet.
    const behind = this.expectations.behind(key, (object) => this.cachedVersion(object));
    if (behind !== undefined) {
      this.deps.log.debug('cache_behind_own_write', { fleet: key, object: behind });
      return { requeueAfterMs: CACHE_RECHECK_MS };
    }
    const spec = withDefaults(gw.spec);
    const now = Date.now();
    const foreign = await this.applyOwned(gw, spec, now);

    const status: IMGatewayStatus = gw.status ?? {};
    // A drained pod that is terminating (deleted by this operator or anyone) is leaving: its drain is over.
    const leaving = pods.filter((p) => p.metadata?.deletionTimestamp !== undefined);
    for (const pod of leaving) if (drainOf(pod) !== undefined) this.deps.drains.stop(key, pod.metadata!.name!);
    const recorded = await this.adoptStatusDrains(key, gw, pods.filter((p) => !leaving.includes(p)));
    const loads = await this.loads.read(key, pods, { httpPort: spec.service.port, grpcPort: spec.service.grpcPort }, new Set(recorded.map((d) => d.name)), now);
    const load = fleetLoad(loads, recorded, spec.targetConnectionsPerPod);
    const paused = gw.metadata?.annotations?.[PAUSE_ANNOTATION] === 'true';

    // Decide the number of serving pods.
    const current = status.desiredReplicas ?? deployment?.spec?.replicas ?? 0;
    const decision = decideFleet({ spec, paused, current, load, history: decodeHistory(status.scalingHistory), now });
    const desired = decision.desired;

    // Replicas move two ways only: up at once, or down one finished drain at a time.
    // R counts every pod the Deployment keeps, serving or draining.
    const plan = drainPlan(recorded, loads, spec.drain.timeoutSeconds, now);
    let draining: DrainingPod[] = plan.inProgress;
    let replicas = deployment?.spec?.replicas ?? 0;
    /** Drained, still counted, but no drain task runs for them. */
    const awaitingUnready = new Set<string>();
    for (const { pod, end } of plan.finished) {
      this.deps.drains.stop(key, pod.name);
      const live = pods.find((p) => p.metadata?.name === pod.name && p.metadata?.deletionTimestamp === undefined);
      // A pod emptied in a moment may still be ready: removed now, a ReplicaSet seeing the lower count before the
      // deletion could rank another ready pod before it. It fails /ready while draining; wait for the kubelet to say so.
      if (live !== undefined && isPodReady(live) && now < (parseTime(pod.startedAt) ?? 0) + (spec.drain.timeoutSeconds + UNREADY_GRACE_SECONDS) * 1000) {
        draining = [...draining, pod];
        awaitingUnready.add(pod.name);
        continue;
      }
      this.deps.metrics.drainsFinished.inc({ outcome: end });
      this.deps.metrics.observeDrain((now - (parseTime(pod.startedAt) ?? now)) / 1000, end);
      if (live === undefined) continue;
      await this.removeDrainedPod(key, live);
      replicas--;
      this.events.normal(gw, 'DrainFinished', `pod ${pod.name} drained (${end}); removing it`);
    }
    const serving = replicas - draining.length;
    if (desired > serving || replicas === 0) {
      replicas = desired + draining.length;
    } else if (desired < serving && !paused) {
      const victims = chooseVictims({
        pods: loads,
        draining: [...draining, ...plan.finished.map((f) => f.pod)],
        desiredReplicas: desired,
        minReplicas: Math.min(spec.minReplicas, desired),
      }).slice(0, Math.min(serving - desired, Math.max(0, spec.drain.maxConcurrent - draining.length)));
      for (const drain of startDrains(victims, now)) {
        // Recorded on the pod before it is touched, so any leader resumes the same drain.
        if (!(await this.recordDrain(key, pods.find((p) => p.metadata?.name === drain.name)!, drain))) continue;
        draining = [...draining, drain];
        this.events.normal(gw, 'DrainStarted', `draining pod ${drain.name} (${victims.find((v) => v.name === drain.name)?.connections ?? 'unknown'} connections) before removing it`);
      }
    }
    let scaled: number | null = null;
    try {
      const busiest = Math.max(0, ...loads.filter((p) => !p.terminating).map((p) => p.connections ?? 0));
      scaled = await this.applyDeployment(key, gw, spec, deployment, replicas, busiest, now);
    } catch (err) {
      if (!(err instanceof ForeignObjectError)) throw err;
      foreign.push(err.object);
    }
    if (scaled !== null) this.events.normal(gw, scaled > 0 ? 'ScaledUp' : 'ScaledDown', `replicas ${replicas - scaled} -> ${replicas}: ${decision.message}`);

    const dueIn = this.runDrains(gw, spec, draining.filter((d) => !awaitingUnready.has(d.name)), pods);
    const registry = this.registryReport(gw);
    if (registry.removed > 0) this.events.normal(gw, 'StaleEntriesRemoved', `removed ${registry.removed} registry entries of pods that are gone`);
    if (registry.condition.status === 'False' && findCondition(status.conditions, ConditionType.RegistryHealthy)?.status !== 'False') {
      this.events.warning(gw, 'RegistryUnreachable', `registry sweep failed: ${registry.condition.message}`);
    }

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
      reason: decision.reason,
      message: decision.message,
    }, now);
    conditions = setCondition(conditions, scalingActive(load, spec.fallbackReplicas), now);
    conditions = setCondition(conditions, {
      type: ConditionType.Draining,
      status: draining.length > 0 ? 'True' : 'False',
      reason: draining.length > 0 ? 'DrainingPods' : 'NoDrains',
      message: draining.length > 0 ? `draining ${draining.map((d) => d.name).join(', ')}` : 'no pod is being drained',
    }, now);
    conditions = setCondition(conditions, registry.condition, now);
    const wasForeign = findCondition(status.conditions, ConditionType.ResourcesReady)?.reason === 'ForeignObject';
    conditions = setCondition(conditions, foreign.length === 0
      ? { type: ConditionType.ResourcesReady, status: 'True', reason: 'Applied', message: 'the Deployment, Services, PodDisruptionBudget and NetworkPolicy are applied' }
      : { type: ConditionType.ResourcesReady, status: 'False', reason: 'ForeignObject', message: `not controlled by this IMGateway, left alone: ${foreign.join(', ')}; delete or rename them` }, now);
    if (foreign.length > 0 && !wasForeign) this.events.warning(gw, 'ForeignObject', `${foreign.join(', ')} exist and are not controlled by this IMGateway; they are left alone`);

    await this.writeStatus(key, gw, {
      observedGeneration: generation,
      replicas: deployment?.status?.replicas ?? 0,
      readyReplicas: ready,
      desiredReplicas: desired,
      activeConnections: load.known,
      drainingPods: draining,
      lastScaleTime: scaled !== null ? formatTime(now) : status.lastScaleTime,
      selector: selectorString(name),
      scalingHistory: encodeHistory(decision.history),
      staleRegistryEntriesRemoved: (status.staleRegistryEntriesRemoved ?? 0) + registry.removed,
      conditions,
    });
    this.deps.metrics.activeConnections.set({ namespace, name }, load.known);
    this.deps.metrics.desiredReplicas.set({ namespace, name }, desired);
    this.deps.metrics.setFleetLimits(namespace, name, spec.maxReplicas, spec.targetConnectionsPerPod);
    const next = Math.min(options.syncPeriodMs, plan.nextTimeoutInMs ?? Infinity, dueIn ?? Infinity, awaitingUnready.size > 0 ? CACHE_RECHECK_MS : Infinity);
    return { requeueAfterMs: Math.max(100, next) };
  }

  /** A pass failed: a Warning event on the fleet (the work queue backs it off). */
  reportFailure(key: string, error: string): void {
    const gw = this.cachedGateway(key);
    if (gw !== undefined) this.events.warning(gw, 'ReconcileFailed', error);
  }

  /** A drain failed: a Warning event on the fleet (the drain backs off). */
  reportDrainFailure(key: string, pod: string, error: string, retryInMs: number): void {
    const gw = this.cachedGateway(key);
    if (gw !== undefined) this.events.warning(gw, 'DrainFailed', `drain of pod ${pod} failed: ${error}; retrying in ${Math.round(retryInMs / 1000)}s`);
  }

  /** A step of a running drain failed (it backs off and goes on): a Warning event on the fleet. */
  reportDrainStepFailure(key: string, pod: string, error: string): void {
    const gw = this.cachedGateway(key);
    if (gw !== undefined) this.events.warning(gw, 'DrainStepFailed', `drain of pod ${pod}: ${error}; retrying`);
  }

  private cachedGateway(key: string): IMGateway | undefined {
    const [namespace, name] = key.split('/') as [string, string];
    return this.deps.caches.gateways.get(name, namespace);
  }

  /** Drops what is kept for a fleet that no longer exists. */
  forget(key: string): void {
    this.deps.registry.forget(key);
    this.deps.drains.stopFleet(key);
    this.expectations.forget(key);
    this.loads.forget(key);
    const [namespace, name] = key.split('/') as [string, string];
    this.applier.forget(namespace, [name, `${name}-grpc`]);
    this.deps.metrics.forgetFleet(namespace, name);
  }


  /** The resourceVersion of `kind/namespace/name` in the informer caches. */
  private cachedVersion(object: string): string | undefined {
    const [kind, namespace, name] = object.split('/') as [string, string, string];
    const { caches } = this.deps;
    const cache = kind === 'imgateway' ? caches.gateways : kind === 'deployment' ? caches.deployments : caches.pods;
    return cache.get(name, namespace)?.metadata?.resourceVersion;
  }

  /**
   * The drains recorded on the fleet's pods. Drains an earlier version of
   * the operator kept only in status.drainingPods are moved onto their pods
   * first, keeping their start times.
   */
  private async adoptStatusDrains(key: string, gw: IMGateway, pods: V1Pod[]): Promise<DrainingPod[]> {
    const onPods = drainsOf(pods);
    for (const old of gw.status?.drainingPods ?? []) {
      if (onPods.some((d) => d.name === old.name)) continue;
      const pod = pods.find((p) => p.metadata?.name === old.name && p.metadata?.deletionTimestamp === undefined);
      if (pod !== undefined && (await this.recordDrain(key, pod, old))) onPods.push(old);
    }
    return onPods;
  }

  /** Writes the drain onto its pod, only if it is still the pod the cache showed (uid); false when it went. */
  private async recordDrain(key: string, pod: V1Pod, drain: DrainingPod): Promise<boolean> {
    const namespace = pod.metadata!.namespace!;
    try {
      const patched = await this.core.patchNamespacedPod(
        { name: drain.name, namespace, body: { metadata: { uid: pod.metadata!.uid, annotations: drainAnnotations(drain) } } },
        MERGE_PATCH,
      );
      this.expectations.written(key, `pod/${namespace}/${drain.name}`, patched.metadata?.resourceVersion);
      return true;
    } catch (err) {
      if (isNotFound(err) || isConflict(err)) return false;
      throw err;
    }
  }

  /**
   * The drained pod, and only it, goes: the operator deletes it itself (uid
   * precondition: never a namesake), then lowers the Deployment by one. A
   * lower replica count alone lets the ReplicaSet choose, and it ranks
   * pending and unready pods before any deletion cost. Once the deleted pod
   * is terminating the ReplicaSet no longer counts it, so the lowered count
   * matches the pods left; if the ReplicaSet saw the deletion first it made
   * a replacement, which, unscheduled or pending, is the first it removes.
   * If it sees the lower count first, the lowest deletion cost, set before
   * the delete, makes it pick the drained pod among the running ones (a pod
   * drained in a moment may still be ready).
   */
  private async removeDrainedPod(key: string, pod: V1Pod): Promise<void> {
    const { name, namespace, uid } = pod.metadata!;
    try {
      await this.core.patchNamespacedPod({ name: name!, namespace: namespace!, body: { metadata: { uid, annotations: { [DELETION_COST]: DRAINED_POD_DELETION_COST } } } }, MERGE_PATCH);
      const deleted = await this.core.deleteNamespacedPod({ name: name!, namespace: namespace!, body: { preconditions: { uid } } });
      this.expectations.deleted(key, `pod/${namespace}/${name}`, (deleted as V1Pod).metadata?.resourceVersion);
    } catch (err) {
      if (!isNotFound(err) && !isConflict(err)) throw err;
    }
  }

  /** Starts (or resumes) a drain task per draining pod; returns ms until one is due to be looked at. */
  private runDrains(gw: IMGateway, spec: ResolvedIMGatewaySpec, draining: DrainingPod[], pods: V1Pod[]): number | undefined {
    const key = `${gw.metadata!.namespace}/${gw.metadata!.name}`;
    let due: number | undefined;
    for (const entry of draining) {
      const pod = pods.find((p) => p.metadata?.name === entry.name);
      const ip = pod?.status?.podIP;
      if (ip === undefined) continue;
      const started = this.deps.drains.ensure(key, entry.name, spec.drain.closesPerSecond, async () => {
        const [adminToken, apiToken] = await Promise.all([
          this.secretValue(gw, spec.gateway.adminTokenSecretRef),
          // The gateway accepts any of a comma-separated list: the operator sends the first.
          this.secretValue(gw, spec.gateway.grpcApiTokensSecretRef).then((value) => value.split(',')[0]!.trim()),
        ]);
        return {
          target: { podName: entry.name, address: { ip, httpPort: spec.service.port, grpcPort: spec.service.grpcPort }, startedAt: parseTime(entry.startedAt) ?? Date.now() },
          settings: { timeoutSeconds: spec.drain.timeoutSeconds, adminToken, apiToken },
          registry: this.deps.registry.registryFor(gw),
        };
      });
      if (started) due = Math.min(due ?? Infinity, 1000);
      // A failed drain is started again once its backoff has passed.
      const retryIn = this.deps.drains.retryInMs(key, entry.name);
      if (retryIn !== undefined) due = Math.min(due ?? Infinity, retryIn);
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

  /**
   * Applies the Services, PodDisruptionBudget and NetworkPolicy; returns the
   * objects refused because someone else's object has their name.
   */
  private async applyOwned(gw: IMGateway, spec: ResolvedIMGatewaySpec, now: number): Promise<string[]> {
    const uid = gw.metadata!.uid!;
    const foreign: string[] = [];
    const objects: KubernetesObject[] = [buildService(gw, spec), buildGrpcService(gw, spec), buildPodDisruptionBudget(gw, spec)];
    const policy = buildNetworkPolicy(gw, spec, this.deps.options.operatorPods);
    if (spec.networkPolicy?.enabled === true) objects.push(policy);
    else await this.applier.deleteIfControlled(uid, policy);
    for (const obj of objects) {
      try {
        await this.applier.apply(uid, obj, now);
      } catch (err) {
        if (!(err instanceof ForeignObjectError)) throw err;
        foreign.push(err.object);
      }
    }
    return foreign;
  }

  /** Applies the Deployment with `replicas`; returns the change in replicas when it changed, else null. */
  private async applyDeployment(
    key: string,
    gw: IMGateway,
    spec: ResolvedIMGatewaySpec,
    existing: V1Deployment | undefined,
    replicas: number,
    busiestConnections: number,
    now: number,
  ): Promise<number | null> {
    const desired = buildDeployment(gw, spec, replicas);
    // Which template the Deployment runs, to tell a rollout starting now.
    const templateHash = hashOf(desired.spec!.template);
    desired.metadata!.annotations = { ...desired.metadata!.annotations, [TEMPLATE_HASH_ANNOTATION]: templateHash };
    const templateChanges = existing !== undefined && existing.metadata?.annotations?.[TEMPLATE_HASH_ANNOTATION] !== templateHash;
    desired.spec!.minReadySeconds = minReadySeconds(spec, existing, templateChanges, busiestConnections);
    const stored = await this.applier.apply(gw.metadata!.uid!, desired, now);
    if (stored === null) return null;
    this.expectations.written(key, `deployment/${gw.metadata!.namespace!}/${gw.metadata!.name!}`, stored.metadata?.resourceVersion);
    const before = existing?.spec?.replicas ?? 0;
    return existing !== undefined && before === replicas ? null : replicas - before;
  }

  /**
   * Writes status through the status subresource, only when it differs from
   * what the cache holds (a steady fleet is not written at all), and only
   * over the version the pass read (a merge patch with resourceVersion: a
   * conflict fails the pass, which runs again on the newer object). The
   * cached object is never changed: the watch brings the new one.
   */
  private async writeStatus(key: string, gw: IMGateway, status: IMGatewayStatus): Promise<void> {
    if (hashOf(status) === hashOf(gw.status ?? {})) return;
    try {
      const written = (await this.custom.patchNamespacedCustomObjectStatus(
        {
          group: GROUP,
          version: VERSION,
          namespace: gw.metadata!.namespace!,
          plural: PLURAL,
          name: gw.metadata!.name!,
          body: { metadata: { resourceVersion: gw.metadata!.resourceVersion }, status },
        },
        MERGE_PATCH,
      )) as IMGateway;
      this.expectations.written(key, `imgateway/${gw.metadata!.namespace!}/${gw.metadata!.name!}`, written.metadata?.resourceVersion);
    } catch (err) {
      // Deleted since the cache saw it: nothing left to report on.
      if (!isNotFound(err)) throw err;
    }
  }
}

/** ScalingActive: whether the decision stands on every pod's load (the HPA's condition of that name). */
function scalingActive(load: FleetLoad, fallbackReplicas: number | undefined): ConditionUpdate {
  if (load.unknown === 0) return { type: ConditionType.ScalingActive, status: 'True', reason: 'ValidMetricFound', message: `the load of all ${load.serving} serving pods was read` };
  const all = load.unknown === load.serving;
  return {
    type: ConditionType.ScalingActive,
    status: 'False',
    reason: all && fallbackReplicas !== undefined ? 'FallbackReplicas' : 'FailedGetPodStats',
    message: `${load.unknown} of ${load.serving} serving pods did not answer GET /stats; each counts as fully loaded (${all && fallbackReplicas !== undefined ? `holding at least spec.fallbackReplicas ${fallbackReplicas}` : 'no scale-down on its account'})`,
  };
}
