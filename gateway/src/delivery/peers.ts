/**
 * gRPC clients to the other nodes of the fleet (IMGatewayPeerService), one
 * per address, with a deadline and a bounded retry on every call.
 */
import * as grpc from '@grpc/grpc-js';
import { loadPeerService } from '../api/proto.ts';

export interface PeerOptions {
  /** Deadline of one attempt. */
  timeoutMs: number;
  /** Further attempts after the first fails with UNAVAILABLE or DEADLINE_EXCEEDED. */
  retries: number;
  credentials: grpc.ChannelCredentials;
  /** Sent on every call (the fleet secret); see tls/peer-credentials.ts. */
  callCredentials?: grpc.CallCredentials;
}

type Unary = (request: object, options: grpc.CallOptions, callback: (err: grpc.ServiceError | null, response: Record<string, number>) => void) => void;

export class Peers {
  private readonly options: PeerOptions;
  private readonly clients = new Map<string, grpc.Client>();

  constructor(options: PeerOptions) {
    this.options = options;
  }

  /** Writes a logged entry to the user's sockets on the node at `address`; resolves with how many got it. */
  async forwardEntry(address: string, request: { user_id: string; log_id: string; entry_json: string; except_device: string }): Promise<number> {
    return (await this.call(address, 'ForwardEntry', request)).delivered ?? 0;
  }

  /** Closes the user's sockets (one device, or all when empty) on the node at `address`. */
  async closeLocal(address: string, request: { user_id: string; device_id: string; reason: string; close_code: number }): Promise<number> {
    return (await this.call(address, 'CloseLocal', request)).closed_count ?? 0;
  }

  close(): void {
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }

  private async call(address: string, method: string, request: object): Promise<Record<string, number>> {
    let attempt = 0;
    for (;;) {
      try {
        return await this.once(address, method, request);
      } catch (err) {
        const code = (err as grpc.ServiceError).code;
        const retriable = code === grpc.status.UNAVAILABLE || code === grpc.status.DEADLINE_EXCEEDED;
        if (!retriable || attempt++ >= this.options.retries) throw err;
      }
    }
  }

  private once(address: string, method: string, request: object): Promise<Record<string, number>> {
    const client = this.client(address) as unknown as Record<string, Unary>;
    return new Promise((resolve, reject) => {
      client[method]!.call(client, request, { deadline: Date.now() + this.options.timeoutMs, credentials: this.options.callCredentials }, (err, response) => (err ? reject(err) : resolve(response)));
    });
  }

  private client(address: string): grpc.Client {
    let client = this.clients.get(address);
    if (client === undefined) {
      const Service = loadPeerService();
      client = new Service(address, this.options.credentials);
      this.clients.set(address, client);
    }
    return client;
  }
}
