/**
 * Serialises server frames. Each returns the JSON text once, so a frame that
 * goes to many sockets is encoded once, not once per socket.
 */
import type { AckStatus, LoggedFrame } from './frames.ts';
import { ERRORS, type ErrorCode } from './errors.ts';

export function encodeAuthResponse(userId: string, deviceId: string, now: number): string {
  return JSON.stringify({ type: 'auth_response', success: true, user_id: userId, device_id: deviceId, timestamp: now });
}

/** `msgId` is a validated id (A-Z a-z 0-9 _ . @ -): nothing in it needs escaping, so the text is built as is. */
export function encodeAck(msgId: string, status: AckStatus, sequenceNumber: number, now: number): string {
  return `{"type":"ack","msg_id":"${msgId}","status":"${status}","sequence_number":${sequenceNumber},"timestamp":${now}}`;
}

export function encodeHeartbeatResponse(now: number): string {
  return `{"type":"heartbeat_response","timestamp":${now}}`;
}

export interface ErrorDetails {
  msgId?: string | undefined;
  message?: string | undefined;
  /** For DUPLICATE_MESSAGE: the sequence number the original was stored under. */
  sequenceNumber?: number | undefined;
}

export function encodeError(code: ErrorCode, details: ErrorDetails, now: number): string {
  const frame: Record<string, unknown> = {
    type: 'error',
    error_code: code,
    error_message: details.message ?? ERRORS[code].message,
  };
  if (details.msgId !== undefined) frame.msg_id = details.msgId;
  if (details.sequenceNumber !== undefined) frame.sequence_number = details.sequenceNumber;
  frame.timestamp = now;
  return JSON.stringify(frame);
}

/** A logged frame the gateway just built from validated input. */
export function encodeLogged(frame: LoggedFrame): string {
  return JSON.stringify(frame);
}

/**
 * A logged frame read back from a log or a peer, or undefined when it cannot
 * be encoded (nested past the stack, stored before metadata was bounded).
 * Callers skip such an entry: one bad entry must not stop every delivery and
 * replay after it.
 */
export function encodeStored(frame: LoggedFrame): string | undefined {
  try {
    return JSON.stringify(frame);
  } catch {
    return undefined;
  }
}

/** Answers a `refresh_token` frame: the socket now lives until `expiresAt` (milliseconds since epoch). */
export function encodeRefreshTokenResponse(expiresAt: number, now: number): string {
  return `{"type":"refresh_token_response","success":true,"expires_at":${expiresAt},"timestamp":${now}}`;
}
