/** Loads the gRPC service definitions from proto/; servers, peers, tests and the operator share them. */
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export const PROTO_ROOT = fileURLToPath(new URL('../../../proto', import.meta.url));
export const SERVICE_NAME = 'im.gateway.v1.IMGatewayService';

interface GatewayPackage {
  im: { gateway: { v1: Record<string, grpc.ServiceClientConstructor> } };
}

function load(file: string): GatewayPackage {
  const definition = protoLoader.loadSync(file, { includeDirs: [PROTO_ROOT], keepCase: true, longs: Number, defaults: true });
  return grpc.loadPackageDefinition(definition) as unknown as GatewayPackage;
}

let gateway: grpc.ServiceClientConstructor | undefined;
let peer: grpc.ServiceClientConstructor | undefined;

/** The public `im.gateway.v1.IMGatewayService`. */
export function loadGatewayService(): grpc.ServiceClientConstructor {
  gateway ??= load('im/gateway/v1/im_gateway_service.proto').im.gateway.v1.IMGatewayService!;
  return gateway;
}

/** The node-to-node `im.gateway.v1.IMGatewayPeerService`. */
export function loadPeerService(): grpc.ServiceClientConstructor {
  peer ??= load('im/gateway/v1/peer_service.proto').im.gateway.v1.IMGatewayPeerService!;
  return peer;
}
