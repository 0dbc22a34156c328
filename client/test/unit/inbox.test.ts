import { describe, expect, it } from 'vitest';
import type { MessageFrame } from '../../src/generated/frames.ts';
import { conversationOf, Inbox } from '../../src/inbox.ts';

const ME = 'me';

function frame(seq: number, from: string, to = ME, recipientType: 'user' | 'group' = 'user'): MessageFrame {
  return {
    type: 'message', msg_id: `${from}-${to}-${seq}`, sender_id: from, recipient_id: to, recipient_type: recipientType,
    content: `#${seq}`, sequence_number: seq, timestamp: 1_700_000_000_000 + seq,
  };
}

describe('inbox', () => {
  it('names a conversation by the group, or by the other user of a private pair, from either side', () => {
    expect(conversationOf(frame(1, 'peer'), ME)).toBe('user:peer');
    expect(conversationOf(frame(1, ME, 'peer'), ME)).toBe('user:peer');
    expect(conversationOf(frame(1, 'peer', 'team', 'group'), ME)).toBe('group:team');
  });

  it('delivers a replayed copy once and drops the copies, per conversation', () => {
    const inbox = new Inbox();
    const delivered = [1, 2, 3, 2, 3, 4].map((seq) => inbox.accept(frame(seq, 'peer'), ME)?.sequenceNumber);
    expect(delivered).toEqual([1, 2, 3, undefined, undefined, 4]);
    // Another conversation has its own numbers.
    expect(inbox.accept(frame(1, 'other'), ME)?.conversation).toBe('user:other');
    expect(inbox.accept(frame(2, 'peer', 'team', 'group'), ME)?.conversation).toBe('group:team');
  });

  it('accepts gaps: a device is not sent the messages it sent itself', () => {
    const inbox = new Inbox();
    expect(inbox.accept(frame(1, 'peer'), ME)).toBeDefined();
    expect(inbox.accept(frame(4, 'peer'), ME)?.sequenceNumber).toBe(4);
  });

  it('owes one cumulative ack per conversation, for the latest message, and the dropped copies too', () => {
    const inbox = new Inbox();
    for (const seq of [1, 2, 3]) inbox.accept(frame(seq, 'peer'), ME);
    inbox.accept(frame(7, 'other'), ME);
    expect(inbox.takeAcks(5)).toEqual([
      { type: 'ack', msg_id: 'peer-me-3', status: 'received', timestamp: 5 },
      { type: 'ack', msg_id: 'other-me-7', status: 'received', timestamp: 5 },
    ]);
    expect(inbox.hasAcks).toBe(false);
    // A replayed copy after a reconnect is acked again, so the gateway's position moves past it.
    expect(inbox.accept(frame(3, 'peer'), ME)).toBeUndefined();
    expect(inbox.takeAcks(6)).toEqual([{ type: 'ack', msg_id: 'peer-me-3', status: 'received', timestamp: 6 }]);
  });

  it('sends a read in place of a received it covers, and both when the received is later', () => {
    const inbox = new Inbox();
    const [m1, m2] = [inbox.accept(frame(1, 'peer'), ME)!, inbox.accept(frame(2, 'peer'), ME)!];
    inbox.markRead(m2);
    expect(inbox.takeAcks(1)).toEqual([{ type: 'ack', msg_id: 'peer-me-2', status: 'read', timestamp: 1 }]);
    inbox.accept(frame(3, 'peer'), ME);
    inbox.markRead(m1);
    expect(inbox.takeAcks(2)).toEqual([
      { type: 'ack', msg_id: 'peer-me-1', status: 'read', timestamp: 2 },
      { type: 'ack', msg_id: 'peer-me-3', status: 'received', timestamp: 2 },
    ]);
  });
});
