// Original file: proto/im/gateway/v1/im_gateway_service.proto


export interface PushMessageResponse {
  'success'?: (boolean);
  /**
   * "delivered", "offline", "failed"
   */
  'status'?: (string);
  'error_message'?: (string);
}

export interface PushMessageResponse__Output {
  'success': (boolean);
  /**
   * "delivered", "offline", "failed"
   */
  'status': (string);
  'error_message': (string);
}
