/**
 * Turns a backend failure into the spec's error code for it, so a sender
 * learns which dependency is down and that a retry is worth it.
 */
import { ErrorCode, GatewayError } from '../protocol/errors.ts';

const CODES = {
  store: [ErrorCode.CACHE_ERROR, 'message store'],
  registry: [ErrorCode.REGISTRY_ERROR, 'connection registry'],
  bus: [ErrorCode.ROUTING_ERROR, 'message log'],
} as const;

export type Dependency = keyof typeof CODES;

export async function dependency<T>(which: Dependency, work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    if (err instanceof GatewayError) throw err;
    const [code, what] = CODES[which];
    throw new GatewayError(code, `${what} unavailable: retry with the same msg_id`, { cause: err });
  }
}
