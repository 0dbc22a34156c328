// Original file: proto/im/gateway/v1/im_gateway_service.proto

import type { DeviceStatus as _im_gateway_v1_DeviceStatus, DeviceStatus__Output as _im_gateway_v1_DeviceStatus__Output } from '../../../im/gateway/v1/DeviceStatus.ts';

export interface GetConnectionStatusResponse {
  'online'?: (boolean);
  'devices'?: (_im_gateway_v1_DeviceStatus)[];
}

export interface GetConnectionStatusResponse__Output {
  'online': (boolean);
  'devices': (_im_gateway_v1_DeviceStatus__Output)[];
}
