/**
 * Turns a backend failure into the spec's error code for it, so a caller
 * learns which dependency is down and that a retry is worth it. Every path
 * that waits on a backend goes through here: sends, acks, notifications,
 * pushes, membership changes, connection status and closes. Their codes
 * leave the gateway through protocol/errors.ts (an `error` frame, gRPC
 * UNAVAILABLE, HTTP 503).
 */
import { ErrorCode, GatewayError } from '../protocol/errors.ts';

const CODES = {
  store: [ErrorCode.CACHE_ERROR, 'message store'],
  registry: [ErrorCode.REGISTRY_ERROR, 'registry'],
  bus: [ErrorCode.ROUTING_ERROR, 'message log'],
} as const;

export type Dependency = keyof typeof CODES;

export async function dependency<T>(which: Dependency, work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    if (err instanceof GatewayError) throw err;
    const [code, what] = CODES[which];
    // A fixed text: the cause stays in the log, never in what a client reads.
    throw new GatewayError(code, `${what} unavailable; retry later`, { cause: err });
  }
}
