/**
 * A stand-in kubelet for tests: it adopts the Pods that match a label
 * selector in one namespace, binds them to a fake Node, runs their workload
 * through caller-supplied hooks on a loopback address of their own (the pod
 * IP), reports their status and readiness like a kubelet, and finishes their
 * deletion once the workload is stopped. No containers: the workload is
 * whatever `run` starts (typically a local process bound to the pod IP).
 */
import {
  ApiException,
  CoreV1Api,
  type Informer,
  type KubeConfig,
  makeInformer,
  type ObjectCache,
  PatchStrategy,
  setHeaderOptions,
  type V1Pod,
} from '@kubernetes/client-node';
import { LOOPBACK } from '../infra/net.ts';
import { leaseLoopbackAddress, releaseLoopbackAddress } from './loopback.ts';

export const DEFAULT_NODE_NAME = 'e2e-node';

export interface KubeletOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  /** Only Pods that match it are adopted (all in the namespace if unset). */
  labelSelector?: string;
  /** The fake Node the Pods are bound to; created if missing. */
  nodeName?: string;
  /** Starts the Pod's workload on podIP; resolves once it is started. */
  run(pod: V1Pod, podIP: string): Promise<void>;
  /** Readiness probe, polled every readinessPeriodMs; without it a Pod is Ready once started. */
  ready?(pod: V1Pod, podIP: string): Promise<boolean>;
  /** Stops the workload; the Pod's deletion is finished once it resolves. */
  stop?(pod: V1Pod, podIP: string): Promise<void>;
  readinessPeriodMs?: number;
  /** Hook and API errors (default: printed to stderr). */
  onError?(error: unknown, pod: V1Pod): void;
}

export interface RunningPod {
  name: string;
  uid: string;
  ip: string;
  ready: boolean;
}

export interface Kubelet {
  readonly nodeName: string;
  /** Pods whose workload runs now. */
  running(): RunningPod[];
  /** Stops watching and stops every workload (Pods are left as they are). */
  stop(): Promise<void>;
}

interface PodRuntime {
  pod: V1Pod;
  ip?: string;
  started: boolean;
  ready: boolean;
  finished: boolean;
  startedAt?: string;
  readySince?: string;
  timer?: NodeJS.Timeout;
  probing: boolean;
  /** Serialises start, probe and stop of one Pod. */
  queue: Promise<void>;
}

const strategicMerge = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);

