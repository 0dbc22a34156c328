/**
 * Where the client's JWT comes from, and when to ask for the next one. A
 * fixed token serves until its `exp`; a provider is asked on every
 * (re)connect, before `exp` (the gateway's `refresh_token` frame keeps the
 * socket) and after TOKEN_EXPIRED.
 */

export type TokenProvider = () => Promise<string> | string;

export class TokenSource {
  private readonly token: string | TokenProvider;

  constructor(token: string | TokenProvider) {
    this.token = token;
  }

  /** A provider can give a newer token; a fixed one cannot. */
  get renewable(): boolean {
    return typeof this.token === 'function';
  }

  async next(): Promise<string> {
    const token = typeof this.token === 'function' ? await this.token() : this.token;
    if (typeof token !== 'string' || token === '') throw new TypeError('the token provider returned no token');
    return token;
  }
}

/**
 * The `exp` claim of a JWT in milliseconds since epoch, read without
 * verifying (the gateway verifies): only to know when to refresh.
 */
export function tokenExpiry(jwt: string): number | undefined {
  const payload = jwt.split('.')[1];
  if (payload === undefined) return undefined;
  try {
    const base64 = payload.replace(/-/g, '+').replace(/_/g, '/');
    const claims = JSON.parse(atob(base64.padEnd(base64.length + ((4 - (base64.length % 4)) % 4), '='))) as { exp?: unknown };
    return typeof claims.exp === 'number' && Number.isFinite(claims.exp) ? claims.exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * When to send `refresh_token` for a token expiring at `expiresAt`: a fifth
 * of its remaining life before, between one second (the gateway checks expiry
 * within a quarter second) and one minute.
 */
export function refreshTime(expiresAt: number, now: number): number {
  const margin = Math.min(60_000, Math.max(1_000, (expiresAt - now) / 5));
  return expiresAt - margin;
}
