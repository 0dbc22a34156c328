/**
 * `send_msg`: limits, recipient check, append to the conversation log (with
 * dedup and the sequence number, atomically), then live delivery and the
 * sender's ack. The ack goes out only once the message is in the log.
 */
import type { Bus } from '../bus/bus.ts';
import type { ClientSocket } from '../connections/client-socket.ts';
import type { LocalDelivery } from '../delivery/local-delivery.ts';
import type { GatewayMetrics } from '../observability/metrics.ts';
import { ErrorCode, GatewayError } from '../protocol/errors.ts';
import type { AckStatus, MessageFrame, SendMsgFrame } from '../protocol/frames.ts';
import { encodeLogged } from '../protocol/encode.ts';
import { groupLog, privateLog, type Store } from '../store/store.ts';

export interface SendLimits {
  maxContentBytes: number;
}

export interface Accepted {
  status: AckStatus;
  sequenceNumber: number;
}

export class Messenger {
  private readonly store: Store;
  private readonly bus: Bus;
  private readonly delivery: LocalDelivery;
  private readonly metrics: GatewayMetrics;
  private readonly limits: SendLimits;

  constructor(store: Store, bus: Bus, delivery: LocalDelivery, metrics: GatewayMetrics, limits: SendLimits) {
    this.store = store;
    this.bus = bus;
    this.delivery = delivery;
    this.metrics = metrics;
    this.limits = limits;
  }

  /**
   * Accepts one message from a socket. Throws GatewayError for anything the
   * sender must hear about (limits, recipient, duplicate, backend down).
   */
  async send(socket: ClientSocket, msg: SendMsgFrame, receivedAt: number): Promise<Accepted> {
    if (Buffer.byteLength(msg.content, 'utf8') > this.limits.maxContentBytes) {
      throw new GatewayError(ErrorCode.MESSAGE_TOO_LARGE, `content exceeds ${this.limits.maxContentBytes} bytes`);
    }
    const senderId = socket.userId;
    if (!(await this.store.consumeRate(senderId, receivedAt))) throw new GatewayError(ErrorCode.RATE_LIMIT_EXCEEDED);
    const isGroup = msg.recipient_type === 'group';
    if (isGroup && !(await this.store.isMember(msg.recipient_id, senderId))) {
      throw new GatewayError(ErrorCode.INVALID_RECIPIENT, `group ${msg.recipient_id} not found or sender is not a member`);
    }
    const frame: MessageFrame = {
      type: 'message',
      msg_id: msg.msg_id,
      sender_id: senderId,
      recipient_id: msg.recipient_id,
      recipient_type: msg.recipient_type,
      content: msg.content,
      sequence_number: 0,
      timestamp: Date.now(),
    };
    if (msg.metadata !== undefined) frame.metadata = msg.metadata;
    const logId = isGroup ? groupLog(msg.recipient_id) : privateLog(senderId, msg.recipient_id);
    const result = await this.store.append(logId, frame, {
      dedupKey: `${senderId}:${msg.msg_id}`,
      senderDevice: socket.deviceId,
      participants: isGroup ? undefined : [senderId, msg.recipient_id],
    });
    if (result.status === 'duplicate') {
      const err = new GatewayError(ErrorCode.DUPLICATE_MESSAGE, `message ${msg.msg_id} was already accepted`);
      err.sequenceNumber = result.pos;
      throw err;
    }
    const { entry } = result;
    this.metrics.messagesSent.inc();
    let status: AckStatus = 'delivered';
    if (isGroup) {
      await this.bus.publishGroup({ groupId: msg.recipient_id, entry });
    } else {
      const text = encodeLogged(entry.frame);
      // The sender's other devices get a copy (multi-device sync); the sending device does not.
      const toRecipient = this.delivery.toUser(msg.recipient_id, logId, entry, text, senderId === msg.recipient_id ? socket.deviceId : undefined);
      if (senderId !== msg.recipient_id) this.delivery.toUser(senderId, logId, entry, text, socket.deviceId);
      if (toRecipient === 0) status = 'offline';
    }
    this.metrics.messageLatency.observe(Date.now() - receivedAt);
    return { status, sequenceNumber: entry.pos };
  }
}
