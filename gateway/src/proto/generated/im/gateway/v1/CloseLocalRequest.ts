// Original file: proto/im/gateway/v1/peer_service.proto


export interface CloseLocalRequest {
  'user_id'?: (string);
  /**
   * Empty: every device of the user on this node
   */
  'device_id'?: (string);
  'reason'?: (string);
  /**
   * WebSocket close code: 4010 replaced, 4011 closed by server, 1012 drain.
   */
  'close_code'?: (number);
}

export interface CloseLocalRequest__Output {
  'user_id': (string);
  /**
   * Empty: every device of the user on this node
   */
  'device_id': (string);
  'reason': (string);
  /**
   * WebSocket close code: 4010 replaced, 4011 closed by server, 1012 drain.
   */
  'close_code': (number);
}
