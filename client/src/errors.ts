/**
 * Errors the SDK hands the app, and what it does on each close code of the
 * gateway (README "Close codes"). Both declared once, here.
 */

/**
 * An error with the spec's `error_code` (`INVALID_RECIPIENT`, `AUTH_FAILED`,
 * ...), or one of the SDK's own: `CLOSED` (the client was closed) and
 * `INVALID_ARGUMENT` (a call the SDK refuses before anything is sent).
 */
export class GatewayError extends Error {
  readonly code: string;
  /** The send this error answers, when it answers one. */
  readonly msgId: string | undefined;

  constructor(code: string, message: string, msgId?: string) {
    super(message);
    this.name = 'GatewayError';
    this.code = code;
    this.msgId = msgId;
  }
}

/** Codes of `error` frames after which the same send may succeed later: it stays in the outbox. */
export const RETRIABLE_SEND_ERRORS: ReadonlySet<string> = new Set([
  'SERVICE_UNAVAILABLE',
  'CACHE_ERROR',
  'REGISTRY_ERROR',
  'ROUTING_ERROR',
  'INTERNAL_ERROR',
  'RATE_LIMIT_EXCEEDED',
]);

/**
 * What the client does after a close:
 * - `backoff`: reconnect after an exponential, fully jittered delay;
 * - `drain`: the node is going away, reconnect at once (jittered, so a drained node's clients do not arrive together);
 * - `token`: the token expired: reconnect with a new one when a token provider can give it, else stop;
 * - `stop`: do not reconnect until the app calls `connect()` again.
 */
export type ClosePolicy = 'backoff' | 'drain' | 'token' | 'stop';

interface CloseRule {
  policy: ClosePolicy;
  /** The spec's error code for a close that ends the client's attempts (when no `error` frame said it first). */
  errorCode?: string;
}

const CLOSE_RULES: ReadonlyMap<number, CloseRule> = new Map([
  [1012, { policy: 'drain' }],
  [4001, { policy: 'stop', errorCode: 'AUTH_REQUIRED' }],
  [4002, { policy: 'stop', errorCode: 'INVALID_TOKEN' }],
  [4003, { policy: 'token', errorCode: 'TOKEN_EXPIRED' }],
  [4004, { policy: 'stop', errorCode: 'AUTH_FAILED' }],
  [4005, { policy: 'stop', errorCode: 'DEVICE_LIMIT_EXCEEDED' }],
  // Replaced by a newer socket of the same device: reconnecting would replace that one in turn.
  [4010, { policy: 'stop', errorCode: 'CONNECTION_CLOSED' }],
  // Closed by an operator or a service (CloseConnection): the app decides whether to come back.
  [4011, { policy: 'stop', errorCode: 'CONNECTION_CLOSED' }],
]);

const BACKOFF: CloseRule = { policy: 'backoff' };

export function closeRule(code: number): CloseRule {
  return CLOSE_RULES.get(code) ?? BACKOFF;
}

/** Close codes the client itself uses on its socket. */
export const ClientClose = {
  /** `close()`: the app is done. */
  NORMAL: 1000,
  /** No frame from the gateway for three heartbeat intervals: the connection is dead. */
  HEARTBEAT_TIMEOUT: 4007,
} as const;
