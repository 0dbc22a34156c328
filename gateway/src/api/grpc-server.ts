/**
 * gRPC: `im.gateway.v1.IMGatewayService` from proto/ (API tokens), the
 * node-to-node peer service in a fleet (fleet secret), plus the standard
 * `grpc.health.v1.Health` service, which reports NOT_SERVING while draining.
 * Error statuses carry fixed texts; what went wrong inside is logged.
 */
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { loadGatewayService, loadPeerService, SERVICE_NAME } from '../proto/services.ts';
import type { IMGatewayServiceHandlers } from '../proto/generated/im/gateway/v1/IMGatewayService.ts';
import type { IMGatewayPeerServiceHandlers } from '../proto/generated/im/gateway/v1/IMGatewayPeerService.ts';
import type { ConnectionControl } from '../delivery/connection-control.ts';
import type { Pusher } from '../messaging/pusher.ts';
import { errorText, type Logger } from '../observability/logger.ts';
import { asGatewayError, CloseCode, ErrorCode, grpcError } from '../protocol/errors.ts';
import { idProblem } from '../protocol/validate.ts';
import { CloseScope } from '../proto/generated/im/gateway/v1/CloseScope.ts';
import { dependency } from '../messaging/dependency.ts';
import { requireBearer, type BearerTokens } from './grpc-auth.ts';

export { loadGatewayService, SERVICE_NAME } from '../proto/services.ts';

export interface GrpcParts {
  /** MAX_CONTENT_BYTES: a pushed message is held to the limit a client's is. */
  maxContentBytes: number;
  pusher: Pusher;
  control: ConnectionControl;
  log: Logger;
  /** Tokens of the backend services that call IMGatewayService. */
  apiTokens: BearerTokens;
  /** The peer service's handlers (fleet/peer-handlers.ts) and the fleet secret(s) they require; absent on a node alone. */
  peer?: { handlers: IMGatewayPeerServiceHandlers; secrets: BearerTokens };
}

type Handler<Name extends keyof IMGatewayServiceHandlers> = IMGatewayServiceHandlers[Name];

export class GrpcServer {
  private readonly server = new grpc.Server();
  private readonly health = new HealthImplementation({ '': 'SERVING', [SERVICE_NAME]: 'SERVING' });

  constructor(parts: GrpcParts) {
    const { pusher, control, log } = parts;
    const pushMessage: Handler<'PushMessage'> = (call, callback) => {
      const req = call.request;
      const problem = idProblem(req.user_id, 'user_id') ?? idProblem(req.msg_id, 'msg_id') ?? idProblem(req.sender_id, 'sender_id')
        ?? (req.device_id !== '' ? idProblem(req.device_id, 'device_id') : null);
      if (problem !== null) return callback(grpcError(ErrorCode.INVALID_MESSAGE_FORMAT, problem));
      const bytes = Buffer.byteLength(req.content, 'utf8');
      if (bytes > parts.maxContentBytes) {
        return callback(grpcError(ErrorCode.INVALID_MESSAGE_FORMAT, `content is ${bytes} bytes; at most ${parts.maxContentBytes} (MAX_CONTENT_BYTES)`));
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
            callback(null, { success: false, status: 'failed', error_message: failureText(err) });
          },
        );
    };
    const getConnectionStatus: Handler<'GetConnectionStatus'> = (call, callback) => {
      const { user_id: userId, device_id: deviceId } = call.request;
      const problem = idProblem(userId, 'user_id');
      if (problem !== null) return callback(grpcError(ErrorCode.INVALID_MESSAGE_FORMAT, problem));
      dependency('registry', control.status(userId, deviceId)).then(
        (devices) =>
          callback(null, {
            online: devices.length > 0,
            devices: devices.map((d) => ({ device_id: d.deviceId, online: true, gateway_node: d.node, connected_at: d.connectedAt })),
          }),
        (err: unknown) => failed(log, 'connection_status_failed', userId, err, callback),
      );
    };
    const closeConnection: Handler<'CloseConnection'> = (call, callback) => {
      const { user_id: userId, device_id: deviceId, reason, scope, close_code: requested } = call.request;
      const problem = idProblem(userId, 'user_id') ?? closeCodeProblem(requested)
        ?? (scope === CloseScope.CLOSE_SCOPE_FLEET || scope === CloseScope.CLOSE_SCOPE_LOCAL ? null : `scope ${String(scope)} is not CLOSE_SCOPE_FLEET (0) or CLOSE_SCOPE_LOCAL (1)`);
      if (problem !== null) return callback(grpcError(ErrorCode.INVALID_MESSAGE_FORMAT, problem));
      const code = requested === 0 ? CloseCode.CLOSED_BY_SERVER : requested;
      if (scope === CloseScope.CLOSE_SCOPE_LOCAL) {
        // A drain empties this node only: no registry read, no peer call.
        const closed = control.closeLocal(userId, deviceId, reason, code);
        log.info('connections_closed', { user_id: userId, device_id: deviceId, closed, reason, scope: 'local', close_code: code });
        return callback(null, { success: true, closed_count: closed });
      }
      dependency('registry', control.close(userId, deviceId, reason, code)).then(
        (closed) => {
          log.info('connections_closed', { user_id: userId, device_id: deviceId, closed, reason, close_code: code });
          callback(null, { success: true, closed_count: closed });
        },
        (err: unknown) => failed(log, 'close_connection_failed', userId, err, callback),
      );
    };
    const gateway = { PushMessage: pushMessage, GetConnectionStatus: getConnectionStatus, CloseConnection: closeConnection };
    this.server.addService(loadGatewayService().service, requireBearer(gateway, parts.apiTokens));
    if (parts.peer !== undefined) this.server.addService(loadPeerService().service, requireBearer(parts.peer.handlers, parts.peer.secrets));
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

/** CloseConnection's close codes: the spec's 4011 (0 means it) and 1012, reconnect; 4010 stays the peers' own. */
const CLOSE_CONNECTION_CODES: ReadonlySet<number> = new Set([0, CloseCode.CLOSED_BY_SERVER, CloseCode.SERVICE_RESTART]);

function closeCodeProblem(code: number): string | null {
  return CLOSE_CONNECTION_CODES.has(code) ? null : `close_code ${code} is not one of ${CloseCode.CLOSED_BY_SERVER}, ${CloseCode.SERVICE_RESTART} (or 0 for ${CloseCode.CLOSED_BY_SERVER})`;
}

function failed(log: Logger, event: string, userId: string, err: unknown, callback: grpc.sendUnaryData<object>): void {
  log.error(event, { user_id: userId, error: errorText(err) });
  const known = asGatewayError(err);
  callback(grpcError(known.code, known.message));
}

/** A push's error_message: the code of what failed and its fixed text (the cause is in the log). */
function failureText(err: unknown): string {
  const known = asGatewayError(err);
  return `${known.code}: ${known.message}`;
}
