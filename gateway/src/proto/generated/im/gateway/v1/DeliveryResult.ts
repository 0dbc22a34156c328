// Original file: proto/im/gateway/v1/peer_service.proto


export interface DeliveryResult {
  /**
   * Devices on this node that were sent the entry.
   */
  'delivered'?: (number);
  /**
   * gRPC status code of this delivery alone: 0 (OK), or 3 (INVALID_ARGUMENT)
   * when a field failed the receiver's checks and nothing was written.
   */
  'code'?: (number);
  /**
   * What was wrong, when code is not 0.
   */
  'details'?: (string);
}

export interface DeliveryResult__Output {
  /**
   * Devices on this node that were sent the entry.
   */
  'delivered': (number);
  /**
   * gRPC status code of this delivery alone: 0 (OK), or 3 (INVALID_ARGUMENT)
   * when a field failed the receiver's checks and nothing was written.
   */
  'code': (number);
  /**
   * What was wrong, when code is not 0.
   */
  'details': (string);
}
