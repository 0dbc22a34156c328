/**
 * Frame shapes of the WebSocket protocol (spec: "Message Types"), with the
 * spec's field names. Client frames are what `validate.ts` accepts; server
 * frames are what `encode.ts` writes.
 */

export type RecipientType = 'user' | 'group';
export type Metadata = Record<string, unknown>;

export interface SendMsgFrame {
  type: 'send_msg';
  msg_id: string;
  recipient_id: string;
  recipient_type: RecipientType;
  content: string;
  timestamp?: number;
  metadata?: Metadata;
}

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

/** Not in the spec: replaces the socket's token before it expires (README "Protocol notes"). */
export interface RefreshTokenFrame {
  type: 'refresh_token';
  token: string;
}

export type ClientFrame = SendMsgFrame | ClientAckFrame | HeartbeatFrame | RefreshTokenFrame;

export type AckStatus = 'delivered' | 'offline';

/** A message as stored in a conversation log and delivered as a `message` frame. */
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

/** Frames that live in logs and are replayed on connect. */
export type LoggedFrame = MessageFrame | ReadReceiptFrame | MembershipChangeFrame;
