/**
 * gRPC: `im.gateway.v1.IMGatewayService` from proto/ (API tokens), the
 * node-to-node peer service in a fleet (fleet secret), plus the standard
 * `grpc.health.v1.Health` service, which reports NOT_SERVING while draining.
 * Error statuses carry fixed texts; what went wrong inside is logged.
 */
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { loadGatewayService, loadPeerService, SERVICE_NAME } from './proto.ts';
import type { ConnectionControl } from '../delivery/connection-control.ts';
import type { LocalDelivery } from '../delivery/local-delivery.ts';
import type { Pusher } from '../messaging/pusher.ts';
import { encodeStored } from '../protocol/encode.ts';
import type { LogEntry } from '../store/store.ts';
import { errorText, type Logger } from '../observability/logger.ts';
import { isValidId } from '../protocol/validate.ts';
import { CloseCode } from '../protocol/errors.ts';
import { requireBearer, type BearerTokens } from './grpc-auth.ts';

export { loadGatewayService, SERVICE_NAME } from './proto.ts';

export interface GrpcParts {
  /** MAX_CONTENT_BYTES: a pushed message is held to the limit a client's is. */
  maxContentBytes: number;
  pusher: Pusher;
  control: ConnectionControl;
  local: LocalDelivery;
  log: Logger;
  /** Tokens of the backend services that call IMGatewayService. */
  apiTokens: BearerTokens;
  /** The fleet secret(s); null on a lone node, which then serves no peer service. */
  fleetSecrets: BearerTokens | null;
}

type Unary<Req, Res> = grpc.handleUnaryCall<Req, Res>;

interface PushMessageRequest {
  user_id: string;
  device_id: string;
  msg_id: string;
  sender_id: string;
  content: string;
  sequence_number: number;
  timestamp: number;
}

export class GrpcServer {
  private readonly server = new grpc.Server();
  private readonly health = new HealthImplementation({ '': 'SERVING', [SERVICE_NAME]: 'SERVING' });

  constructor(parts: GrpcParts) {
    const { pusher, control, log } = parts;
    const pushMessage: Unary<PushMessageRequest, object> = (call, callback) => {
      const req = call.request;
      const problem = badId(req.user_id, 'user_id') ?? badId(req.msg_id, 'msg_id') ?? badId(req.sender_id, 'sender_id')
        ?? (req.device_id !== '' ? badId(req.device_id, 'device_id') : null);
      if (problem !== null) return callback({ code: grpc.status.INVALID_ARGUMENT, details: problem });
      const bytes = Buffer.byteLength(req.content, 'utf8');
      if (bytes > parts.maxContentBytes) {
        return callback({ code: grpc.status.INVALID_ARGUMENT, details: `content is ${bytes} bytes; at most ${parts.maxContentBytes} (MAX_CONTENT_BYTES)` });
      }
      pusher
        .push({
          userId: req.user_id,
          deviceId: req.device_id,
          msgId: req.msg_id,
          senderId: req.sender_id,
          content: req.content,
          sequenceNumber: req.sequence_number,
          timestamp: req.timestamp,
        })
        .then(
          (status) => callback(null, { success: true, status, error_message: '' }),
          (err: unknown) => {
            log.error('push_failed', { user_id: req.user_id, msg_id: req.msg_id, error: errorText(err) });
            callback(null, { success: false, status: 'failed', error_message: 'message not stored: a dependency failed; retry later' });
          },
        );
    };
    const getConnectionStatus: Unary<{ user_id: string; device_id: string }, object> = (call, callback) => {
      const { user_id: userId, device_id: deviceId } = call.request;
      const problem = badId(userId, 'user_id');
      if (problem !== null) return callback({ code: grpc.status.INVALID_ARGUMENT, details: problem });
      control.status(userId, deviceId).then(
        (devices) =>
          callback(null, {
            online: devices.length > 0,
            devices: devices.map((d) => ({ device_id: d.deviceId, online: true, gateway_node: d.node, connected_at: d.connectedAt })),
          }),
        (err: unknown) => registryFailed(log, 'connection_status_failed', userId, err, callback),
      );
    };
    const closeConnection: Unary<{ user_id: string; device_id: string; reason: string }, object> = (call, callback) => {
      const { user_id: userId, device_id: deviceId, reason } = call.request;
      const problem = badId(userId, 'user_id');
      if (problem !== null) return callback({ code: grpc.status.INVALID_ARGUMENT, details: problem });
      control.close(userId, deviceId, reason).then(
        (closed) => {
          log.info('connections_closed', { user_id: userId, device_id: deviceId, closed, reason });
          callback(null, { success: true, closed_count: closed });
        },
        (err: unknown) => registryFailed(log, 'close_connection_failed', userId, err, callback),
      );
    };
    const gateway = { PushMessage: pushMessage, GetConnectionStatus: getConnectionStatus, CloseConnection: closeConnection };
    this.server.addService(loadGatewayService().service, requireBearer(gateway, parts.apiTokens));
    if (parts.fleetSecrets !== null) this.server.addService(loadPeerService().service, requireBearer(peerHandlers(parts), parts.fleetSecrets));
    this.health.addToServer(this.server);
  }

