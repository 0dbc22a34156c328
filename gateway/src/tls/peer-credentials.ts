/**
 * How one node (or the operator) calls another node's peer service: TLS when
 * the fleet serves gRPC over TLS, plaintext otherwise, and the fleet secret
 * as a bearer token on every call either way.
 */
import { readFileSync } from 'node:fs';
import { checkServerIdentity } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { bearerCallCredentials } from '../api/grpc-auth.ts';

type VerifyOptions = NonNullable<Parameters<typeof grpc.credentials.createSsl>[3]>;

export interface PeerTls {
  /** PEM CA bundle that signs the nodes' certificates; unset trusts the system roots. */
  caFile: string | undefined;
  /** Name the nodes' certificates carry, when it is not the address dialled (a pod IP). */
  serverName: string | undefined;
}

export interface PeerCredentials {
  credentials: grpc.ChannelCredentials;
  /** Per call, not composed into the channel: grpc-js refuses call credentials on a plaintext channel. */
  callCredentials: grpc.CallCredentials;
}

/** `tls` null: plaintext, for fleets that serve gRPC without TLS. */
export function peerCredentials(secret: string, tls: PeerTls | null): PeerCredentials {
  return { credentials: tls === null ? grpc.credentials.createInsecure() : tlsCredentials(tls), callCredentials: bearerCallCredentials(secret) };
}

function tlsCredentials(tls: PeerTls): grpc.ChannelCredentials {
  const ca = tls.caFile === undefined ? null : readFileSync(tls.caFile);
  const { serverName } = tls;
  // Pods are dialled by IP, which certificates rarely list; check the fleet's name instead.
  const verify: VerifyOptions = serverName === undefined ? {} : { checkServerIdentity: (_host, cert) => checkServerIdentity(serverName, cert) };
  return grpc.credentials.createSsl(ca, null, null, verify);
}
