/**
 * An entry of a conversation log: who may see it, its frame as its log
 * numbers it, and its encoding outside the store (the message log's and the
 * group topic's records).
 */
import type { LoggedFrame } from '../protocol/frames.ts';
import { numbersMessages, type LogId } from './log-id.ts';

export interface LogEntry {
  /** Position in its log, strictly increasing. In d: and g: logs it is the message's sequence_number. */
  pos: number;
  frame: LoggedFrame;
  /** The device that sent it: replay leaves it out for that device. */
  senderDevice?: string;
  /** Set when the entry is meant for one device only (PushMessage with device_id). */
  targetDevice?: string;
  /** Milliseconds since epoch when stored; retention by age uses it. */
  storedAt: number;
}

/**
 * The frame as stored at `pos` in `logId`: a message of a log that numbers
 * its messages carries the position as its sequence_number (the caller's
 * frame is left as it was: stores keep the number apart from the frame).
 */
export function frameAt(logId: LogId, pos: number, frame: LoggedFrame): LoggedFrame {
  return frame.type === 'message' && numbersMessages(logId) ? { ...frame, sequence_number: pos } : frame;
}

/** Replay and live delivery skip what a device sent itself and what was meant for another device. */
export function visibleTo(entry: LogEntry, userId: string, deviceId: string): boolean {
  if (entry.targetDevice !== undefined && entry.targetDevice !== deviceId) return false;
  return entry.senderDevice !== deviceId || entry.frame.type !== 'message' || entry.frame.sender_id !== userId;
}

const LOGGED_TYPES: ReadonlySet<string> = new Set(['message', 'read_receipt', 'membership_change']);

/** The entry as a record carries it: JSON of its fields, the frame as stored. */
export function encodeEntry(entry: LogEntry): string {
  return JSON.stringify(entry);
}

/**
 * An entry read back from a record (`JSON.parse` of what encodeEntry wrote,
 * or the `entry` field around it); undefined when it does not have the shape
 * of one. The frame's fields are checked where it is written to a socket.
 */
export function decodeEntry(value: unknown): LogEntry | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { pos, storedAt, frame, senderDevice, targetDevice } = value as Record<string, unknown>;
  if (!Number.isSafeInteger(pos) || (pos as number) < 1 || typeof storedAt !== 'number' || !Number.isFinite(storedAt)) return undefined;
  if (typeof frame !== 'object' || frame === null || !LOGGED_TYPES.has((frame as { type?: unknown }).type as string)) return undefined;
  if ((senderDevice !== undefined && typeof senderDevice !== 'string') || (targetDevice !== undefined && typeof targetDevice !== 'string')) return undefined;
  const entry: LogEntry = { pos: pos as number, storedAt, frame: frame as LoggedFrame };
  if (senderDevice !== undefined) entry.senderDevice = senderDevice as string;
  if (targetDevice !== undefined) entry.targetDevice = targetDevice as string;
  return entry;
}
