/**
 * Parses and validates client frames, and the logged server frames another
 * node forwards. Hand-written checks rather than a schema library: this runs
 * for every inbound frame, and each failure must name the field at fault (in
 * an `INVALID_MESSAGE_FORMAT` error to a client, INVALID_ARGUMENT to a peer).
 */
import type { ClientFrame, SendMsgFrame, ClientAckFrame, HeartbeatFrame, LoggedFrame } from './frames.ts';

/** Ids (users, devices, groups, messages) share one shape so keys built from them stay unambiguous. */
export const ID_PATTERN = /^[A-Za-z0-9_.@\-]{1,128}$/;
export const MAX_MSG_ID_LENGTH = 128;

export function isValidId(value: unknown): value is string {
  return typeof value === 'string' && ID_PATTERN.test(value);
}

/** What is wrong with a required id field of an RPC (where every string is present, empty by default), or null. */
export function idProblem(value: string, field: string): string | null {
  if (value === '') return `${field} is required`;
  return ID_PATTERN.test(value) ? null : `${field} must be 1-128 characters of A-Z a-z 0-9 _ . @ -`;
}

export type ParseResult =
  | { ok: true; frame: ClientFrame }
  | { ok: false; problem: string; msgId?: string };

/** Parses one text frame. Never throws. */
export function parseClientFrame(text: string): ParseResult {
  const obj = jsonObject(text);
  if (typeof obj === 'string') return { ok: false, problem: obj };
  const msgId = typeof obj.msg_id === 'string' ? obj.msg_id.slice(0, MAX_MSG_ID_LENGTH) : undefined;
  const problem = problemOf(obj);
  if (problem !== null) return msgId === undefined ? { ok: false, problem } : { ok: false, problem, msgId };
  return { ok: true, frame: obj as unknown as ClientFrame };
}

export type LoggedParseResult = { ok: true; frame: LoggedFrame } | { ok: false; problem: string };

/** Parses a frame as logs hold it (`message`, `read_receipt`, `membership_change`). Never throws. */
export function parseLoggedFrame(text: string): LoggedParseResult {
  const obj = jsonObject(text);
  if (typeof obj === 'string') return { ok: false, problem: obj };
  const problem = loggedProblemOf(obj);
  return problem === null ? { ok: true, frame: obj as unknown as LoggedFrame } : { ok: false, problem };
}

/** The JSON object in `text`, or what is wrong with it. */
function jsonObject(text: string): Record<string, unknown> | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'frame is not valid JSON';
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'frame must be a JSON object';
  return value as Record<string, unknown>;
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

function loggedProblemOf(obj: Record<string, unknown>): string | null {
  switch (obj.type) {
    case 'message':
      return messageProblem(obj);
    case 'read_receipt':
      return idFieldProblem(obj, 'msg_id') ?? idFieldProblem(obj, 'reader_id') ?? numberFieldProblem(obj, 'read_at') ?? numberFieldProblem(obj, 'timestamp');
    case 'membership_change':
      if (obj.change_type !== 'join' && obj.change_type !== 'leave') return 'field "change_type" must be "join" or "leave"';
      return idFieldProblem(obj, 'group_id') ?? idFieldProblem(obj, 'user_id') ?? numberFieldProblem(obj, 'timestamp');
    default:
      return 'field "type" must be "message", "read_receipt" or "membership_change"';
  }
}

/** A stored message: what send_msg carried plus what the server set (sender, sequence number, time). */
function messageProblem(obj: Record<string, unknown>): string | null {
  const problem = messageFieldsProblem(obj) ?? idFieldProblem(obj, 'sender_id') ?? numberFieldProblem(obj, 'timestamp');
  if (problem !== null) return problem;
  return Number.isInteger(obj.sequence_number) ? null : 'field "sequence_number" must be an integer';
}

function sendMsgProblem(obj: Record<string, unknown>): string | null {
  return messageFieldsProblem(obj) ?? optionalTimestampProblem(obj);
}

/** The fields a `send_msg` and the `message` it becomes share. */
function messageFieldsProblem(obj: Record<string, unknown>): string | null {
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
  return null;
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

function numberFieldProblem(obj: Record<string, unknown>, field: string): string | null {
  const value = obj[field];
  return typeof value === 'number' && Number.isFinite(value) ? null : `field "${field}" must be a number`;
}

function optionalTimestampProblem(obj: Record<string, unknown>): string | null {
  const ts = obj.timestamp;
  if (ts !== undefined && (typeof ts !== 'number' || !Number.isFinite(ts))) {
    return 'field "timestamp" must be a number (milliseconds since epoch)';
  }
  return null;
}

export type { SendMsgFrame, ClientAckFrame, HeartbeatFrame };
