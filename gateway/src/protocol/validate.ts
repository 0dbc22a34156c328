/**
 * Parses and validates client frames. Hand-written checks rather than a schema
 * library: this runs for every inbound frame, and each failure must name the
 * field at fault in an `INVALID_MESSAGE_FORMAT` error.
 */
import type { ClientFrame, SendMsgFrame, ClientAckFrame, HeartbeatFrame } from './frames.ts';

/** Ids (users, devices, groups, messages) share one shape so keys built from them stay unambiguous. */
export const ID_PATTERN = /^[A-Za-z0-9_.@\-]{1,128}$/;
export const MAX_MSG_ID_LENGTH = 128;

export function isValidId(value: unknown): value is string {
  return typeof value === 'string' && ID_PATTERN.test(value);
}

export type ParseResult =
  | { ok: true; frame: ClientFrame }
  | { ok: false; problem: string; msgId?: string };

/** Parses one text frame. Never throws. */
export function parseClientFrame(text: string): ParseResult {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, problem: 'frame is not valid JSON' };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { ok: false, problem: 'frame must be a JSON object' };
  }
  const obj = value as Record<string, unknown>;
  const msgId = typeof obj.msg_id === 'string' ? obj.msg_id.slice(0, MAX_MSG_ID_LENGTH) : undefined;
  const problem = problemOf(obj);
  if (problem !== null) return msgId === undefined ? { ok: false, problem } : { ok: false, problem, msgId };
  return { ok: true, frame: obj as unknown as ClientFrame };
}

function problemOf(obj: Record<string, unknown>): string | null {
  switch (obj.type) {
    case 'send_msg':
      return sendMsgProblem(obj);
    case 'ack':
      return ackProblem(obj);
    case 'heartbeat':
      return optionalTimestampProblem(obj);
    case undefined:
      return 'missing field "type"';
    default:
      return typeof obj.type === 'string'
        ? `unknown type "${obj.type.slice(0, 64)}"`
        : 'field "type" must be a string';
  }
}

function sendMsgProblem(obj: Record<string, unknown>): string | null {
  const idProblem = idFieldProblem(obj, 'msg_id') ?? idFieldProblem(obj, 'recipient_id');
  if (idProblem !== null) return idProblem;
  if (obj.recipient_type !== 'user' && obj.recipient_type !== 'group') {
    return obj.recipient_type === undefined
      ? 'missing field "recipient_type"'
      : 'field "recipient_type" must be "user" or "group"';
  }
  if (typeof obj.content !== 'string') {
    return obj.content === undefined ? 'missing field "content"' : 'field "content" must be a string';
  }
  const metadata = obj.metadata;
  if (metadata !== undefined && (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata))) {
    return 'field "metadata" must be an object';
  }
  return optionalTimestampProblem(obj);
}

function ackProblem(obj: Record<string, unknown>): string | null {
  const idProblem = idFieldProblem(obj, 'msg_id');
  if (idProblem !== null) return idProblem;
  if (obj.status !== 'received' && obj.status !== 'read') {
    return obj.status === undefined ? 'missing field "status"' : 'field "status" must be "received" or "read"';
  }
  return optionalTimestampProblem(obj);
}

function idFieldProblem(obj: Record<string, unknown>, field: string): string | null {
  const value = obj[field];
  if (value === undefined) return `missing field "${field}"`;
  if (typeof value !== 'string') return `field "${field}" must be a string`;
  if (!ID_PATTERN.test(value)) return `field "${field}" must be 1-128 characters of A-Z a-z 0-9 _ . @ -`;
  return null;
}

function optionalTimestampProblem(obj: Record<string, unknown>): string | null {
  const ts = obj.timestamp;
  if (ts !== undefined && (typeof ts !== 'number' || !Number.isFinite(ts))) {
    return 'field "timestamp" must be a number (milliseconds since epoch)';
  }
  return null;
}

export type { SendMsgFrame, ClientAckFrame, HeartbeatFrame };
