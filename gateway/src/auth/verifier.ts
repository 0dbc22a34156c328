/**
 * JWT verification. The accepted algorithms follow from the key type (HS256
 * for a secret; RS256/ES256 for public keys), so a token cannot pick its own
 * algorithm: `alg: none` and HS256-signed-with-a-public-key tokens are
 * refused. HS256 is checked with node:crypto (hs256.ts: the cost of a
 * connect), public keys and JWKS with `jose`.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { createRemoteJWKSet, errors, jwtVerify, type JWTVerifyGetKey, type JWTVerifyOptions } from 'jose';
import { ErrorCode, GatewayError } from '../protocol/errors.ts';
import { verifyHs256, type ClaimChecks } from './hs256.ts';
import { isValidId } from '../protocol/validate.ts';

export interface Identity {
  userId: string;
  deviceId: string;
  expiresAt: number;
}

export interface VerifierOptions {
  secret?: string | undefined;
  jwksUrl?: string | undefined;
  publicKeyPem?: string | undefined;
  issuer?: string | undefined;
  audience?: string | undefined;
}

const ASYMMETRIC = ['RS256', 'ES256'];

export class TokenVerifier {
  private readonly key: Buffer | KeyObject | JWTVerifyGetKey;
  private readonly options: JWTVerifyOptions;
  private readonly checks: ClaimChecks;

  constructor(opts: VerifierOptions) {
    let algorithms: string[];
    this.checks = { issuer: opts.issuer, audience: opts.audience };
    if (opts.secret !== undefined) {
      this.key = Buffer.from(opts.secret, 'utf8');
      algorithms = ['HS256'];
    } else if (opts.jwksUrl !== undefined) {
      this.key = createRemoteJWKSet(new URL(opts.jwksUrl));
      algorithms = ASYMMETRIC;
    } else if (opts.publicKeyPem !== undefined) {
      const key = createPublicKey(opts.publicKeyPem);
      this.key = key;
      algorithms = key.asymmetricKeyType === 'ec' ? ['ES256'] : ['RS256'];
    } else {
      throw new Error('TokenVerifier needs a secret, a JWKS URL or a public key');
    }
    this.options = { algorithms, requiredClaims: ['exp'] };
    if (opts.issuer !== undefined) this.options.issuer = opts.issuer;
    if (opts.audience !== undefined) this.options.audience = opts.audience;
  }

  /** Resolves the identity or throws a GatewayError with the spec's auth code. */
  async verify(token: string | undefined): Promise<Identity> {
    if (token === undefined || token === '') throw new GatewayError(ErrorCode.AUTH_REQUIRED);
    const payload = Buffer.isBuffer(this.key) ? verifyHs256(token, this.key, this.checks, Math.floor(Date.now() / 1000)) : await this.verifyWithJose(token);
    const userId = typeof payload.user_id === 'string' ? payload.user_id : payload.sub;
    const deviceId = payload.device_id;
    if (!isValidId(userId)) throw new GatewayError(ErrorCode.INVALID_TOKEN, 'token lacks a valid user_id (or sub) claim');
    if (!isValidId(deviceId)) throw new GatewayError(ErrorCode.INVALID_TOKEN, 'token lacks a valid device_id claim');
    return { userId, deviceId, expiresAt: ((payload.exp as number | undefined) ?? 0) * 1000 };
  }

  private async verifyWithJose(token: string): Promise<Record<string, unknown>> {
    try {
      const key = this.key as KeyObject | JWTVerifyGetKey;
      return (typeof key === 'function' ? await jwtVerify(token, key, this.options) : await jwtVerify(token, key, this.options)).payload;
    } catch (err) {
      throw classify(err);
    }
  }
}

/** A jose failure as the spec's auth code (exported for the HS256 path's differential test). */
export function classify(err: unknown): GatewayError {
  if (keysUnavailable(err)) {
    // Not the token's fault: a client told AUTH_FAILED would drop its token; this one retries.
    return new GatewayError(ErrorCode.SERVICE_UNAVAILABLE, 'Service unavailable: token signing keys could not be fetched');
  }
  if (err instanceof errors.JWTExpired) return new GatewayError(ErrorCode.TOKEN_EXPIRED);
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid) {
    return new GatewayError(ErrorCode.INVALID_TOKEN, `Invalid token format: ${(err as Error).message}`);
  }
  if (err instanceof errors.JWTClaimValidationFailed && err.reason === 'missing') {
    return new GatewayError(ErrorCode.INVALID_TOKEN, `Invalid token: ${err.message}`);
  }
  if (err instanceof errors.JOSEAlgNotAllowed) {
    return new GatewayError(ErrorCode.AUTH_FAILED, 'Authentication failed: token algorithm not accepted');
  }
  // Bad signature, wrong issuer or audience, unknown key id: the token is well formed but not ours.
  return new GatewayError(ErrorCode.AUTH_FAILED);
}

/**
 * The JWKS endpoint timed out, was unreachable (fetch rejects with a plain
 * TypeError), answered non-200 or unparsable JSON (jose's generic JOSEError),
 * or served no key set.
 */
function keysUnavailable(err: unknown): boolean {
  if (err instanceof errors.JWKSTimeout || err instanceof errors.JWKSInvalid) return true;
  if (!(err instanceof errors.JOSEError)) return true;
  return err.code === errors.JOSEError.code;
}
