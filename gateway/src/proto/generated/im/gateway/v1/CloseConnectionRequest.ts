// Original file: proto/im/gateway/v1/im_gateway_service.proto


export interface CloseConnectionRequest {
  'user_id'?: (string);
  /**
   * Optional, if empty close all devices
   */
  'device_id'?: (string);
  'reason'?: (string);
}

export interface CloseConnectionRequest__Output {
  'user_id': (string);
  /**
   * Optional, if empty close all devices
   */
  'device_id': (string);
  'reason': (string);
}
