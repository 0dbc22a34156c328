import { describe, expect, it } from 'vitest';
import { decodeEntry, encodeEntry, frameAt, visibleTo, type LogEntry } from '../../src/conversation-log/entry.ts';
import { groupLog, privateLog, pushLog } from '../../src/conversation-log/log-id.ts';
import type { MessageFrame } from '../../src/protocol/frames.ts';

const frame: MessageFrame = { type: 'message', msg_id: 'm1', sender_id: 'alice', recipient_id: 'bob', recipient_type: 'user', content: 'hi', sequence_number: 0, timestamp: 1 };

describe('log entries', () => {
  it('number a message by its log, leaving the given frame alone', () => {
    expect(frameAt(privateLog('alice', 'bob'), 7, frame)).toEqual({ ...frame, sequence_number: 7 });
    expect(frameAt(groupLog('team'), 3, frame)).toMatchObject({ sequence_number: 3 });
    expect(frameAt(pushLog('bob'), 9, { ...frame, sequence_number: 42 })).toMatchObject({ sequence_number: 42 });
    expect(frame.sequence_number).toBe(0);
  });

  it('are hidden from the device that sent them and from devices they are not meant for', () => {
    const sent: LogEntry = { pos: 1, frame, storedAt: 1, senderDevice: 'phone' };
    expect([visibleTo(sent, 'alice', 'phone'), visibleTo(sent, 'alice', 'laptop'), visibleTo(sent, 'bob', 'phone')]).toEqual([false, true, true]);
    const targeted: LogEntry = { pos: 1, frame, storedAt: 1, targetDevice: 'tablet' };
    expect([visibleTo(targeted, 'bob', 'tablet'), visibleTo(targeted, 'bob', 'phone')]).toEqual([true, false]);
  });

  it('come back from a record as they went in, and nothing else does', () => {
    const entry: LogEntry = { pos: 5, frame: { ...frame, sequence_number: 5 }, storedAt: 1700, senderDevice: 'phone' };
    expect(decodeEntry(JSON.parse(encodeEntry(entry)))).toEqual(entry);
    for (const bad of [null, 'x', { pos: 0, storedAt: 1, frame }, { pos: 1.5, storedAt: 1, frame }, { pos: 1, frame }, { pos: 1, storedAt: 1, frame: { type: 'ack' } }, { pos: 1, storedAt: 1, frame, senderDevice: 3 }]) {
      expect(decodeEntry(bad), JSON.stringify(bad)).toBeUndefined();
    }
  });
});