function now(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

function statusCode(error: unknown): number | undefined {
  return error instanceof ApiException ? error.code : undefined;
}

/** Creates the Node (if missing) and reports it Ready. Shared by all kubelets. */
export async function ensureNode(kubeConfig: KubeConfig, name = DEFAULT_NODE_NAME): Promise<void> {
  const core = kubeConfig.makeApiClient(CoreV1Api);
  try {
    await core.createNode({
      body: {
        metadata: {
          name,
          labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64' },
        },
      },
    });
  } catch (error) {
    if (statusCode(error) !== 409) throw error;
  }
  const time = now();
  const resources = { cpu: '2', memory: '8Gi', pods: '110' };
  await core.patchNodeStatus(
    {
      name,
      body: {
        status: {
          conditions: [
            {
              type: 'Ready',
              status: 'True',
              reason: 'KubeletReady',
              message: 'e2e fake kubelet',
              lastHeartbeatTime: time,
              lastTransitionTime: time,
            },
          ],
          addresses: [
            { type: 'InternalIP', address: LOOPBACK },
            { type: 'Hostname', address: name },
          ],
          capacity: resources,
          allocatable: resources,
        },
      },
    },
    strategicMerge,
  );
}

export async function startKubelet(options: KubeletOptions): Promise<Kubelet> {
  const { kubeConfig, namespace, labelSelector } = options;
  const nodeName = options.nodeName ?? DEFAULT_NODE_NAME;
  const period = options.readinessPeriodMs ?? 500;
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const runtimes = new Map<string, PodRuntime>();
  let stopped = false;

  const report = (error: unknown, pod: V1Pod): void => {
    if (options.onError) options.onError(error, pod);
    else console.error(`[kubelet] ${namespace}/${pod.metadata?.name}:`, error);
  };
  const enqueue = (runtime: PodRuntime, step: (runtime: PodRuntime) => Promise<void>): void => {
    runtime.queue = runtime.queue.then(() => step(runtime)).catch((error: unknown) => report(error, runtime.pod));
  };

  await ensureNode(kubeConfig, nodeName);

  /** False if the Pod is gone. */
  const bind = async (pod: V1Pod): Promise<boolean> => {
    const name = pod.metadata!.name!;
    try {
      await core.createNamespacedBinding({
        namespace,
        body: { metadata: { name, uid: pod.metadata!.uid }, target: { apiVersion: 'v1', kind: 'Node', name: nodeName } },
      });
    } catch (error) {
      if (statusCode(error) === 404) return false;
      // 409: bound already (by an earlier attempt); anything else is real.
      if (statusCode(error) !== 409) throw error;
    }
    return true;
  };

  const patchStatus = (pod: V1Pod, status: object): Promise<V1Pod> =>
    core.patchNamespacedPodStatus(
      {
        namespace,
        name: pod.metadata!.name!,
        // The uid makes the patch apply only to the Pod it was computed for.
        body: { metadata: { uid: pod.metadata!.uid }, status },
      },
      strategicMerge,
    );

  const writeStatus = async (runtime: PodRuntime): Promise<void> => {
    const { pod, ip, ready } = runtime;
    const startedAt = runtime.startedAt!;
    const readiness = ready ? 'True' : 'False';
    const readyTime = ready ? runtime.readySince! : startedAt;
    try {
      await patchStatus(pod, {
        phase: 'Running',
        hostIP: LOOPBACK,
        hostIPs: [{ ip: LOOPBACK }],
        podIP: ip,
        podIPs: [{ ip }],
        startTime: startedAt,
        conditions: [
          { type: 'PodReadyToStartContainers', status: 'True', lastTransitionTime: startedAt },
          { type: 'Initialized', status: 'True', lastTransitionTime: startedAt },
          { type: 'ContainersReady', status: readiness, lastTransitionTime: readyTime },
          { type: 'Ready', status: readiness, lastTransitionTime: readyTime },
          { type: 'PodScheduled', status: 'True', lastTransitionTime: startedAt },
        ],
        containerStatuses: (pod.spec?.containers ?? []).map((container) => ({
          name: container.name,
          image: container.image ?? '',
          imageID: '',
          containerID: `e2e://${pod.metadata!.uid}/${container.name}`,
          ready,
          started: true,
          restartCount: 0,
          state: { running: { startedAt } },
        })),
      });
    } catch (error) {
      // 404: deleted; 409: the name now belongs to a new Pod. Either way its
      // delete event stops the workload.
      if (statusCode(error) !== 404 && statusCode(error) !== 409) throw error;
    }
  };

  const probe = async (runtime: PodRuntime): Promise<void> => {
    if (!runtime.started || runtime.finished || !options.ready) return;
    let ready: boolean;
    try {
      ready = await options.ready(runtime.pod, runtime.ip!);
    } catch {
      ready = false;
    }
    if (ready === runtime.ready || runtime.finished) return;
    runtime.ready = ready;
    runtime.readySince = now();
    await writeStatus(runtime);
  };

  const start = async (runtime: PodRuntime): Promise<void> => {
    if (runtime.started || runtime.finished || stopped) return;
    if (!runtime.pod.spec?.nodeName && !(await bind(runtime.pod))) return;
    runtime.ip = leaseLoopbackAddress();
    runtime.startedAt = now();
    try {
      await options.run(runtime.pod, runtime.ip);
    } catch (error) {
      releaseLoopbackAddress(runtime.ip);
      runtime.ip = undefined;
      throw error;
    }
    runtime.started = true;
    runtime.ready = !options.ready;
    runtime.readySince = runtime.startedAt;
    await writeStatus(runtime);
    if (options.ready) {
      runtime.timer = setInterval(() => {
        // A slow probe is not queued again behind itself.
        if (runtime.probing) return;
        runtime.probing = true;
        enqueue(runtime, async (r) => {
          try {
            await probe(r);
          } finally {
            r.probing = false;
          }
        });
      }, period);
    }
  };

  /** Stops the workload once; `deleteObject` then finishes a graceful deletion. */
  const finish = async (runtime: PodRuntime, deleteObject: boolean): Promise<void> => {
    if (runtime.finished) return;
    runtime.finished = true;
    clearInterval(runtime.timer);
    if (runtime.started) {
      try {
        await options.stop?.(runtime.pod, runtime.ip!);
      } finally {
        releaseLoopbackAddress(runtime.ip!);
      }
    }
    if (!deleteObject || stopped) return;
    const { name, uid } = runtime.pod.metadata!;
    try {
      // Grace period 0 is what a kubelet sends once the containers are gone;
      // the uid precondition spares a new Pod of the same name.
      await core.deleteNamespacedPod({ namespace, name: name!, body: { gracePeriodSeconds: 0, preconditions: { uid } } });
    } catch (error) {
      if (statusCode(error) !== 404 && statusCode(error) !== 409) throw error;
    }
  };

  const onPod = (pod: V1Pod): void => {
    const uid = pod.metadata?.uid;
    if (!uid || stopped) return;
    if (pod.spec?.nodeName && pod.spec.nodeName !== nodeName) return;
    let runtime = runtimes.get(uid);
    if (!runtime) {
      // A Pod that ended, or that this kubelet never ran, is not adopted late.
      if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') return;
      runtime = { pod, started: false, ready: false, finished: false, probing: false, queue: Promise.resolve() };
      runtimes.set(uid, runtime);
    }
    runtime.pod = pod;
    if (pod.metadata?.deletionTimestamp) enqueue(runtime, (r) => finish(r, true));
    else enqueue(runtime, start);
  };

  const onDelete = (pod: V1Pod): void => {
    const uid = pod.metadata?.uid;
    const runtime = uid ? runtimes.get(uid) : undefined;
    if (!runtime) return;
    runtimes.delete(uid!);
    enqueue(runtime, (r) => finish(r, false));
  };

  const informer: Informer<V1Pod> & ObjectCache<V1Pod> = makeInformer(
    kubeConfig,
    `/api/v1/namespaces/${namespace}/pods`,
    () => core.listNamespacedPod({ namespace, labelSelector }),
    labelSelector,
  );
  informer.on('add', onPod);
  informer.on('update', onPod);
  informer.on('delete', onDelete);
  informer.on('error', () => {
    // The informer stops on a watch error: start it again, as a kubelet would reconnect.
    if (!stopped) setTimeout(() => void informer.start().catch(() => undefined), 500);
  });
  await informer.start();

  return {
    nodeName,
    running() {
      return [...runtimes.values()]
        .filter((r) => r.started && !r.finished)
        .map((r) => ({ name: r.pod.metadata!.name!, uid: r.pod.metadata!.uid!, ip: r.ip!, ready: r.ready }));
    },
    async stop() {
      stopped = true;
      await informer.stop();
      const all = [...runtimes.values()];
      runtimes.clear();
      for (const runtime of all) enqueue(runtime, (r) => finish(r, false));
      await Promise.all(all.map((runtime) => runtime.queue));
    },
  };
}
