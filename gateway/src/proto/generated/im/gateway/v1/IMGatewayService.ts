// Original file: proto/im/gateway/v1/im_gateway_service.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { CloseConnectionRequest as _im_gateway_v1_CloseConnectionRequest, CloseConnectionRequest__Output as _im_gateway_v1_CloseConnectionRequest__Output } from '../../../im/gateway/v1/CloseConnectionRequest.ts';
import type { CloseConnectionResponse as _im_gateway_v1_CloseConnectionResponse, CloseConnectionResponse__Output as _im_gateway_v1_CloseConnectionResponse__Output } from '../../../im/gateway/v1/CloseConnectionResponse.ts';
import type { GetConnectionStatusRequest as _im_gateway_v1_GetConnectionStatusRequest, GetConnectionStatusRequest__Output as _im_gateway_v1_GetConnectionStatusRequest__Output } from '../../../im/gateway/v1/GetConnectionStatusRequest.ts';
import type { GetConnectionStatusResponse as _im_gateway_v1_GetConnectionStatusResponse, GetConnectionStatusResponse__Output as _im_gateway_v1_GetConnectionStatusResponse__Output } from '../../../im/gateway/v1/GetConnectionStatusResponse.ts';
import type { PushMessageRequest as _im_gateway_v1_PushMessageRequest, PushMessageRequest__Output as _im_gateway_v1_PushMessageRequest__Output } from '../../../im/gateway/v1/PushMessageRequest.ts';
import type { PushMessageResponse as _im_gateway_v1_PushMessageResponse, PushMessageResponse__Output as _im_gateway_v1_PushMessageResponse__Output } from '../../../im/gateway/v1/PushMessageResponse.ts';

/**
 * The gateway's RPC surface. Wire-identical to the published spec; anything
 * added comes as new fields or RPCs only.
 */
