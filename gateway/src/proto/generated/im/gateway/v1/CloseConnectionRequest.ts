// Original file: proto/im/gateway/v1/im_gateway_service.proto

import type { CloseScope as _im_gateway_v1_CloseScope, CloseScope__Output as _im_gateway_v1_CloseScope__Output } from '../../../im/gateway/v1/CloseScope.ts';

export interface CloseConnectionRequest {
  'user_id'?: (string);
  /**
   * Optional, if empty close all devices
   */
  'device_id'?: (string);
  'reason'?: (string);
  /**
   * Added (optional; unset keeps the published behaviour). Where to close:
   * the whole fleet, or only the node that receives the call (a drain, which
   * calls the pod it empties directly).
   */
  'scope'?: (_im_gateway_v1_CloseScope);
  /**
   * WebSocket close code: 0 (unset) or 4011 closes as the spec says, with a
   * CONNECTION_CLOSED error frame first; 1012 tells the client to reconnect
   * (to another node) at once. Any other value is INVALID_ARGUMENT.
   */
  'close_code'?: (number);
}

export interface CloseConnectionRequest__Output {
  'user_id': (string);
  /**
   * Optional, if empty close all devices
   */
  'device_id': (string);
  'reason': (string);
  /**
   * Added (optional; unset keeps the published behaviour). Where to close:
   * the whole fleet, or only the node that receives the call (a drain, which
   * calls the pod it empties directly).
   */
  'scope': (_im_gateway_v1_CloseScope__Output);
  /**
   * WebSocket close code: 0 (unset) or 4011 closes as the spec says, with a
   * CONNECTION_CLOSED error frame first; 1012 tells the client to reconnect
   * (to another node) at once. Any other value is INVALID_ARGUMENT.
   */
  'close_code': (number);
}
