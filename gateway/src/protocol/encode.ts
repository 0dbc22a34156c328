/**
 * Serialises server frames. Each returns the JSON text once, so a frame that
 * goes to many sockets is encoded once, not once per socket.
 */
import type { AckStatus, LoggedFrame } from './frames.ts';
import { errorMessages, type ErrorCode } from './errors.ts';

export function encodeAuthResponse(userId: string, deviceId: string, now: number): string {
  return JSON.stringify({ type: 'auth_response', success: true, user_id: userId, device_id: deviceId, timestamp: now });
}

export function encodeAck(msgId: string, status: AckStatus, sequenceNumber: number, now: number): string {
  return JSON.stringify({ type: 'ack', msg_id: msgId, status, sequence_number: sequenceNumber, timestamp: now });
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
    error_message: details.message ?? errorMessages[code],
  };
  if (details.msgId !== undefined) frame.msg_id = details.msgId;
  if (details.sequenceNumber !== undefined) frame.sequence_number = details.sequenceNumber;
  frame.timestamp = now;
  return JSON.stringify(frame);
}

export function encodeLogged(frame: LoggedFrame): string {
  return JSON.stringify(frame);
}
