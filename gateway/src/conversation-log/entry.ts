/**
 * An entry of a conversation log, and who may see it.
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
