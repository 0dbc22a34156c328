/**
 * Each pod's open connections, read from its `/stats`, at most once per sync
 * period per pod: passes triggered by watch events in between (a status
 * write, a pod turning ready) reuse the last reading instead of asking every
 * pod again. Pods being drained are read on every pass, since their count
 * reaching 0 is what ends a drain.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { parseTime } from '../api/v1alpha1/time.ts';
import { isPodReady } from '../kube/pods.ts';
import type { GatewayClient } from '../gateway-client/gateway-client.ts';
import type { PodLoad } from '../scaling/victims.ts';

interface Reading {
  uid: string;
  connections: number | undefined;
  at: number;
}

export class PodLoadReader {
  private readonly client: GatewayClient;
  private readonly maxAgeMs: number;
  /** fleet -> pod name -> last reading. */
  private readonly readings = new Map<string, Map<string, Reading>>();

  /** Called for each `/stats` that failed (the operator's metric). */
  private readonly onFailure: (pod: V1Pod) => void;

  constructor(client: GatewayClient, maxAgeMs: number, onFailure: (pod: V1Pod) => void = () => {}) {
    this.client = client;
    this.maxAgeMs = maxAgeMs;
    this.onFailure = onFailure;
  }

  /** The fleet's pods with their loads; `fresh` names pods to read whatever the age of their last reading. */
  async read(fleet: string, pods: readonly V1Pod[], ports: { httpPort: number; grpcPort: number }, fresh: ReadonlySet<string>, now = Date.now()): Promise<PodLoad[]> {
    const previous = this.readings.get(fleet) ?? new Map<string, Reading>();
    const next = new Map<string, Reading>();
    const loads = await Promise.all(
      pods.map(async (pod): Promise<PodLoad> => {
        const name = pod.metadata!.name!;
        const uid = pod.metadata!.uid ?? '';
        let reading = previous.get(name);
        if (reading === undefined || reading.uid !== uid || now - reading.at >= this.maxAgeMs || fresh.has(name)) {
          reading = { uid, connections: await this.connections(pod, ports), at: now };
        }
        next.set(name, reading);
        const statuses = pod.status?.containerStatuses ?? [];
        return {
          name,
          ready: isPodReady(pod),
          terminating: pod.metadata?.deletionTimestamp !== undefined,
          createdAt: parseTime(pod.metadata?.creationTimestamp as unknown as string) ?? 0,
          connections: reading.connections,
          restarts: statuses.reduce((sum, s) => sum + (s.restartCount ?? 0), 0),
        };
      }),
    );
    this.readings.set(fleet, next);
    return loads;
  }

  forget(fleet: string): void {
    this.readings.delete(fleet);
  }

  private async connections(pod: V1Pod, ports: { httpPort: number; grpcPort: number }): Promise<number | undefined> {
    const ip = pod.status?.podIP;
    // A pod not running holds no socket; one running that does not answer is unknown.
    if (pod.status?.phase !== 'Running') return pod.status?.phase === 'Unknown' ? undefined : 0;
    if (ip === undefined) return undefined;
    try {
      return (await this.client.stats({ ip, ...ports })).activeConnections;
    } catch {
      this.onFailure(pod);
      return undefined;
    }
  }
}
