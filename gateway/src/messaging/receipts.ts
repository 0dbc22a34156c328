/**
 * Client `ack` frames. `received` moves the device's cursor in the message's
 * log (cumulative, as in TCP: messages go down a socket in log order);
 * `read` does the same and sends a `read_receipt` to the sender's devices.
 */
import { ownerOf, type LogId } from '../conversation-log/log-id.ts';
import type { ClientSocket } from '../connections/client-socket.ts';
import { ErrorCode, GatewayError } from '../protocol/errors.ts';
import type { ClientAckFrame } from '../protocol/frames.ts';
import { plausibleClientTime } from '../protocol/validate.ts';
import type { MessageLocation, Store } from '../store/store.ts';
import { dependency } from './dependency.ts';
import type { Notifier } from './notifier.ts';

export class Receipts {
  private readonly store: Store;
  private readonly notifier: Notifier;

  constructor(store: Store, notifier: Notifier) {
    this.store = store;
    this.notifier = notifier;
  }

  /** Records the ack; a store failure becomes CACHE_ERROR, as for a send. */
  acknowledge(socket: ClientSocket, ack: ClientAckFrame): Promise<void> {
    // One wrapper for every store call of the ack: acks are as frequent as messages.
    return dependency('store', this.record(socket, ack));
  }

  private async record(socket: ClientSocket, ack: ClientAckFrame): Promise<void> {
    const location = await this.locate(socket.userId, ack.msg_id);
    if (location === undefined) {
      throw new GatewayError(ErrorCode.INVALID_MESSAGE_FORMAT, `no message ${ack.msg_id} to acknowledge`);
    }
    await this.store.advanceCursor(socket.userId, socket.deviceId, location.conversation, location.pos);
    if (ack.status === 'read' && location.senderId !== socket.userId) {
      const now = Date.now();
      await this.notifier.notify(location.senderId, {
        type: 'read_receipt',
        msg_id: ack.msg_id,
        reader_id: socket.userId,
        read_at: plausibleClientTime(ack.timestamp, now),
        timestamp: now,
      });
    }
  }

  /** The stored message with this id that the user may see (msg_ids are unique per sender only). */
  private async locate(userId: string, msgId: string): Promise<MessageLocation | undefined> {
    for (const location of await this.store.findMessage(msgId)) {
      if (await this.mayAcknowledge(userId, location.conversation)) return location;
    }
    return undefined;
  }

  private async mayAcknowledge(userId: string, logId: LogId): Promise<boolean> {
    const owner = ownerOf(logId);
    switch (owner?.kind) {
      case 'private':
        return owner.users.includes(userId);
      case 'group':
      case 'membership':
        return this.store.isMember(owner.groupId, userId);
      case 'push':
      case 'notifications':
        return owner.userId === userId;
      default:
        return false;
    }
  }
}
