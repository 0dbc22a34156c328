/**
 * What the operator (operator/) takes from the gateway, all of it here: the
 * gRPC service it calls and how it authenticates, the close codes a drain
 * sends, how the registry is laid out in etcd and read in pages, the names
 * of the shared state a fleet keeps (its prefixes and topics), the backoff
 * and the log format. The operator imports nothing else of gateway/src; a
 * change here is a change of the contract between the two.
 */
export { bearerCallCredentials } from './api/grpc-auth.ts';
export { DEFAULT_ETCD_PREFIX, DEFAULT_GROUP_TOPIC, DEFAULT_MESSAGES_TOPIC, DEFAULT_REDIS_KEY_PREFIX } from './config/defaults.ts';
export { createLogger, errorText, type Logger } from './observability/logger.ts';
export type { CloseConnectionRequest } from './proto/generated/im/gateway/v1/CloseConnectionRequest.ts';
export type { CloseConnectionResponse__Output } from './proto/generated/im/gateway/v1/CloseConnectionResponse.ts';
export { CloseScope } from './proto/generated/im/gateway/v1/CloseScope.ts';
export type { IMGatewayServiceClient } from './proto/generated/im/gateway/v1/IMGatewayService.ts';
export { loadGatewayService } from './proto/services.ts';
export { CloseCode } from './protocol/errors.ts';
export { readPages } from './registry/etcd-entries.ts';
export { backoffDelay, type BackoffOptions } from './shared/backoff.ts';
