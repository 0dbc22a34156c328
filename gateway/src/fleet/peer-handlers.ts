/**
 * IMGatewayPeerService: what other nodes of the fleet ask of this one. A
 * plain service implementation built by one function, so whatever wraps
 * services (authentication) wraps this one the same way.
 */
import * as grpc from '@grpc/grpc-js';
import type { ConnectionControl } from '../delivery/connection-control.ts';
import type { LocalDelivery } from '../delivery/local-delivery.ts';
import type { Delivery__Output } from '../proto/generated/im/gateway/v1/Delivery.ts';
import type { DeliveryResult } from '../proto/generated/im/gateway/v1/DeliveryResult.ts';
import type { IMGatewayPeerServiceHandlers } from '../proto/generated/im/gateway/v1/IMGatewayPeerService.ts';
import { CloseCode } from '../protocol/errors.ts';
import { idProblem } from '../protocol/validate.ts';
import { checkDelivery } from './delivery-check.ts';
import { TextFrame } from '../connections/text-frame.ts';

/** What a peer may close with (drain, replaced, closed by server); 0 means closed by server. */
const PEER_CLOSE_CODES: ReadonlySet<number> = new Set([CloseCode.SERVICE_RESTART, CloseCode.REPLACED, CloseCode.CLOSED_BY_SERVER]);

export interface PeerHandlerParts {
  local: LocalDelivery;
  control: ConnectionControl;
}

export function peerHandlers(parts: PeerHandlerParts): IMGatewayPeerServiceHandlers {
  const { local, control } = parts;
  return {
    ForwardEntries(call, callback) {
      callback(null, { results: call.request.deliveries.map((delivery) => deliver(local, delivery)) });
    },
    CloseLocal(call, callback) {
      const { user_id: userId, device_id: deviceId, reason, close_code: code } = call.request;
      const closeCode = code === 0 ? CloseCode.CLOSED_BY_SERVER : code;
      const problem = idProblem(userId, 'user_id') ?? (deviceId === '' ? null : idProblem(deviceId, 'device_id'))
        ?? (PEER_CLOSE_CODES.has(closeCode) ? null : `close_code must be one of ${[...PEER_CLOSE_CODES].join(', ')}`);
      if (problem !== null) return callback({ code: grpc.status.INVALID_ARGUMENT, details: problem });
      const closed = control.closeLocal(userId, deviceId, reason, closeCode);
      callback(null, { closed_count: closed });
    },
  };
}

/** One delivery of a batch: refused alone when a field is wrong, the others unaffected. */
function deliver(local: LocalDelivery, delivery: Delivery__Output): DeliveryResult {
  const checked = checkDelivery(delivery);
  if (typeof checked === 'string') return { delivered: 0, code: grpc.status.INVALID_ARGUMENT, details: checked };
  const delivered = local.toUser(checked.userId, checked.logId, checked.entry, TextFrame.of(checked.frame));
  return { delivered, code: grpc.status.OK, details: '' };
}
