// Original file: proto/im/gateway/v1/peer_service.proto

import type { Delivery as _im_gateway_v1_Delivery, Delivery__Output as _im_gateway_v1_Delivery__Output } from '../../../im/gateway/v1/Delivery.ts';

export interface ForwardEntriesRequest {
  'deliveries'?: (_im_gateway_v1_Delivery)[];
}

export interface ForwardEntriesRequest__Output {
  'deliveries': (_im_gateway_v1_Delivery__Output)[];
}
