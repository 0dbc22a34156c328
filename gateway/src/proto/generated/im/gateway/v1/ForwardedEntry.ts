// Original file: proto/im/gateway/v1/peer_service.proto

import type { Long } from '@grpc/proto-loader';

/**
 * A log entry as the store holds it, with the frame already in wire form.
 */
export interface ForwardedEntry {
  /**
   * The log the entry is in: d:<a>:<b> (a < b), g:, m:, p: or n: and an id.
   */
  'log_id'?: (string);
  /**
   * Position in its log; in d: and g: logs the message's sequence_number.
   */
  'pos'?: (number | string | Long);
  /**
   * Milliseconds since epoch when stored.
   */
  'stored_at'?: (number | string | Long);
  /**
   * The device that sent it (it does not get its own message back). Empty: none.
   */
  'sender_device'?: (string);
  /**
   * The only device that may see it (PushMessage with device_id). Empty: every device.
   */
  'target_device'?: (string);
  /**
   * The server frame (message, read_receipt or membership_change) as the
   * UTF-8 JSON written to sockets: the receiving node checks its shape and
   * writes these bytes as they are, without encoding the frame again.
   */
  'frame'?: (Buffer | Uint8Array | string);
}

/**
 * A log entry as the store holds it, with the frame already in wire form.
 */
export interface ForwardedEntry__Output {
  /**
   * The log the entry is in: d:<a>:<b> (a < b), g:, m:, p: or n: and an id.
   */
  'log_id': (string);
  /**
   * Position in its log; in d: and g: logs the message's sequence_number.
   */
  'pos': (number);
  /**
   * Milliseconds since epoch when stored.
   */
  'stored_at': (number);
  /**
   * The device that sent it (it does not get its own message back). Empty: none.
   */
  'sender_device': (string);
  /**
   * The only device that may see it (PushMessage with device_id). Empty: every device.
   */
  'target_device': (string);
  /**
   * The server frame (message, read_receipt or membership_change) as the
   * UTF-8 JSON written to sockets: the receiving node checks its shape and
   * writes these bytes as they are, without encoding the frame again.
   */
  'frame': (Buffer);
}
