import type * as grpc from '@grpc/grpc-js';
import type { EnumTypeDefinition, MessageTypeDefinition } from '@grpc/proto-loader';

import type { CloseConnectionRequest as _im_gateway_v1_CloseConnectionRequest, CloseConnectionRequest__Output as _im_gateway_v1_CloseConnectionRequest__Output } from './im/gateway/v1/CloseConnectionRequest.ts';
import type { CloseConnectionResponse as _im_gateway_v1_CloseConnectionResponse, CloseConnectionResponse__Output as _im_gateway_v1_CloseConnectionResponse__Output } from './im/gateway/v1/CloseConnectionResponse.ts';
import type { DeviceStatus as _im_gateway_v1_DeviceStatus, DeviceStatus__Output as _im_gateway_v1_DeviceStatus__Output } from './im/gateway/v1/DeviceStatus.ts';
import type { GetConnectionStatusRequest as _im_gateway_v1_GetConnectionStatusRequest, GetConnectionStatusRequest__Output as _im_gateway_v1_GetConnectionStatusRequest__Output } from './im/gateway/v1/GetConnectionStatusRequest.ts';
import type { GetConnectionStatusResponse as _im_gateway_v1_GetConnectionStatusResponse, GetConnectionStatusResponse__Output as _im_gateway_v1_GetConnectionStatusResponse__Output } from './im/gateway/v1/GetConnectionStatusResponse.ts';
import type { IMGatewayServiceClient as _im_gateway_v1_IMGatewayServiceClient, IMGatewayServiceDefinition as _im_gateway_v1_IMGatewayServiceDefinition } from './im/gateway/v1/IMGatewayService.ts';
import type { PushMessageRequest as _im_gateway_v1_PushMessageRequest, PushMessageRequest__Output as _im_gateway_v1_PushMessageRequest__Output } from './im/gateway/v1/PushMessageRequest.ts';
import type { PushMessageResponse as _im_gateway_v1_PushMessageResponse, PushMessageResponse__Output as _im_gateway_v1_PushMessageResponse__Output } from './im/gateway/v1/PushMessageResponse.ts';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  im: {
    gateway: {
      v1: {
        CloseConnectionRequest: MessageTypeDefinition<_im_gateway_v1_CloseConnectionRequest, _im_gateway_v1_CloseConnectionRequest__Output>
        CloseConnectionResponse: MessageTypeDefinition<_im_gateway_v1_CloseConnectionResponse, _im_gateway_v1_CloseConnectionResponse__Output>
        CloseScope: EnumTypeDefinition
        DeviceStatus: MessageTypeDefinition<_im_gateway_v1_DeviceStatus, _im_gateway_v1_DeviceStatus__Output>
        GetConnectionStatusRequest: MessageTypeDefinition<_im_gateway_v1_GetConnectionStatusRequest, _im_gateway_v1_GetConnectionStatusRequest__Output>
        GetConnectionStatusResponse: MessageTypeDefinition<_im_gateway_v1_GetConnectionStatusResponse, _im_gateway_v1_GetConnectionStatusResponse__Output>
        /**
         * The gateway's RPC surface. Wire-identical to the published spec; anything
         * added comes as new fields or RPCs only.
         */
        IMGatewayService: SubtypeConstructor<typeof grpc.Client, _im_gateway_v1_IMGatewayServiceClient> & { service: _im_gateway_v1_IMGatewayServiceDefinition }
        PushMessageRequest: MessageTypeDefinition<_im_gateway_v1_PushMessageRequest, _im_gateway_v1_PushMessageRequest__Output>
        PushMessageResponse: MessageTypeDefinition<_im_gateway_v1_PushMessageResponse, _im_gateway_v1_PushMessageResponse__Output>
      }
    }
  }
}

