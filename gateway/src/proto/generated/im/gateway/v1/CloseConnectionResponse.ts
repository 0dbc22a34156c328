// Original file: proto/im/gateway/v1/im_gateway_service.proto


export interface CloseConnectionResponse {
  'success'?: (boolean);
  'closed_count'?: (number);
}

export interface CloseConnectionResponse__Output {
  'success': (boolean);
  'closed_count': (number);
}
