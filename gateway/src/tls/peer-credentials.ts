/**
 * How one node (or the operator) calls another node's peer service: TLS when
 * the fleet serves gRPC over TLS, plaintext otherwise, and the fleet secret
 * as a bearer token on every call either way.
 */
import { readFileSync } from 'node:fs';
import { checkServerIdentity, rootCertificates } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { bearerCallCredentials } from '../api/grpc-auth.ts';
import { CaProvider } from './certificates.ts';

type VerifyOptions = NonNullable<Parameters<typeof grpc.credentials.createSsl>[3]>;

export interface PeerTls {
  /** PEM CA bundle that signs the nodes' certificates; unset trusts the system roots. */
  caFile: string | undefined;
  /** Name the nodes' certificates carry, when it is not the address dialled (a pod IP). */
  serverName: string | undefined;
  /** This node's own certificate, when the nodes ask callers for one (mutual TLS). */
  identity?: grpc.experimental.CertificateProvider | undefined;
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
  const { serverName, identity } = tls;
  // Pods are dialled by IP, which certificates rarely list; check the fleet's name instead.
  const verify: VerifyOptions = serverName === undefined ? {} : { checkServerIdentity: (_host, cert) => checkServerIdentity(serverName, cert) };
  if (identity === undefined) return grpc.credentials.createSsl(ca, null, null, verify);
  // A provider, not a fixed pair: the node's certificate is renewed while its channels live.
  const roots = new CaProvider(ca ?? Buffer.from(rootCertificates.join('\n')));
  return grpc.experimental.createCertificateProviderChannelCredentials(roots, identity, verify);
}