  /** Binds and starts; returns the bound port (useful with port 0). */
  listen(address: string, credentials: grpc.ServerCredentials): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.bindAsync(address, credentials, (err, port) => (err ? reject(err) : resolve(port)));
    });
  }

  setServing(serving: boolean): void {
    const status = serving ? 'SERVING' : 'NOT_SERVING';
    this.health.setStatus('', status);
    this.health.setStatus(SERVICE_NAME, status);
  }

  /** Finishes calls under way, refusing new ones; forces after `timeoutMs`. */
  shutdown(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const force = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, timeoutMs);
      this.server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
  }
}

function registryFailed(log: Logger, event: string, userId: string, err: unknown, callback: grpc.sendUnaryData<object>): void {
  log.error(event, { user_id: userId, error: errorText(err) });
  callback({ code: grpc.status.UNAVAILABLE, details: 'registry unavailable; retry later' });
}

function badId(value: string, field: string): string | null {
  if (value === '') return `${field} is required`;
  return isValidId(value) ? null : `${field} must be 1-128 characters of A-Z a-z 0-9 _ . @ -`;
}

/** IMGatewayPeerService: what other nodes of the fleet ask of this one. */
function peerHandlers(parts: GrpcParts): grpc.UntypedServiceImplementation {
  const forwardEntry: Unary<{ user_id: string; log_id: string; entry_json: string; except_device: string }, object> = (call, callback) => {
    const { user_id: userId, log_id: logId, entry_json: entryJson } = call.request;
    let entry: LogEntry;
    try {
      entry = JSON.parse(entryJson) as LogEntry;
    } catch {
      return callback({ code: grpc.status.INVALID_ARGUMENT, details: 'entry_json is not JSON' });
    }
    if (badId(userId, 'user_id') !== null || typeof entry?.pos !== 'number' || typeof entry.frame?.type !== 'string') {
      return callback({ code: grpc.status.INVALID_ARGUMENT, details: 'user_id and a logged entry are required' });
    }
    const text = encodeStored(entry.frame);
    if (text === undefined) return callback({ code: grpc.status.INVALID_ARGUMENT, details: 'entry_json frame cannot be encoded (nested too deep)' });
    const delivered = parts.local.toUser(userId, logId, entry, text);
    callback(null, { delivered });
  };
  const closeLocal: Unary<{ user_id: string; device_id: string; reason: string; close_code: number }, object> = (call, callback) => {
    const { user_id: userId, device_id: deviceId, reason, close_code: code } = call.request;
    const problem = badId(userId, 'user_id');
    if (problem !== null) return callback({ code: grpc.status.INVALID_ARGUMENT, details: problem });
    let closed: number;
    try {
      closed = parts.control.closeLocal(userId, deviceId, reason, code === 0 ? CloseCode.CLOSED_BY_SERVER : code);
    } catch (err) {
      return callback({ code: grpc.status.INVALID_ARGUMENT, details: (err as Error).message });
    }
    callback(null, { closed_count: closed });
  };
  return { ForwardEntry: forwardEntry, CloseLocal: closeLocal };
}
