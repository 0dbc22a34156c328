// Original file: proto/im/gateway/v1/im_gateway_service.proto


export interface GetConnectionStatusRequest {
  'user_id'?: (string);
  /**
   * Optional
   */
  'device_id'?: (string);
}

export interface GetConnectionStatusRequest__Output {
  'user_id': (string);
  /**
   * Optional
   */
  'device_id': (string);
}
