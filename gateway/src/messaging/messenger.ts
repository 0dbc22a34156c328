/**
 * `send_msg`: the content limit, then one atomic step in the store: dedup,
 * group membership, the sender's rate limit, the append to the conversation
 * log with its sequence number, and the outbox record of what must follow;
 * then the sender's ack. The ack waits for the store
 * alone, the source of truth: live delivery and the message-log record
 * follow from there (delivery/dispatcher.ts), so no other dependency can turn
 * a stored message into an error, and every send is answered within the
 * store's command timeout.
 */
import type { ClientSocket } from '../connections/client-socket.ts';
import type { Dispatcher } from '../delivery/dispatcher.ts';
import type { GatewayMetrics } from '../observability/metrics.ts';
import { ErrorCode, GatewayError } from '../protocol/errors.ts';
import type { AckStatus, MessageFrame, SendMsgFrame } from '../protocol/frames.ts';
import { messageBytes } from '../protocol/validate.ts';
import { groupLog, privateLog, type LogId } from '../conversation-log/log-id.ts';
import type { Store } from '../store/store.ts';
import { dependency } from './dependency.ts';

export interface SendLimits {
  maxContentBytes: number;
}

export interface Accepted {
  status: AckStatus;
  sequenceNumber: number;
}

/** Whether a user has a device online anywhere (this node's sockets or the registry's view). */
export type Presence = (userId: string) => boolean;

export class Messenger {
  private readonly store: Store;
  private readonly dispatcher: Dispatcher;
  private readonly online: Presence;
  private readonly metrics: GatewayMetrics;
  private readonly limits: SendLimits;

  constructor(store: Store, dispatcher: Dispatcher, online: Presence, metrics: GatewayMetrics, limits: SendLimits) {
    this.store = store;
    this.dispatcher = dispatcher;
    this.online = online;
    this.metrics = metrics;
    this.limits = limits;
  }

  /**
   * Accepts one message from a socket. Throws GatewayError for anything the
   * sender must hear about (limits, recipient, duplicate, the store down).
   * A retry of a stored message gets DUPLICATE_MESSAGE with its sequence
   * number, and the message is delivered live again (its first sender's node
   * may have died before it could).
   */
  async send(socket: ClientSocket, msg: SendMsgFrame, receivedAt: number): Promise<Accepted> {
    if (messageBytes(msg) > this.limits.maxContentBytes) {
      throw new GatewayError(ErrorCode.MESSAGE_TOO_LARGE, `content and metadata exceed ${this.limits.maxContentBytes} bytes`);
    }
    const senderId = socket.userId;
    const store = this.store;
    const isGroup = msg.recipient_type === 'group';
    const frame: MessageFrame = {
      type: 'message',
      msg_id: msg.msg_id,
      sender_id: senderId,
      recipient_id: msg.recipient_id,
      recipient_type: msg.recipient_type,
      content: msg.content,
      // Its log numbers it: the stored entry's frame carries the number (frameAt).
      sequence_number: 0,
      timestamp: Date.now(),
    };
    if (msg.metadata !== undefined) frame.metadata = msg.metadata;
    const logId = isGroup ? groupLog(msg.recipient_id) : privateLog(senderId, msg.recipient_id);
    const result = await dependency('store', store.append(logId, frame, {
      dedup: { scope: senderId, id: msg.msg_id },
      senderDevice: socket.deviceId,
      participants: isGroup ? undefined : [senderId, msg.recipient_id],
      outbox: true,
      sender: isGroup ? { userId: senderId, now: receivedAt, mustBeMemberOf: msg.recipient_id } : { userId: senderId, now: receivedAt },
    }));
    if (result.status === 'refused') {
      if (result.reason === 'rate_limited') throw new GatewayError(ErrorCode.RATE_LIMIT_EXCEEDED);
      throw new GatewayError(ErrorCode.INVALID_RECIPIENT, `group ${msg.recipient_id} not found or sender is not a member`);
    }
    if (result.status === 'duplicate') {
      if (!isGroup) void this.redeliver(logId, result.pos, msg.msg_id, senderId);
      const err = new GatewayError(ErrorCode.DUPLICATE_MESSAGE, `message ${msg.msg_id} was already accepted`);
      err.sequenceNumber = result.pos;
      throw err;
    }
    this.dispatcher.dispatch(logId, result.entry, result.outboxId);
    this.metrics.messagesSent.inc();
    this.metrics.messageLatency.observe(Date.now() - receivedAt);
    const status: AckStatus = isGroup || this.online(msg.recipient_id) ? 'delivered' : 'offline';
    return { status, sequenceNumber: result.entry.pos };
  }

  /** The stored original of a retried message, delivered live again; failures wait for the next entry or connect. */
  private async redeliver(logId: LogId, pos: number, msgId: string, senderId: string): Promise<void> {
    try {
      const entry = (await this.store.read(logId, pos - 1, 1)).entries[0];
      const frame = entry?.frame;
      if (entry?.pos === pos && frame?.type === 'message' && frame.msg_id === msgId && frame.sender_id === senderId) {
        this.dispatcher.redeliver(logId, entry);
      }
    } catch {
      // The store is down: the device gets it with the log's next entry or on its next connect.
    }
  }
}
