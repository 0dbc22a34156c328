/**
 * `send_msg`: limits, recipient check, append to the conversation log (with
 * dedup and the sequence number, atomically), then live delivery, the message
 * log, and the sender's ack. The ack goes out only once the message is stored.
 */
import type { Bus } from '../bus/bus.ts';
import type { ClientSocket } from '../connections/client-socket.ts';
import type { RetryQueue } from '../delivery/retry-queue.ts';
import type { Router } from '../delivery/router.ts';
import type { GatewayMetrics } from '../observability/metrics.ts';
import { ErrorCode, GatewayError } from '../protocol/errors.ts';
import type { AckStatus, MessageFrame, SendMsgFrame } from '../protocol/frames.ts';
import { encodeLogged } from '../protocol/encode.ts';
import { messageBytes } from '../protocol/validate.ts';
import { groupLog, privateLog, type LogEntry, type Store } from '../store/store.ts';
import { dependency } from './dependency.ts';

const MAX_UNCERTAIN = 50_000;

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
  private readonly router: Router;
  private readonly retries: RetryQueue;
  private readonly metrics: GatewayMetrics;
  private readonly limits: SendLimits;
  /** Dedup keys of appends whose outcome is unknown, until recovered or retried here. */
  private readonly uncertain = new Set<string>();

  constructor(store: Store, bus: Bus, router: Router, retries: RetryQueue, metrics: GatewayMetrics, limits: SendLimits) {
    this.store = store;
    this.bus = bus;
    this.router = router;
    this.retries = retries;
    this.metrics = metrics;
    this.limits = limits;
  }

  /**
   * Accepts one message from a socket. Throws GatewayError for anything the
   * sender must hear about (limits, recipient, duplicate, a dependency down).
   * A failure after the message is stored still answers with an error: the
   * client retries with the same msg_id and gets DUPLICATE_MESSAGE with the
   * sequence number, so it learns the message was kept.
   */
  async send(socket: ClientSocket, msg: SendMsgFrame, receivedAt: number): Promise<Accepted> {
    if (messageBytes(msg) > this.limits.maxContentBytes) {
      throw new GatewayError(ErrorCode.MESSAGE_TOO_LARGE, `content and metadata exceed ${this.limits.maxContentBytes} bytes`);
    }
    const senderId = socket.userId;
    const store = this.store;
    if (!(await dependency('store', store.consumeRate(senderId, receivedAt)))) throw new GatewayError(ErrorCode.RATE_LIMIT_EXCEEDED);
    const isGroup = msg.recipient_type === 'group';
    if (isGroup && !(await dependency('store', store.isMember(msg.recipient_id, senderId)))) {
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
    const dedupKey = `${senderId}:${msg.msg_id}`;
    const result = await dependency('store', store.append(logId, frame, {
      dedupKey,
      senderDevice: socket.deviceId,
      participants: isGroup ? undefined : [senderId, msg.recipient_id],
    })).catch((err: unknown) => {
      // The append may have run with only its reply lost: then the message is
      // stored, the client's retry is a duplicate, and nothing would deliver it.
      this.uncertain.add(dedupKey);
      // Bounded like the retry queue that holds the recoveries: the oldest go first.
      if (this.uncertain.size > MAX_UNCERTAIN) this.uncertain.delete(this.uncertain.values().next().value!);
      this.retries.add(`recover ${logId} ${dedupKey}`, () => this.recover(logId, dedupKey, frame.timestamp, socket.deviceId));
      throw err;
    });
    // A retry that stored the message itself delivers it: no recovery for the failed attempt.
    if (result.status === 'appended') this.uncertain.delete(dedupKey);
    if (result.status === 'duplicate') {
      const err = new GatewayError(ErrorCode.DUPLICATE_MESSAGE, `message ${msg.msg_id} was already accepted`);
      err.sequenceNumber = result.pos;
      throw err;
    }
    const delivered = await this.deliver(logId, result.entry, socket.deviceId);
    const status: AckStatus = isGroup || delivered > 0 ? 'delivered' : 'offline';
    this.metrics.messagesSent.inc();
    this.metrics.messageLatency.observe(Date.now() - receivedAt);
    return { status, sequenceNumber: result.entry.pos };
  }

  /**
   * Live delivery and the message log for a stored message; resolves with how
   * many recipient devices got it (group messages: fanned out by the bus).
   */
  private async deliver(logId: string, entry: LogEntry, senderDevice: string): Promise<number> {
    const frame = entry.frame as MessageFrame;
    if (frame.recipient_type === 'group') {
      // One record: the message log and the fan-out to every node's members. If Kafka is
      // down the publish waits in the retry queue, so online members still get it live.
      await dependency('bus', this.retries.attempt(`publish ${logId}#${entry.pos}`, () => this.bus.publishGroup({ groupId: frame.recipient_id, entry })));
      return 0;
    }
    const text = encodeLogged(frame);
    const { sender_id: senderId, recipient_id: recipientId } = frame;
    const self = senderId === recipientId;
    // The sender's other devices get a copy (multi-device sync); the sending device does not.
    const [toRecipient] = await Promise.all([
      dependency('registry', this.router.toUser(recipientId, logId, entry, text, self ? senderDevice : undefined)),
      self ? 0 : dependency('registry', this.router.toUser(senderId, logId, entry, text, senderDevice)),
      dependency('bus', this.retries.attempt(`log ${logId}#${entry.pos}`, () => this.bus.appendPrivate(logId, entry))),
    ]);
    return toRecipient;
  }

  /**
   * Delivers a message whose append had an unknown outcome, if that very
   * append stored it: not when a retry on this node stored it (it delivered
   * it itself), nor when one elsewhere did (another server timestamp).
   */
  private async recover(logId: string, dedupKey: string, timestamp: number, senderDevice: string): Promise<void> {
    if (!this.uncertain.has(dedupKey)) return;
    const pos = await this.store.dedupPosition(dedupKey);
    this.uncertain.delete(dedupKey);
    if (pos === null) return;
    const entry = (await this.store.read(logId, pos - 1, 1)).entries[0];
    if (entry === undefined || entry.pos !== pos || entry.frame.timestamp !== timestamp) return;
    // Failures here are queued by deliver's own retries; the recovery itself is done.
    await this.deliver(logId, entry, senderDevice).catch(() => {});
  }
}
