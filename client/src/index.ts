/**
 * `@im-gateway/client`: the gateway's WebSocket protocol for apps, in browsers
 * and Node 22+, with no dependencies (see README.md).
 */
export { GatewayClient } from './client.ts';
export type {
  ClientEvents,
  ConnectionState,
  GatewayClientOptions,
  MembershipChange,
  Receipt,
  SendOptions,
  StateEvent,
} from './client.ts';
export { GatewayError } from './errors.ts';
export { backoffDelay, drainDelay, type BackoffOptions } from './backoff.ts';
export type { Message } from './inbox.ts';
export type { SendAck } from './outbox.ts';
export type { TokenProvider } from './token.ts';
export type * from './generated/frames.ts';
