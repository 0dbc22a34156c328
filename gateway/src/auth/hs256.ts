/**
 * HS256 tokens verified with node:crypto, synchronously. jose verifies
 * through WebCrypto: an async job, a key import and several buffers per
 * token, which left ~3.4 KB of garbage per connect (capacity bench, 15,000
 * sockets: RSS before GC 11.18 -> 7.73 KB per socket) and a quarter of the
 * connect rate. The checks and their order are jose's (RFC 7515 and 7519), so
 * a token gets the same answer either way: a malformed token or header, an
 * unencoded payload, a missing required claim are INVALID_TOKEN; an expired
 * one TOKEN_EXPIRED; another algorithm, an unknown `crit` extension, a bad
 * signature, a claim of the wrong type or out of its window, another issuer
 * or audience AUTH_FAILED. Asymmetric keys stay with jose (verifier.ts).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { ErrorCode, GatewayError } from '../protocol/errors.ts';

export interface ClaimChecks {
  issuer?: string | undefined;
  audience?: string | undefined;
}

export type Claims = Record<string, unknown>;

const BASE64URL = /^[A-Za-z0-9_-]*={0,2}$/;
// eslint-disable-next-line no-control-regex
const ASCII = /^[\x00-\x7f]*$/;
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** The token's claims, or a GatewayError with the spec's code. `nowSeconds`: the clock, whole seconds. */
export function verifyHs256(token: string, secret: Buffer, checks: ClaimChecks, nowSeconds: number): Claims {
  const first = token.indexOf('.');
  const second = token.indexOf('.', first + 1);
  if (first < 0 || second < 0 || token.indexOf('.', second + 1) >= 0) throw malformed('Invalid Compact JWS');
  const encodedHeader = token.slice(0, first);
  const encodedPayload = token.slice(first + 1, second);
  const encodedSignature = token.slice(second + 1);

  const header = decodeObject(encodedHeader, 'JWS Protected Header is invalid');
  checkCrit(header);
  const alg = header.alg;
  if (typeof alg !== 'string' || alg === '') throw malformed('JWS "alg" (Algorithm) Header Parameter missing or invalid');
  if (alg !== 'HS256') throw new GatewayError(ErrorCode.AUTH_FAILED, 'Authentication failed: token algorithm not accepted');
  const signingInput = token.slice(0, second);
  if (!ASCII.test(signingInput)) throw malformed('The payload is not a valid base64url string');
  if (!isBase64url(encodedSignature)) throw malformed('Failed to base64url decode the signature');

  const expected = createHmac('sha256', secret).update(signingInput).digest();
  const signature = Buffer.from(encodedSignature, 'base64url');
  if (signature.length !== expected.length || !timingSafeEqual(signature, expected)) throw new GatewayError(ErrorCode.AUTH_FAILED);

  const claims = decodeObject(encodedPayload, 'JWT Claims Set must be a top-level JSON object');
  checkClaims(claims, checks, nowSeconds);
  return claims;
}

function checkCrit(header: Claims): void {
  const crit = header.crit;
  if (crit === undefined) return;
  if (!Array.isArray(crit) || crit.length === 0 || crit.some((p) => typeof p !== 'string' || p === '')) {
    throw malformed('"crit" (Critical) Header Parameter MUST be an array of non-empty strings when present');
  }
  for (const parameter of crit as string[]) {
    // b64 is the only extension JWS defines; a token may not make the gateway skip a check it does not know.
    if (parameter !== 'b64') throw new GatewayError(ErrorCode.AUTH_FAILED, `Authentication failed: extension "${parameter}" is not supported`);
    if (header.b64 === undefined) throw malformed('Extension Header Parameter "b64" is missing');
    if (typeof header.b64 !== 'boolean') throw malformed('The "b64" (base64url-encode payload) Header Parameter must be a boolean');
    if (!header.b64) throw malformed('JWTs MUST NOT use unencoded payload');
  }
}

function checkClaims(claims: Claims, checks: ClaimChecks, now: number): void {
  for (const claim of ['exp', ...(checks.audience === undefined ? [] : ['aud']), ...(checks.issuer === undefined ? [] : ['iss'])]) {
    if (!Object.hasOwn(claims, claim)) throw new GatewayError(ErrorCode.INVALID_TOKEN, `Invalid token: missing required "${claim}" claim`);
  }
  if (checks.issuer !== undefined && claims.iss !== checks.issuer) throw new GatewayError(ErrorCode.AUTH_FAILED);
  if (checks.audience !== undefined && !hasAudience(claims.aud, checks.audience)) throw new GatewayError(ErrorCode.AUTH_FAILED);
  numericDate(claims, 'iat');
  const nbf = numericDate(claims, 'nbf');
  if (nbf !== undefined && nbf > now) throw new GatewayError(ErrorCode.AUTH_FAILED);
  const exp = numericDate(claims, 'exp');
  if (exp !== undefined && exp <= now) throw new GatewayError(ErrorCode.TOKEN_EXPIRED);
}

function hasAudience(aud: unknown, audience: string): boolean {
  return aud === audience || (Array.isArray(aud) && aud.includes(audience));
}

/** A NumericDate claim when present; of another type it fails the token. */
function numericDate(claims: Claims, claim: string): number | undefined {
  const value = claims[claim];
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new GatewayError(ErrorCode.AUTH_FAILED);
  return value;
}

function decodeObject(encoded: string, problem: string): Claims {
  if (!isBase64url(encoded)) throw malformed(problem);
  let value: unknown;
  try {
    value = JSON.parse(UTF8.decode(Buffer.from(encoded, 'base64url')));
  } catch {
    throw malformed(problem);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw malformed(problem);
  return value as Claims;
}

/** Base64url as jose's decoder takes it (padding allowed); Buffer.from alone would take any text. */
function isBase64url(text: string): boolean {
  if (!BASE64URL.test(text)) return false;
  // Padding, when there is any, completes the last group of four.
  return text.endsWith('=') ? text.length % 4 === 0 : text.length % 4 !== 1;
}

function malformed(problem: string): GatewayError {
  return new GatewayError(ErrorCode.INVALID_TOKEN, `Invalid token format: ${problem}`);
}
