/**
 * What the operator asks of one gateway pod: its connection count (`/stats`),
 * to start draining (`POST /v1/drain`), and to close one user's sockets on
 * that pod only (the peer service's `CloseLocal`, close code 1012, so clients
 * reconnect to another pod), with the fleet secret as a node would.
 */
import { PeerClient } from '../../../gateway/src/fleet/peer-client.ts';
import { peerCredentials } from '../../../gateway/src/tls/peer-credentials.ts';
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
  /** One client set per fleet secret: each IMGateway has its own. */
  private readonly peers = new Map<string, PeerClient>();
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
  closeUser(pod: PodAddress, userId: string, fleetSecret: string): Promise<number> {
    return this.peersFor(fleetSecret).closeLocal(`${host(pod.ip)}:${pod.grpcPort}`, {
      user_id: userId,
      device_id: '',
      reason: 'pod is being removed: reconnect',
      close_code: CloseCode.SERVICE_RESTART,
    });
  }

  close(): void {
    for (const peers of this.peers.values()) peers.close();
    this.peers.clear();
  }

  private peersFor(fleetSecret: string): PeerClient {
    let peers = this.peers.get(fleetSecret);
    if (peers === undefined) {
      // The IMGateway spec has no TLS settings: its pods serve gRPC in plaintext, inside the cluster.
      peers = new PeerClient({ timeoutMs: this.timeoutMs, retries: 1, ...peerCredentials(fleetSecret, null) });
      this.peers.set(fleetSecret, peers);
    }
    return peers;
  }
}

function host(ip: string): string {
  return ip.includes(':') ? `[${ip}]` : ip;
}