export interface IMGatewayServiceClient extends grpc.Client {
  /**
   * Close connection
   */
  CloseConnection(argument: _im_gateway_v1_CloseConnectionRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_CloseConnectionResponse__Output>): grpc.ClientUnaryCall;
  CloseConnection(argument: _im_gateway_v1_CloseConnectionRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_im_gateway_v1_CloseConnectionResponse__Output>): grpc.ClientUnaryCall;
  CloseConnection(argument: _im_gateway_v1_CloseConnectionRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_CloseConnectionResponse__Output>): grpc.ClientUnaryCall;
  CloseConnection(argument: _im_gateway_v1_CloseConnectionRequest, callback: grpc.requestCallback<_im_gateway_v1_CloseConnectionResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Close connection
   */
  closeConnection(argument: _im_gateway_v1_CloseConnectionRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_CloseConnectionResponse__Output>): grpc.ClientUnaryCall;
  closeConnection(argument: _im_gateway_v1_CloseConnectionRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_im_gateway_v1_CloseConnectionResponse__Output>): grpc.ClientUnaryCall;
  closeConnection(argument: _im_gateway_v1_CloseConnectionRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_CloseConnectionResponse__Output>): grpc.ClientUnaryCall;
  closeConnection(argument: _im_gateway_v1_CloseConnectionRequest, callback: grpc.requestCallback<_im_gateway_v1_CloseConnectionResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Get connection status
   */
  GetConnectionStatus(argument: _im_gateway_v1_GetConnectionStatusRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_GetConnectionStatusResponse__Output>): grpc.ClientUnaryCall;
  GetConnectionStatus(argument: _im_gateway_v1_GetConnectionStatusRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_im_gateway_v1_GetConnectionStatusResponse__Output>): grpc.ClientUnaryCall;
  GetConnectionStatus(argument: _im_gateway_v1_GetConnectionStatusRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_GetConnectionStatusResponse__Output>): grpc.ClientUnaryCall;
  GetConnectionStatus(argument: _im_gateway_v1_GetConnectionStatusRequest, callback: grpc.requestCallback<_im_gateway_v1_GetConnectionStatusResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Get connection status
   */
  getConnectionStatus(argument: _im_gateway_v1_GetConnectionStatusRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_GetConnectionStatusResponse__Output>): grpc.ClientUnaryCall;
  getConnectionStatus(argument: _im_gateway_v1_GetConnectionStatusRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_im_gateway_v1_GetConnectionStatusResponse__Output>): grpc.ClientUnaryCall;
  getConnectionStatus(argument: _im_gateway_v1_GetConnectionStatusRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_GetConnectionStatusResponse__Output>): grpc.ClientUnaryCall;
  getConnectionStatus(argument: _im_gateway_v1_GetConnectionStatusRequest, callback: grpc.requestCallback<_im_gateway_v1_GetConnectionStatusResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Push message to connected client
   */
  PushMessage(argument: _im_gateway_v1_PushMessageRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_PushMessageResponse__Output>): grpc.ClientUnaryCall;
  PushMessage(argument: _im_gateway_v1_PushMessageRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_im_gateway_v1_PushMessageResponse__Output>): grpc.ClientUnaryCall;
  PushMessage(argument: _im_gateway_v1_PushMessageRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_PushMessageResponse__Output>): grpc.ClientUnaryCall;
  PushMessage(argument: _im_gateway_v1_PushMessageRequest, callback: grpc.requestCallback<_im_gateway_v1_PushMessageResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Push message to connected client
   */
  pushMessage(argument: _im_gateway_v1_PushMessageRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_PushMessageResponse__Output>): grpc.ClientUnaryCall;
  pushMessage(argument: _im_gateway_v1_PushMessageRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_im_gateway_v1_PushMessageResponse__Output>): grpc.ClientUnaryCall;
  pushMessage(argument: _im_gateway_v1_PushMessageRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_PushMessageResponse__Output>): grpc.ClientUnaryCall;
  pushMessage(argument: _im_gateway_v1_PushMessageRequest, callback: grpc.requestCallback<_im_gateway_v1_PushMessageResponse__Output>): grpc.ClientUnaryCall;
  
}

/**
 * The gateway's RPC surface. Wire-identical to the published spec; anything
 * added comes as new fields or RPCs only.
 */
export interface IMGatewayServiceHandlers extends grpc.UntypedServiceImplementation {
  /**
   * Close connection
   */
  CloseConnection: grpc.handleUnaryCall<_im_gateway_v1_CloseConnectionRequest__Output, _im_gateway_v1_CloseConnectionResponse>;
  
  /**
   * Get connection status
   */
  GetConnectionStatus: grpc.handleUnaryCall<_im_gateway_v1_GetConnectionStatusRequest__Output, _im_gateway_v1_GetConnectionStatusResponse>;
  
  /**
   * Push message to connected client
   */
  PushMessage: grpc.handleUnaryCall<_im_gateway_v1_PushMessageRequest__Output, _im_gateway_v1_PushMessageResponse>;
  
}

export interface IMGatewayServiceDefinition extends grpc.ServiceDefinition {
  CloseConnection: MethodDefinition<_im_gateway_v1_CloseConnectionRequest, _im_gateway_v1_CloseConnectionResponse, _im_gateway_v1_CloseConnectionRequest__Output, _im_gateway_v1_CloseConnectionResponse__Output>
  GetConnectionStatus: MethodDefinition<_im_gateway_v1_GetConnectionStatusRequest, _im_gateway_v1_GetConnectionStatusResponse, _im_gateway_v1_GetConnectionStatusRequest__Output, _im_gateway_v1_GetConnectionStatusResponse__Output>
  PushMessage: MethodDefinition<_im_gateway_v1_PushMessageRequest, _im_gateway_v1_PushMessageResponse, _im_gateway_v1_PushMessageRequest__Output, _im_gateway_v1_PushMessageResponse__Output>
}
