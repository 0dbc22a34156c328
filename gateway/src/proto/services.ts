/**
 * The gRPC services of proto/, loaded once and typed by the interfaces
 * generated from the same files (`generated/`, `npm run proto:types`):
 * servers, peers, tests and the operator share them.
 */
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { ProtoGrpcType as GatewayProto } from './generated/im_gateway_service.ts';
import type { ProtoGrpcType as PeerProto } from './generated/peer_service.ts';

export const PROTO_ROOT = fileURLToPath(new URL('../../../proto', import.meta.url));
export const SERVICE_NAME = 'im.gateway.v1.IMGatewayService';

/** The same options the types are generated with (generate.ts). */
function load<T>(file: string): T {
  const definition = protoLoader.loadSync(file, { includeDirs: [PROTO_ROOT], keepCase: true, longs: Number, defaults: true });
  return grpc.loadPackageDefinition(definition) as unknown as T;
}

type GatewayService = GatewayProto['im']['gateway']['v1']['IMGatewayService'];
type PeerService = PeerProto['im']['gateway']['v1']['IMGatewayPeerService'];

let gateway: GatewayService | undefined;
let peer: PeerService | undefined;

/** The public `im.gateway.v1.IMGatewayService`. */
export function loadGatewayService(): GatewayService {
  gateway ??= load<GatewayProto>('im/gateway/v1/im_gateway_service.proto').im.gateway.v1.IMGatewayService;
  return gateway;
}

/** The node-to-node `im.gateway.v1.IMGatewayPeerService`. */
export function loadPeerService(): PeerService {
  peer ??= load<PeerProto>('im/gateway/v1/peer_service.proto').im.gateway.v1.IMGatewayPeerService;
  return peer;
}
