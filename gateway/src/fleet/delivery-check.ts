/**
 * The receiving node's checks of a forwarded delivery. Another node is not
 * trusted further than a client: every field is checked before anything is
 * written to a socket, and a failure names the field.
 */
import { isUtf8 } from 'node:buffer';
import type { Delivery__Output } from '../proto/generated/im/gateway/v1/Delivery.ts';
import { idProblem, parseLoggedFrame } from '../protocol/validate.ts';
import type { LogEntry } from '../conversation-log/entry.ts';
import { parseLogId, numbersMessages, type LogId } from '../conversation-log/log-id.ts';

/**
 * Largest frame taken. Client frames are capped far lower (MAX_FRAME_BYTES,
 * 64 KiB by default); a PushMessage can be larger, and one past this is left
 * to its log (the device reads it on its next connect).
 */
export const MAX_FORWARDED_FRAME_BYTES = 1 << 20;

export interface CheckedDelivery {
  userId: string;
  logId: LogId;
  entry: LogEntry;
  /** The frame's bytes as they came: written to sockets as they are. */
  frame: Buffer;
}

/** The delivery ready to write, or what is wrong with it. */
export function checkDelivery(delivery: Delivery__Output): CheckedDelivery | string {
  const { user_id: userId, entry } = delivery;
  const problem = idProblem(userId, 'user_id');
  if (problem !== null) return problem;
  if (entry === null) return 'entry is required';
  const { pos, stored_at: storedAt, sender_device: senderDevice, target_device: targetDevice, frame } = entry;
  const logId = parseLogId(entry.log_id);
  if (logId === undefined) return 'log_id must be d:<a>:<b> (a <= b) or g:, m:, p:, n: and an id';
  if (!Number.isSafeInteger(pos) || pos <= 0) return 'pos must be a positive integer';
  if (!Number.isSafeInteger(storedAt) || storedAt < 0) return 'stored_at must be a non-negative integer';
  const deviceProblem = optionalIdProblem(senderDevice, 'sender_device') ?? optionalIdProblem(targetDevice, 'target_device');
  if (deviceProblem !== null) return deviceProblem;
  if (frame.length > MAX_FORWARDED_FRAME_BYTES) return `frame exceeds ${MAX_FORWARDED_FRAME_BYTES} bytes`;
  // Sockets get these bytes as a text frame: a client closes on invalid UTF-8.
  if (!isUtf8(frame)) return 'frame is not UTF-8';
  const parsed = parseLoggedFrame(frame.toString());
  if (!parsed.ok) return `frame: ${parsed.problem}`;
  if (numbersMessages(logId) && parsed.frame.type === 'message' && parsed.frame.sequence_number !== pos) {
    return 'frame: sequence_number must equal pos in d: and g: logs';
  }
  const logged: LogEntry = { pos, frame: parsed.frame, storedAt };
  if (senderDevice !== '') logged.senderDevice = senderDevice;
  if (targetDevice !== '') logged.targetDevice = targetDevice;
  return { userId, logId, entry: logged, frame };
}

function optionalIdProblem(value: string, field: string): string | null {
  return value === '' ? null : idProblem(value, field);
}
