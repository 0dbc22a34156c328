/**
 * Bearer credentials on gRPC: `authorization: Bearer <token>` metadata,
 * checked before any handler of a guarded service runs. Used for the API
 * tokens of `IMGatewayService` and for the fleet secret of the peer service.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';

/** Same answer for a missing, malformed or wrong token: nothing that helps guessing. */
const REFUSED: Partial<grpc.StatusObject> = { code: grpc.status.UNAUTHENTICATED, details: 'valid credentials required' };

/**
 * The tokens one service accepts. Several at once, so a token can be
 * replaced without downtime: add the new one, move the callers, drop the old.
 */
export class BearerTokens {
  private readonly digests: Buffer[];

  constructor(tokens: readonly string[]) {
    if (tokens.length === 0) throw new Error('BearerTokens needs at least one token');
    this.digests = tokens.map(digest);
  }

  accepts(metadata: grpc.Metadata): boolean {
    const values = metadata.get('authorization');
    if (values.length !== 1 || typeof values[0] !== 'string') return false;
    const match = /^Bearer\s+(\S+)$/i.exec(values[0]);
    if (match === null) return false;
    // Digests have one length, so timingSafeEqual never throws and the time does not
    // depend on the token's length; every digest is compared, so not on its position either.
    const given = digest(match[1]!);
    let ok = false;
    for (const expected of this.digests) ok = timingSafeEqual(given, expected) || ok;
    return ok;
  }
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

type AnyCall = grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>;

/**
 * A service implementation whose every handler (unary or streaming) first
 * checks the caller's bearer token and answers UNAUTHENTICATED otherwise.
 */
export function requireBearer(implementation: grpc.UntypedServiceImplementation, tokens: BearerTokens): grpc.UntypedServiceImplementation {
  const guarded: grpc.UntypedServiceImplementation = {};
  for (const [method, handler] of Object.entries(implementation)) {
    const run = handler as (call: AnyCall, callback?: grpc.sendUnaryData<unknown>) => void;
    guarded[method] = ((call: AnyCall, callback?: grpc.sendUnaryData<unknown>) => {
      if (tokens.accepts(call.metadata)) return run(call, callback);
      // Unary and client-streaming calls answer through the callback; server streams through 'error'.
      if (callback !== undefined) callback(REFUSED);
      else call.emit('error', REFUSED);
    }) as grpc.UntypedHandleCall;
  }
  return guarded;
}

/** Client side: call credentials that send `authorization: Bearer <token>` on every call. */
export function bearerCallCredentials(token: string): grpc.CallCredentials {
  return grpc.credentials.createFromMetadataGenerator((_params, done) => {
    const metadata = new grpc.Metadata();
    metadata.set('authorization', `Bearer ${token}`);
    done(null, metadata);
  });
}
