// Original file: proto/im/gateway/v1/peer_service.proto

import type { ForwardedEntry as _im_gateway_v1_ForwardedEntry, ForwardedEntry__Output as _im_gateway_v1_ForwardedEntry__Output } from '../../../im/gateway/v1/ForwardedEntry.ts';

/**
 * One logged entry for one user's devices on the receiving node.
 */
export interface Delivery {
  'user_id'?: (string);
  'entry'?: (_im_gateway_v1_ForwardedEntry | null);
}

/**
 * One logged entry for one user's devices on the receiving node.
 */
export interface Delivery__Output {
  'user_id': (string);
  'entry': (_im_gateway_v1_ForwardedEntry__Output | null);
}
