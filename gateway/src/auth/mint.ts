/**
 * Mints HS256 tokens the gateway accepts: for `npm run token` and the dev
 * demo page. Production tokens come from the operator's identity provider.
 */
import { SignJWT } from 'jose';

export interface MintOptions {
  secret: string;
  ttlSeconds: number;
  issuer?: string | undefined;
  audience?: string | undefined;
}

export function mintToken(userId: string, deviceId: string, options: MintOptions): Promise<string> {
  let jwt = new SignJWT({ user_id: userId, device_id: deviceId })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(userId)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + options.ttlSeconds);
  if (options.issuer !== undefined) jwt = jwt.setIssuer(options.issuer);
  if (options.audience !== undefined) jwt = jwt.setAudience(options.audience);
  return jwt.sign(new TextEncoder().encode(options.secret));
}
