// Original file: proto/im/gateway/v1/im_gateway_service.proto

import type { Long } from '@grpc/proto-loader';

export interface PushMessageRequest {
  'user_id'?: (string);
  /**
   * Optional, if empty push to all devices
   */
  'device_id'?: (string);
  'msg_id'?: (string);
  'sender_id'?: (string);
  'content'?: (string);
  'sequence_number'?: (number | string | Long);
  'timestamp'?: (number | string | Long);
}

export interface PushMessageRequest__Output {
  'user_id': (string);
  /**
   * Optional, if empty push to all devices
   */
  'device_id': (string);
  'msg_id': (string);
  'sender_id': (string);
  'content': (string);
  'sequence_number': (number);
  'timestamp': (number);
}
