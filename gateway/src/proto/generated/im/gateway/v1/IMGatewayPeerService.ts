// Original file: proto/im/gateway/v1/peer_service.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { CloseLocalRequest as _im_gateway_v1_CloseLocalRequest, CloseLocalRequest__Output as _im_gateway_v1_CloseLocalRequest__Output } from '../../../im/gateway/v1/CloseLocalRequest.ts';
import type { CloseLocalResponse as _im_gateway_v1_CloseLocalResponse, CloseLocalResponse__Output as _im_gateway_v1_CloseLocalResponse__Output } from '../../../im/gateway/v1/CloseLocalResponse.ts';
import type { ForwardEntriesRequest as _im_gateway_v1_ForwardEntriesRequest, ForwardEntriesRequest__Output as _im_gateway_v1_ForwardEntriesRequest__Output } from '../../../im/gateway/v1/ForwardEntriesRequest.ts';
import type { ForwardEntriesResponse as _im_gateway_v1_ForwardEntriesResponse, ForwardEntriesResponse__Output as _im_gateway_v1_ForwardEntriesResponse__Output } from '../../../im/gateway/v1/ForwardEntriesResponse.ts';

/**
 * Node-to-node calls inside one gateway fleet. Not for clients or other
 * services: these act on one node only and never store anything again.
 */
export interface IMGatewayPeerServiceClient extends grpc.Client {
  /**
   * Closes one user's sockets on this node only (replacement by a newer
   * connection elsewhere, fleet-wide CloseConnection, drain).
   */
  CloseLocal(argument: _im_gateway_v1_CloseLocalRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_CloseLocalResponse__Output>): grpc.ClientUnaryCall;
  CloseLocal(argument: _im_gateway_v1_CloseLocalRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_im_gateway_v1_CloseLocalResponse__Output>): grpc.ClientUnaryCall;
  CloseLocal(argument: _im_gateway_v1_CloseLocalRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_CloseLocalResponse__Output>): grpc.ClientUnaryCall;
  CloseLocal(argument: _im_gateway_v1_CloseLocalRequest, callback: grpc.requestCallback<_im_gateway_v1_CloseLocalResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Closes one user's sockets on this node only (replacement by a newer
   * connection elsewhere, fleet-wide CloseConnection, drain).
   */
  closeLocal(argument: _im_gateway_v1_CloseLocalRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_CloseLocalResponse__Output>): grpc.ClientUnaryCall;
  closeLocal(argument: _im_gateway_v1_CloseLocalRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_im_gateway_v1_CloseLocalResponse__Output>): grpc.ClientUnaryCall;
  closeLocal(argument: _im_gateway_v1_CloseLocalRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_CloseLocalResponse__Output>): grpc.ClientUnaryCall;
  closeLocal(argument: _im_gateway_v1_CloseLocalRequest, callback: grpc.requestCallback<_im_gateway_v1_CloseLocalResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Writes entries that are already in their logs to this node's sockets of
   * their users. A node sends what it forwards to one peer in one call per
   * event-loop turn, or, while a call to that peer is under way, everything
   * that came in meanwhile once it returns (or after 2 ms): a call is paid
   * per batch, not per message. Each delivery is checked and answered on its
   * own: a refused one does not fail the others.
   */
  ForwardEntries(argument: _im_gateway_v1_ForwardEntriesRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_ForwardEntriesResponse__Output>): grpc.ClientUnaryCall;
  ForwardEntries(argument: _im_gateway_v1_ForwardEntriesRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_im_gateway_v1_ForwardEntriesResponse__Output>): grpc.ClientUnaryCall;
  ForwardEntries(argument: _im_gateway_v1_ForwardEntriesRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_ForwardEntriesResponse__Output>): grpc.ClientUnaryCall;
  ForwardEntries(argument: _im_gateway_v1_ForwardEntriesRequest, callback: grpc.requestCallback<_im_gateway_v1_ForwardEntriesResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Writes entries that are already in their logs to this node's sockets of
   * their users. A node sends what it forwards to one peer in one call per
   * event-loop turn, or, while a call to that peer is under way, everything
   * that came in meanwhile once it returns (or after 2 ms): a call is paid
   * per batch, not per message. Each delivery is checked and answered on its
   * own: a refused one does not fail the others.
   */
  forwardEntries(argument: _im_gateway_v1_ForwardEntriesRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_ForwardEntriesResponse__Output>): grpc.ClientUnaryCall;
  forwardEntries(argument: _im_gateway_v1_ForwardEntriesRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_im_gateway_v1_ForwardEntriesResponse__Output>): grpc.ClientUnaryCall;
  forwardEntries(argument: _im_gateway_v1_ForwardEntriesRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_ForwardEntriesResponse__Output>): grpc.ClientUnaryCall;
  forwardEntries(argument: _im_gateway_v1_ForwardEntriesRequest, callback: grpc.requestCallback<_im_gateway_v1_ForwardEntriesResponse__Output>): grpc.ClientUnaryCall;
  
}

/**
 * Node-to-node calls inside one gateway fleet. Not for clients or other
 * services: these act on one node only and never store anything again.
 */
export interface IMGatewayPeerServiceHandlers extends grpc.UntypedServiceImplementation {
  /**
   * Closes one user's sockets on this node only (replacement by a newer
   * connection elsewhere, fleet-wide CloseConnection, drain).
   */
  CloseLocal: grpc.handleUnaryCall<_im_gateway_v1_CloseLocalRequest__Output, _im_gateway_v1_CloseLocalResponse>;
  
  /**
   * Writes entries that are already in their logs to this node's sockets of
   * their users. A node sends what it forwards to one peer in one call per
   * event-loop turn, or, while a call to that peer is under way, everything
   * that came in meanwhile once it returns (or after 2 ms): a call is paid
   * per batch, not per message. Each delivery is checked and answered on its
   * own: a refused one does not fail the others.
   */
  ForwardEntries: grpc.handleUnaryCall<_im_gateway_v1_ForwardEntriesRequest__Output, _im_gateway_v1_ForwardEntriesResponse>;
  
}

export interface IMGatewayPeerServiceDefinition extends grpc.ServiceDefinition {
  CloseLocal: MethodDefinition<_im_gateway_v1_CloseLocalRequest, _im_gateway_v1_CloseLocalResponse, _im_gateway_v1_CloseLocalRequest__Output, _im_gateway_v1_CloseLocalResponse__Output>
  ForwardEntries: MethodDefinition<_im_gateway_v1_ForwardEntriesRequest, _im_gateway_v1_ForwardEntriesResponse, _im_gateway_v1_ForwardEntriesRequest__Output, _im_gateway_v1_ForwardEntriesResponse__Output>
}
