/**
 * The WebSocket frames of the gateway protocol, with the spec's field names
 * (spec "Message Types"; `refresh_token`, `refresh_token_response` and the
 * `sequence_number` of a DUPLICATE_MESSAGE error are from the README's
 * "Protocol notes"). One type per frame.
 */

export type RecipientType = 'user' | 'group';
export type Metadata = Record<string, unknown>;

// Client -> gateway

export interface SendMsgFrame {
  type: 'send_msg';
  msg_id: string;
  recipient_id: string;
  recipient_type: RecipientType;
  content: string;
  timestamp?: number;
  metadata?: Metadata;
}

/** Cumulative: acknowledges this message and every earlier one of its conversation, for this device. */
export interface ClientAckFrame {
  type: 'ack';
  msg_id: string;
  status: 'received' | 'read';
  timestamp?: number;
}

export interface HeartbeatFrame {
  type: 'heartbeat';
  timestamp?: number;
}

export interface RefreshTokenFrame {
  type: 'refresh_token';
  token: string;
}

export type ClientFrame = SendMsgFrame | ClientAckFrame | HeartbeatFrame | RefreshTokenFrame;

// Gateway -> client

export interface AuthResponseFrame {
  type: 'auth_response';
  success: boolean;
  user_id: string;
  device_id: string;
  timestamp: number;
}

/** The gateway's answer to a `send_msg`: stored under `sequence_number`. */
export interface ServerAckFrame {
  type: 'ack';
  msg_id: string;
  status: 'delivered' | 'offline';
  sequence_number: number;
  timestamp: number;
}

export interface MessageFrame {
  type: 'message';
  msg_id: string;
  sender_id: string;
  recipient_id: string;
  recipient_type: RecipientType;
  content: string;
  sequence_number: number;
  timestamp: number;
  metadata?: Metadata;
}

export interface HeartbeatResponseFrame {
  type: 'heartbeat_response';
  timestamp: number;
}

export interface ReadReceiptFrame {
  type: 'read_receipt';
  msg_id: string;
  reader_id: string;
  read_at: number;
  timestamp: number;
}

export interface MembershipChangeFrame {
  type: 'membership_change';
  group_id: string;
  change_type: 'join' | 'leave';
  user_id: string;
  timestamp: number;
}

export interface ErrorFrame {
  type: 'error';
  error_code: string;
  error_message: string;
  msg_id?: string;
  /** On DUPLICATE_MESSAGE: the sequence number the original was stored under. */
  sequence_number?: number;
  timestamp: number;
}

export interface RefreshTokenResponseFrame {
  type: 'refresh_token_response';
  success: boolean;
  /** Milliseconds since epoch: the socket now lives until then. */
  expires_at: number;
  timestamp: number;
}

export type ServerFrame =
  | AuthResponseFrame
  | ServerAckFrame
  | MessageFrame
  | HeartbeatResponseFrame
  | ReadReceiptFrame
  | MembershipChangeFrame
  | ErrorFrame
  | RefreshTokenResponseFrame;
