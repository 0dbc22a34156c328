/**
 * Parses and validates client frames, and the logged server frames another
 * node forwards. Hand-written checks rather than a schema library: this runs
 * for every inbound frame, and each failure must name the field at fault (in
 * an `INVALID_MESSAGE_FORMAT` error to a client, INVALID_ARGUMENT to a peer).
 */
import type { ClientFrame, SendMsgFrame, ClientAckFrame, HeartbeatFrame, LoggedFrame, RefreshTokenFrame } from './frames.ts';

/** Ids (users, devices, groups, messages) share one shape so keys built from them stay unambiguous. */
export const ID_PATTERN = /^[A-Za-z0-9_.@\-]{1,128}$/;
export const MAX_MSG_ID_LENGTH = 128;

/**
 * `metadata` is stored and replayed with the message, so its shape is bounded
 * here: nesting (JSON.stringify recurses, and 10,000 levels overflowed the
 * stack on every delivery) and the number of keys and array items. Its size
 * counts with `content` against MAX_CONTENT_BYTES (`messageBytes`).
 */
export const MAX_METADATA_DEPTH = 8;
export const MAX_METADATA_ENTRIES = 256;

/** Largest JWT a `refresh_token` frame may carry: far above any real token, far below the frame cap. */
export const MAX_TOKEN_LENGTH = 8192;

/** The largest time a JavaScript Date holds: client timestamps beyond it are not times. */
const MAX_TIMESTAMP = 8.64e15;

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
    case 'refresh_token':
      return refreshTokenProblem(obj);
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
  if (metadata !== undefined) {
    if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) return 'field "metadata" must be an object';
    const problem = metadataProblem(metadata as Record<string, unknown>);
    if (problem !== null) return problem;
  }
  return null;
}

/**
 * Walks the parsed metadata, giving up at the first level or entry past the
 * limits, so a hostile frame costs at most MAX_METADATA_ENTRIES steps.
 */
function metadataProblem(metadata: Record<string, unknown>): string | null {
  const budget = { entries: MAX_METADATA_ENTRIES };
  return walk(metadata, 1, budget);
}

function walk(value: object, depth: number, budget: { entries: number }): string | null {
  if (depth > MAX_METADATA_DEPTH) return `field "metadata" must not nest deeper than ${MAX_METADATA_DEPTH} levels`;
  const children = Array.isArray(value) ? value : Object.values(value);
  budget.entries -= children.length;
  if (budget.entries < 0) return `field "metadata" must hold at most ${MAX_METADATA_ENTRIES} keys and array items in all`;
  for (const child of children) {
    if (child !== null && typeof child === 'object') {
      const problem = walk(child as object, depth + 1, budget);
      if (problem !== null) return problem;
    }
  }
  return null;
}

/**
 * What a message weighs against MAX_CONTENT_BYTES: `content` in UTF-8 bytes
 * plus `metadata` as JSON text, both stored and sent with every copy. Call it
 * on a validated frame only: metadata's depth is bounded then, so
 * stringifying it cannot overflow the stack.
 */
export function messageBytes(msg: SendMsgFrame): number {
  const content = Buffer.byteLength(msg.content, 'utf8');
  return msg.metadata === undefined ? content : content + Buffer.byteLength(JSON.stringify(msg.metadata), 'utf8');
}

function refreshTokenProblem(obj: Record<string, unknown>): string | null {
  const token = obj.token;
  if (token === undefined) return 'missing field "token"';
  if (typeof token !== 'string' || token === '') return 'field "token" must be a non-empty string (a JWT)';
  if (token.length > MAX_TOKEN_LENGTH) return `field "token" must be at most ${MAX_TOKEN_LENGTH} characters`;
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
  if (ts !== undefined && (typeof ts !== 'number' || !Number.isInteger(ts) || ts < 0 || ts > MAX_TIMESTAMP)) {
    return 'field "timestamp" must be a number of whole milliseconds since epoch';
  }
  return null;
}

/**
 * How far a client's clock may be trusted: a time it reports (an ack's
 * `timestamp` as `read_at`) is used only within this window before the
 * server's time. Later (a fast clock) or earlier (a wrong one) gives way to
 * the server's time. A day back keeps reads made offline and acked on
 * reconnect; the frame itself is never refused for a skewed clock.
 */
export const CLIENT_TIME_WINDOW_MS = 24 * 3600_000;

/** The client's time when it is plausible, else the server's. */
export function plausibleClientTime(clientTime: number | undefined, now: number): number {
  if (clientTime === undefined || clientTime > now || clientTime < now - CLIENT_TIME_WINDOW_MS) return now;
  return clientTime;
}

export type { SendMsgFrame, ClientAckFrame, HeartbeatFrame, RefreshTokenFrame };
