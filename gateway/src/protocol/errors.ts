/**
 * The spec's error codes, the WebSocket close codes the gateway uses, and the
 * one table of what each error code means on every surface: its default
 * message, close code, gRPC status and HTTP status. Every `error` frame,
 * close, failed gRPC call and REST error takes its code from here.
 */
import { status as GrpcStatus } from '@grpc/grpc-js';


export const ErrorCode = {
  AUTH_FAILED: 'AUTH_FAILED',
  AUTH_REQUIRED: 'AUTH_REQUIRED',
  INVALID_TOKEN: 'INVALID_TOKEN',
  TOKEN_EXPIRED: 'TOKEN_EXPIRED',
  DEVICE_LIMIT_EXCEEDED: 'DEVICE_LIMIT_EXCEEDED',
  INVALID_RECIPIENT: 'INVALID_RECIPIENT',
  MESSAGE_TOO_LARGE: 'MESSAGE_TOO_LARGE',
  INVALID_MESSAGE_FORMAT: 'INVALID_MESSAGE_FORMAT',
  DUPLICATE_MESSAGE: 'DUPLICATE_MESSAGE',
  RATE_LIMIT_EXCEEDED: 'RATE_LIMIT_EXCEEDED',
  CONNECTION_CLOSED: 'CONNECTION_CLOSED',
  HEARTBEAT_TIMEOUT: 'HEARTBEAT_TIMEOUT',
  MAX_CONNECTIONS_EXCEEDED: 'MAX_CONNECTIONS_EXCEEDED',
  INTERNAL_ERROR: 'INTERNAL_ERROR',
  SERVICE_UNAVAILABLE: 'SERVICE_UNAVAILABLE',
  REGISTRY_ERROR: 'REGISTRY_ERROR',
  CACHE_ERROR: 'CACHE_ERROR',
  ROUTING_ERROR: 'ROUTING_ERROR',
  // Not in the spec's table: a reconnecting device whose cursor fell behind
  // the retained start of a conversation log learns that it missed messages.
  HISTORY_TRUNCATED: 'HISTORY_TRUNCATED',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * WebSocket close codes. 4000-4999 are private-use codes (RFC 6455 7.4.2);
 * each one a client may branch on is listed here and in the README.
 */
export const CloseCode = {
  /** Server is restarting or draining: reconnect (to another node). */
  SERVICE_RESTART: 1012,
  /** A text frame was not valid UTF-8 (sent by `ws` itself). */
  INVALID_PAYLOAD: 1007,
  /** A frame exceeded the hard size cap (sent by `ws` itself). */
  MESSAGE_TOO_BIG: 1009,
  INTERNAL_ERROR: 1011,
  AUTH_REQUIRED: 4001,
  INVALID_TOKEN: 4002,
  /** At connect, or later at the token's `exp` unless a `refresh_token` frame replaced it. */
  TOKEN_EXPIRED: 4003,
  AUTH_FAILED: 4004,
  DEVICE_LIMIT_EXCEEDED: 4005,
  MAX_CONNECTIONS_EXCEEDED: 4006,
  HEARTBEAT_TIMEOUT: 4007,
  /** Repeated rate-limit violations, or more than MAX_FRAMES_PER_SECOND frames in a second. */
  RATE_LIMIT_EXCEEDED: 4008,
  /** The client stopped reading; what it missed waits for its next connect. */
  SLOW_CONSUMER: 4009,
  /** The same user and device connected again; this socket was replaced. */
  REPLACED: 4010,
  /** Closed by an operator or service (`CloseConnection`); the reason says why. */
  CLOSED_BY_SERVER: 4011,
  /** A dependency is down; retry later, ideally on another node. */
  SERVICE_UNAVAILABLE: 4012,
} as const;

export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** How each code leaves the gateway on each of its three surfaces. */
export interface ErrorMeaning {
  /** The `error_message` of an `error` frame that gives no more specific one (the spec's text). */
  message: string;
  /** The close code when this error ends a socket (at the handshake, or later); null if it never does by itself. */
  close: CloseCode | null;
  /** The gRPC status a call that fails with it ends with. */
  grpc: GrpcStatus;
  /** The HTTP status a REST request that fails with it is answered with. */
  http: number;
}

/**
 * The one mapping from error code to close code, gRPC status and HTTP
 * status (as grpc-js keeps one error-to-status function). A failed dependency
 * is always "retry later": UNAVAILABLE, 503, and 4012 on a socket.
 */
export const ERRORS: Record<ErrorCode, ErrorMeaning> = {
  AUTH_FAILED: { message: 'Authentication failed', close: CloseCode.AUTH_FAILED, grpc: GrpcStatus.UNAUTHENTICATED, http: 401 },
  AUTH_REQUIRED: { message: 'Authentication required', close: CloseCode.AUTH_REQUIRED, grpc: GrpcStatus.UNAUTHENTICATED, http: 401 },
  INVALID_TOKEN: { message: 'Invalid token format', close: CloseCode.INVALID_TOKEN, grpc: GrpcStatus.UNAUTHENTICATED, http: 401 },
  TOKEN_EXPIRED: { message: 'Token expired', close: CloseCode.TOKEN_EXPIRED, grpc: GrpcStatus.UNAUTHENTICATED, http: 401 },
  DEVICE_LIMIT_EXCEEDED: { message: 'Device limit exceeded', close: CloseCode.DEVICE_LIMIT_EXCEEDED, grpc: GrpcStatus.RESOURCE_EXHAUSTED, http: 429 },
  INVALID_RECIPIENT: { message: 'Invalid recipient', close: null, grpc: GrpcStatus.NOT_FOUND, http: 404 },
  MESSAGE_TOO_LARGE: { message: 'Message too large', close: null, grpc: GrpcStatus.INVALID_ARGUMENT, http: 413 },
  INVALID_MESSAGE_FORMAT: { message: 'Invalid message format', close: null, grpc: GrpcStatus.INVALID_ARGUMENT, http: 400 },
  DUPLICATE_MESSAGE: { message: 'Duplicate message', close: null, grpc: GrpcStatus.ALREADY_EXISTS, http: 409 },
  RATE_LIMIT_EXCEEDED: { message: 'Rate limit exceeded', close: CloseCode.RATE_LIMIT_EXCEEDED, grpc: GrpcStatus.RESOURCE_EXHAUSTED, http: 429 },
  CONNECTION_CLOSED: { message: 'Connection closed', close: CloseCode.CLOSED_BY_SERVER, grpc: GrpcStatus.CANCELLED, http: 410 },
  HEARTBEAT_TIMEOUT: { message: 'Heartbeat timeout', close: CloseCode.HEARTBEAT_TIMEOUT, grpc: GrpcStatus.DEADLINE_EXCEEDED, http: 408 },
  MAX_CONNECTIONS_EXCEEDED: { message: 'Max connections exceeded', close: CloseCode.MAX_CONNECTIONS_EXCEEDED, grpc: GrpcStatus.RESOURCE_EXHAUSTED, http: 503 },
  INTERNAL_ERROR: { message: 'Internal server error', close: CloseCode.INTERNAL_ERROR, grpc: GrpcStatus.INTERNAL, http: 500 },
  SERVICE_UNAVAILABLE: { message: 'Service unavailable', close: CloseCode.SERVICE_UNAVAILABLE, grpc: GrpcStatus.UNAVAILABLE, http: 503 },
  REGISTRY_ERROR: { message: 'Registry error', close: CloseCode.SERVICE_UNAVAILABLE, grpc: GrpcStatus.UNAVAILABLE, http: 503 },
  CACHE_ERROR: { message: 'Cache error', close: CloseCode.SERVICE_UNAVAILABLE, grpc: GrpcStatus.UNAVAILABLE, http: 503 },
  ROUTING_ERROR: { message: 'Routing error', close: CloseCode.SERVICE_UNAVAILABLE, grpc: GrpcStatus.UNAVAILABLE, http: 503 },
  HISTORY_TRUNCATED: { message: 'Older messages of this conversation are no longer retained', close: null, grpc: GrpcStatus.OUT_OF_RANGE, http: 410 },
};

/** The close code a socket refused or ended with this error gets; 1011 for a code that never closes one by itself. */
export function closeCodeFor(code: ErrorCode): CloseCode {
  return ERRORS[code].close ?? CloseCode.INTERNAL_ERROR;
}

/** A gRPC error for a call that fails with this code; `details` is the fixed text the caller sees. */
export function grpcError(code: ErrorCode, details: string): { code: GrpcStatus; details: string } {
  return { code: ERRORS[code].grpc, details };
}


/** An error meant for the client: its code reaches the `error` frame as is. */
export class GatewayError extends Error {
  readonly code: ErrorCode;
  /** For DUPLICATE_MESSAGE: the sequence number the original was stored under. */
  sequenceNumber: number | undefined = undefined;
  constructor(code: ErrorCode, message: string = ERRORS[code].message, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = 'GatewayError';
  }
}

/**
 * The error a failed call is answered with. Dependencies fail with their own
 * code (messaging/dependency.ts); a failure without one is still most likely
 * a backend's, so it is SERVICE_UNAVAILABLE, worth a retry, with a fixed text
 * (the cause belongs in the log).
 */
export function asGatewayError(err: unknown): GatewayError {
  return err instanceof GatewayError ? err : new GatewayError(ErrorCode.SERVICE_UNAVAILABLE, 'a dependency failed; retry later');
}
