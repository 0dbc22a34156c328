/**
 * PushMessage from another service: the message goes into the user's p: log
 * (with the caller's sequence_number) and to the online devices. Stored
 * first, so a device that drops before acking gets it on its next connect.
 */
import type { UserDelivery } from '../delivery/user-delivery.ts';
import type { ConnectionControl } from '../delivery/connection-control.ts';
import type { GatewayMetrics } from '../observability/metrics.ts';
import { encodeLogged } from '../protocol/encode.ts';
import type { MessageFrame } from '../protocol/frames.ts';
import { pushLog } from '../conversation-log/log-id.ts';
import type { Store } from '../store/store.ts';
import { dependency } from './dependency.ts';

export interface PushRequest {
  userId: string;
  /** Empty: every device of the user. */
  deviceId: string;
  msgId: string;
  senderId: string;
  content: string;
  sequenceNumber: number;
  timestamp: number;
}

export type PushStatus = 'delivered' | 'offline';

export class Pusher {
  private readonly store: Store;
  private readonly users: UserDelivery;
  private readonly control: ConnectionControl;
  private readonly metrics: GatewayMetrics;

  constructor(store: Store, users: UserDelivery, control: ConnectionControl, metrics: GatewayMetrics) {
    this.store = store;
    this.users = users;
    this.control = control;
    this.metrics = metrics;
  }

  async push(req: PushRequest): Promise<PushStatus> {
    const started = Date.now();
    const frame: MessageFrame = {
      type: 'message',
      msg_id: req.msgId,
      sender_id: req.senderId,
      recipient_id: req.userId,
      recipient_type: 'user',
      content: req.content,
      sequence_number: req.sequenceNumber,
      timestamp: req.timestamp > 0 ? req.timestamp : started,
    };
    const logId = pushLog(req.userId);
    const result = await dependency('store', this.store.append(logId, frame, {
      dedup: { scope: `push:${req.senderId}`, id: req.msgId },
      ...(req.deviceId === '' ? {} : { targetDevice: req.deviceId }),
    }));
    if (result.status !== 'appended') {
      // A retried push: already stored (and delivered if it could be); report presence only.
      return (await dependency('registry', this.control.status(req.userId, req.deviceId))).length > 0 ? 'delivered' : 'offline';
    }
    this.metrics.messagesSent.inc();
    const delivered = await this.users.toUser(req.userId, logId, result.entry, encodeLogged(frame));
    this.metrics.messageLatency.observe(Date.now() - started);
    return delivered > 0 ? 'delivered' : 'offline';
  }
}
