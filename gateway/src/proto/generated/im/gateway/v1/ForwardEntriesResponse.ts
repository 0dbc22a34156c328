// Original file: proto/im/gateway/v1/peer_service.proto

import type { DeliveryResult as _im_gateway_v1_DeliveryResult, DeliveryResult__Output as _im_gateway_v1_DeliveryResult__Output } from '../../../im/gateway/v1/DeliveryResult.ts';

export interface ForwardEntriesResponse {
  /**
   * One per delivery, in request order.
   */
  'results'?: (_im_gateway_v1_DeliveryResult)[];
}

export interface ForwardEntriesResponse__Output {
  /**
   * One per delivery, in request order.
   */
  'results': (_im_gateway_v1_DeliveryResult__Output)[];
}
