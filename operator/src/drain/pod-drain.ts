/**
 * Drains one gateway pod before the Deployment loses it: mark it draining
 * (it fails /ready and refuses new sockets), then close the sockets of the
 * users the registry lists on it (CloseConnection, local scope), within the
 * fleet's reconnect budget, until the pod reports no connections or the
 * drain times out. Closing uses code 1012, so
 * clients reconnect to the other pods; what they had not acked is replayed
 * there. Safe to run again for the same pod (after an operator restart).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { GatewayClient, PodAddress } from '../gateway-client/gateway-client.ts';
import type { FleetRegistry } from '../registry/fleet-registry.ts';
import { errorText, type Logger } from '../log.ts';
import type { TokenBucket } from '../rate/token-bucket.ts';
import { backoffDelay } from '../../../gateway/src/operator-contract.ts';

export interface DrainTarget {
  podName: string;
  address: PodAddress;
  /** When the drain began (kept in status, so a resumed drain keeps its deadline). */
  startedAt: number;
}

export interface DrainSettings {
  timeoutSeconds: number;
  adminToken: string;
  /** One of the fleet's GRPC_API_TOKENS (grpcApiTokensSecretRef), for IMGatewayService.CloseConnection. */
  apiToken: string;
}

export type DrainOutcome = 'empty' | 'timed_out' | 'stopped';

/** How long to wait before looking again when the pod still has sockets the registry does not list. */
const RECHECK_MS = 500;
/** After a failed step (the pod or the registry not answering) the next waits longer, up to 10 s. */
const STEP_BACKOFF = { initialMs: RECHECK_MS, maxMs: 10_000 };
/** A drain whose steps keep failing is reported at most this often. */
const STEP_FAILURE_REPORT_MS = 30_000;

export async function drainPod(
  target: DrainTarget,
  settings: DrainSettings,
  deps: {
    client: GatewayClient;
    registry: FleetRegistry;
    log: Logger;
    stopped: () => boolean;
    budget: TokenBucket;
    /** A step failed (first of a run of failures, then at most every 30 s). */
    onStepFailed?: (error: string) => void;
  },
): Promise<DrainOutcome> {
  const { client, registry, log } = deps;
  const deadline = target.startedAt + settings.timeoutSeconds * 1000;
  try {
    let marked = false;
    let failures = 0;
    let reportedAt = -Infinity;
    while (Date.now() < deadline) {
      if (deps.stopped()) return 'stopped';
      try {
        if (!marked) {
          await client.markDraining(target.address, settings.adminToken);
          marked = true;
        }
        if ((await client.stats(target.address)).activeConnections === 0) return 'empty';
        for (const userId of await registry.usersOn(target.podName)) {
          if (deps.stopped() || Date.now() >= deadline) break;
          // The fleet's budget, shared with its other drains.
          await deps.budget.take();
          if (deps.stopped() || Date.now() >= deadline) break;
          const closed = await client.closeUser(target.address, userId, settings.apiToken);
          // Pace by sockets closed, so a user with five devices counts five.
          deps.budget.charge(closed - 1);
        }
        failures = 0;
      } catch (err) {
        failures++;
        log.warn('drain_step_failed', { pod: target.podName, error: errorText(err), failures });
        if (failures === 1 || Date.now() - reportedAt >= STEP_FAILURE_REPORT_MS) {
          reportedAt = Date.now();
          deps.onStepFailed?.(errorText(err));
        }
      }
      await sleep(failures === 0 ? RECHECK_MS : backoffDelay(failures, STEP_BACKOFF));
    }
    return 'timed_out';
  } finally {
    client.release(target.address);
  }
}
