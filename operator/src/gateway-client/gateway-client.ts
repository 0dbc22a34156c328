/**
 * What the operator asks of one gateway pod: its connection count (`/stats`),
 * to start draining (`POST /v1/drain`), and to close one user's sockets on
 * that pod only: the product's `IMGatewayService.CloseConnection` with scope
 * CLOSE_SCOPE_LOCAL and close code 1012 (clients reconnect to another pod),
 * authorized with one of the fleet's API tokens as a backend service is. The
 * peer service (`CloseLocal`, fleet secret) stays between gateway nodes.
 */
import * as grpc from '@grpc/grpc-js';
import { CloseCode, CloseScope, bearerCallCredentials, loadGatewayService, type CloseConnectionRequest, type CloseConnectionResponse__Output, type IMGatewayServiceClient } from '../../../gateway/src/operator-contract.ts';

export interface PodAddress {
  ip: string;
  httpPort: number;
  grpcPort: number;
}

export interface PodStats {
  activeConnections: number;
  draining: boolean;
}

const GatewayService = loadGatewayService();

export class GatewayClient {
  /** One channel per pod gRPC address while it is being drained; `release` closes it. */
  private readonly channels = new Map<string, IMGatewayServiceClient>();
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

  /** Closes the user's sockets on that pod only, with 1012; resolves with how many were closed. */
  closeUser(pod: PodAddress, userId: string, apiToken: string): Promise<number> {
    const request: CloseConnectionRequest = {
      user_id: userId,
      device_id: '',
      reason: 'pod is being removed: reconnect',
      scope: CloseScope.CLOSE_SCOPE_LOCAL,
      close_code: CloseCode.SERVICE_RESTART,
    };
    const options: grpc.CallOptions = { deadline: Date.now() + this.timeoutMs, credentials: bearerCallCredentials(apiToken) };
    return new Promise((resolve, reject) => {
      this.channel(pod).CloseConnection(request, options, (err: grpc.ServiceError | null, res?: CloseConnectionResponse__Output) => {
        if (err !== null || res === undefined) reject(new Error(`CloseConnection on ${pod.ip}: ${err?.details ?? 'no response'}`));
        else resolve(res.closed_count);
      });
    });
  }

  /** Closes the pod's channel (its drain ended). */
  release(pod: PodAddress): void {
    const address = grpcAddress(pod);
    this.channels.get(address)?.close();
    this.channels.delete(address);
  }

  close(): void {
    for (const channel of this.channels.values()) channel.close();
    this.channels.clear();
  }

  private channel(pod: PodAddress): IMGatewayServiceClient {
    const address = grpcAddress(pod);
    let channel = this.channels.get(address);
    if (channel === undefined) {
      // The IMGateway spec has no TLS settings: its pods serve gRPC in plaintext, inside the cluster.
      channel = new GatewayService(address, grpc.credentials.createInsecure()) as unknown as IMGatewayServiceClient;
      this.channels.set(address, channel);
    }
    return channel;
  }
}

function grpcAddress(pod: PodAddress): string {
  return `${host(pod.ip)}:${pod.grpcPort}`;
}

function host(ip: string): string {
  return ip.includes(':') ? `[${ip}]` : ip;
}
