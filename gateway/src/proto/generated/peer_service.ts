import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { CloseLocalRequest as _im_gateway_v1_CloseLocalRequest, CloseLocalRequest__Output as _im_gateway_v1_CloseLocalRequest__Output } from './im/gateway/v1/CloseLocalRequest.ts';
import type { CloseLocalResponse as _im_gateway_v1_CloseLocalResponse, CloseLocalResponse__Output as _im_gateway_v1_CloseLocalResponse__Output } from './im/gateway/v1/CloseLocalResponse.ts';
import type { Delivery as _im_gateway_v1_Delivery, Delivery__Output as _im_gateway_v1_Delivery__Output } from './im/gateway/v1/Delivery.ts';
import type { DeliveryResult as _im_gateway_v1_DeliveryResult, DeliveryResult__Output as _im_gateway_v1_DeliveryResult__Output } from './im/gateway/v1/DeliveryResult.ts';
import type { ForwardEntriesRequest as _im_gateway_v1_ForwardEntriesRequest, ForwardEntriesRequest__Output as _im_gateway_v1_ForwardEntriesRequest__Output } from './im/gateway/v1/ForwardEntriesRequest.ts';
import type { ForwardEntriesResponse as _im_gateway_v1_ForwardEntriesResponse, ForwardEntriesResponse__Output as _im_gateway_v1_ForwardEntriesResponse__Output } from './im/gateway/v1/ForwardEntriesResponse.ts';
import type { ForwardedEntry as _im_gateway_v1_ForwardedEntry, ForwardedEntry__Output as _im_gateway_v1_ForwardedEntry__Output } from './im/gateway/v1/ForwardedEntry.ts';
import type { IMGatewayPeerServiceClient as _im_gateway_v1_IMGatewayPeerServiceClient, IMGatewayPeerServiceDefinition as _im_gateway_v1_IMGatewayPeerServiceDefinition } from './im/gateway/v1/IMGatewayPeerService.ts';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  im: {
    gateway: {
      v1: {
        CloseLocalRequest: MessageTypeDefinition<_im_gateway_v1_CloseLocalRequest, _im_gateway_v1_CloseLocalRequest__Output>
        CloseLocalResponse: MessageTypeDefinition<_im_gateway_v1_CloseLocalResponse, _im_gateway_v1_CloseLocalResponse__Output>
        Delivery: MessageTypeDefinition<_im_gateway_v1_Delivery, _im_gateway_v1_Delivery__Output>
        DeliveryResult: MessageTypeDefinition<_im_gateway_v1_DeliveryResult, _im_gateway_v1_DeliveryResult__Output>
        ForwardEntriesRequest: MessageTypeDefinition<_im_gateway_v1_ForwardEntriesRequest, _im_gateway_v1_ForwardEntriesRequest__Output>
        ForwardEntriesResponse: MessageTypeDefinition<_im_gateway_v1_ForwardEntriesResponse, _im_gateway_v1_ForwardEntriesResponse__Output>
        ForwardedEntry: MessageTypeDefinition<_im_gateway_v1_ForwardedEntry, _im_gateway_v1_ForwardedEntry__Output>
        /**
         * Node-to-node calls inside one gateway fleet. Not for clients or other
         * services: these act on one node only and never store anything again.
         */
        IMGatewayPeerService: SubtypeConstructor<typeof grpc.Client, _im_gateway_v1_IMGatewayPeerServiceClient> & { service: _im_gateway_v1_IMGatewayPeerServiceDefinition }
      }
    }
  }
}

