/**
 * Incoming messages: each delivered to the app once, in sequence order per
 * conversation, and acknowledged to the gateway cumulatively.
 *
 * A socket gets each conversation in sequence order with no gap, and after a
 * reconnect the gateway replays from the last acked message on. So a message
 * whose sequence number is not above the last one delivered in its
 * conversation is a replayed copy: dropped, but still acked so the gateway's
 * position moves on. Gaps are normal: a device is not sent its own messages.
 */
import type { ClientAckFrame, MessageFrame, Metadata, RecipientType } from './generated/frames.ts';

/** A message as the app sees it. */
export interface Message {
  msgId: string;
  senderId: string;
  recipientId: string;
  recipientType: RecipientType;
  /** `group:<group_id>`, or `user:<the other user's id>` for a private message. */
  conversation: string;
  content: string;
  metadata?: Metadata;
  sequenceNumber: number;
  timestamp: number;
}

/** The conversation of a message as seen by `userId` (its own messages from its other devices included). */
export function conversationOf(frame: MessageFrame, userId: string): string {
  if (frame.recipient_type === 'group') return `group:${frame.recipient_id}`;
  return `user:${frame.sender_id === userId ? frame.recipient_id : frame.sender_id}`;
}

interface AckPosition {
  msgId: string;
  sequenceNumber: number;
}

export class Inbox {
  /** Highest sequence number delivered to the app, per conversation. */
  private readonly delivered = new Map<string, number>();
  /** Acks not yet sent, per conversation: only the latest matters, acks being cumulative. */
  private readonly received = new Map<string, AckPosition>();
  private readonly read = new Map<string, AckPosition>();

  /**
   * Takes a `message` frame: the message for the app, or undefined for a
   * copy already delivered. Either way an ack `received` is due.
   */
  accept(frame: MessageFrame, userId: string): Message | undefined {
    const conversation = conversationOf(frame, userId);
    latest(this.received, conversation, frame.msg_id, frame.sequence_number);
    const last = this.delivered.get(conversation);
    if (last !== undefined && frame.sequence_number <= last) return undefined;
    this.delivered.set(conversation, frame.sequence_number);
    const message: Message = {
      msgId: frame.msg_id,
      senderId: frame.sender_id,
      recipientId: frame.recipient_id,
      recipientType: frame.recipient_type,
      conversation,
      content: frame.content,
      sequenceNumber: frame.sequence_number,
      timestamp: frame.timestamp,
    };
    if (frame.metadata !== undefined) message.metadata = frame.metadata;
    return message;
  }

  /** An ack `read` is due for this message and, the ack being cumulative, every earlier one of its conversation. */
  markRead(message: Message): void {
    latest(this.read, message.conversation, message.msgId, message.sequenceNumber);
  }

  get hasAcks(): boolean {
    return this.received.size > 0 || this.read.size > 0;
  }

  /**
   * The acks due, at most one per conversation and status, and forgets them.
   * A `received` at or below a `read` of its conversation is implied by it.
   */
  takeAcks(timestamp: number): ClientAckFrame[] {
    const acks: ClientAckFrame[] = [];
    for (const [conversation, read] of this.read) {
      acks.push({ type: 'ack', msg_id: read.msgId, status: 'read', timestamp });
      const received = this.received.get(conversation);
      if (received !== undefined && received.sequenceNumber <= read.sequenceNumber) this.received.delete(conversation);
    }
    for (const received of this.received.values()) acks.push({ type: 'ack', msg_id: received.msgId, status: 'received', timestamp });
    this.read.clear();
    this.received.clear();
    return acks;
  }
}

function latest(positions: Map<string, AckPosition>, conversation: string, msgId: string, sequenceNumber: number): void {
  const current = positions.get(conversation);
  if (current === undefined || sequenceNumber > current.sequenceNumber) positions.set(conversation, { msgId, sequenceNumber });
}
