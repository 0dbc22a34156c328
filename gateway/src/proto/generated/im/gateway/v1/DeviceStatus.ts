// Original file: proto/im/gateway/v1/im_gateway_service.proto

import type { Long } from '@grpc/proto-loader';

export interface DeviceStatus {
  'device_id'?: (string);
  'online'?: (boolean);
  'gateway_node'?: (string);
  'connected_at'?: (number | string | Long);
}

export interface DeviceStatus__Output {
  'device_id': (string);
  'online': (boolean);
  'gateway_node': (string);
  'connected_at': (number);
}
