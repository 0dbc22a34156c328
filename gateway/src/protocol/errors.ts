/**
 * The spec's error codes, each declared once with its default message, and the
 * WebSocket close codes the gateway uses. Every `error` frame and every close
 * the gateway sends takes its code from here.
 */

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

export const errorMessages: Record<ErrorCode, string> = {
  AUTH_FAILED: 'Authentication failed',
  AUTH_REQUIRED: 'Authentication required',
  INVALID_TOKEN: 'Invalid token format',
  TOKEN_EXPIRED: 'Token expired',
  DEVICE_LIMIT_EXCEEDED: 'Device limit exceeded',
  INVALID_RECIPIENT: 'Invalid recipient',
  MESSAGE_TOO_LARGE: 'Message too large',
  INVALID_MESSAGE_FORMAT: 'Invalid message format',
  DUPLICATE_MESSAGE: 'Duplicate message',
  RATE_LIMIT_EXCEEDED: 'Rate limit exceeded',
  CONNECTION_CLOSED: 'Connection closed',
  HEARTBEAT_TIMEOUT: 'Heartbeat timeout',
  MAX_CONNECTIONS_EXCEEDED: 'Max connections exceeded',
  INTERNAL_ERROR: 'Internal server error',
  SERVICE_UNAVAILABLE: 'Service unavailable',
  REGISTRY_ERROR: 'Registry error',
  CACHE_ERROR: 'Cache error',
  ROUTING_ERROR: 'Routing error',
  HISTORY_TRUNCATED: 'Older messages of this conversation are no longer retained',
};

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

/** An error meant for the client: its code reaches the `error` frame as is. */
export class GatewayError extends Error {
  readonly code: ErrorCode;
  /** For DUPLICATE_MESSAGE: the sequence number the original was stored under. */
  sequenceNumber: number | undefined = undefined;
  constructor(code: ErrorCode, message: string = errorMessages[code], options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = 'GatewayError';
  }
}
