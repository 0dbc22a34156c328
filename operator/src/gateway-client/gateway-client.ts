/**
 * What the operator asks of one gateway pod: its connection count (`/stats`),
 * to start draining (`POST /v1/drain`), and to close one user's sockets on
 * that pod only (the peer service's `CloseLocal`, close code 1012, so clients
 * reconnect to another pod).
 */
import * as grpc from '@grpc/grpc-js';
import { PeerClient } from '../../../gateway/src/fleet/peer-client.ts';
import { CloseCode } from '../../../gateway/src/protocol/errors.ts';

export interface PodAddress {
  ip: string;
  httpPort: number;
  grpcPort: number;
}

export interface PodStats {
  activeConnections: number;
  draining: boolean;
}

export class GatewayClient {
  private readonly peers = new PeerClient({ timeoutMs: 3000, retries: 1, credentials: grpc.credentials.createInsecure() });
  private readonly timeoutMs: number;

  constructor(timeoutMs = 3000) {
    this.timeoutMs = timeoutMs;
  }

  async stats(pod: PodAddress): Promise<PodStats> {
    const res = await fetch(`http://${host(pod.ip)}:${pod.httpPort}/stats`, { signal: AbortSignal.timeout(this.timeoutMs) });
    if (!res.ok) throw new Error(`GET /stats on ${pod.ip}: ${res.status}`);
    const body = (await res.json()) as { active_connections?: unknown; draining?: unknown };
    if (typeof body.active_connections !== 'number') throw new Error(`GET /stats on ${pod.ip}: no active_connections`);
    return { activeConnections: body.active_connections, draining: body.draining === true };
  }

  async markDraining(pod: PodAddress, adminToken: string): Promise<void> {
    const res = await fetch(`http://${host(pod.ip)}:${pod.httpPort}/v1/drain`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${adminToken}` },
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    if (res.status !== 202) throw new Error(`POST /v1/drain on ${pod.ip}: ${res.status} ${await res.text()}`);
  }

  /** Closes the user's sockets on that pod; resolves with how many were closed. */
  closeUser(pod: PodAddress, userId: string): Promise<number> {
    return this.peers.closeLocal(`${host(pod.ip)}:${pod.grpcPort}`, {
      user_id: userId,
      device_id: '',
      reason: 'pod is being removed: reconnect',
      close_code: CloseCode.SERVICE_RESTART,
    });
  }

  close(): void {
    this.peers.close();
  }
}

function host(ip: string): string {
  return ip.includes(':') ? `[${ip}]` : ip;
}
