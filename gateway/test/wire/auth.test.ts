import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { exportJWK, generateKeyPair, SignJWT, UnsecuredJWT, type JWTPayload } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, DEV_JWT_SECRET, loadConfig } from '../../src/config/config.ts';
import { OpenClients, TestClient, type Closed, type Frame } from '../support/client.ts';
import { startGateway, TEST_SECRET, token, type RunningGateway } from '../support/gateway.ts';

const REPO_ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const now = (): number => Math.floor(Date.now() / 1000);

/** Signs arbitrary claims: unlike support's token(), nothing is added implicitly. */
function sign(payload: JWTPayload, key: Parameters<SignJWT['sign']>[0], alg = 'HS256', kid?: string): Promise<string> {
  return new SignJWT(payload).setProtectedHeader(kid === undefined ? { alg } : { alg, kid }).sign(key);
}
const secretKey = (secret: string): Uint8Array => new TextEncoder().encode(secret);

describe('websocket authentication', () => {
  const clients = new OpenClients();
  const gateways: RunningGateway[] = [];
  const open = (url: string, options: ConstructorParameters<typeof TestClient>[1] = {}, protocols?: string[]): TestClient =>
    clients.add(new TestClient(url, options, protocols));
  const bearer = (url: string, jwt: string): TestClient => open(url, { headers: { Authorization: `Bearer ${jwt}` } });
  const gateway = async (env: Record<string, string> = {}): Promise<RunningGateway> => {
    const gw = await startGateway(env);
    gateways.push(gw);
    return gw;
  };
  /** The refusal contract: exactly one error frame with the code, then the close code. */
  const expectRefused = async (client: TestClient, errorCode: string, closeCode: number): Promise<{ frame: Frame; closed: Closed }> => {
    const frame = await client.next('error');
    expect(frame).toMatchObject({ type: 'error', error_code: errorCode });
    expect(typeof frame.error_message).toBe('string');
    expect(typeof frame.timestamp).toBe('number');
    const closed = await client.closed;
    expect(closed.code).toBe(closeCode);
    expect(client.frames.filter((f) => f.type === 'auth_response')).toEqual([]);
    return { frame, closed };
  };

  afterEach(async () => {
    await clients.closeAll();
    await Promise.all(gateways.splice(0).map((g) => g.stop()));
  });

  describe('token sources', () => {
    it('accepts the token from an Authorization: Bearer header and answers a complete auth_response', async () => {
      const gw = await gateway();
      const before = Date.now();
      const c = bearer(gw.wsUrl, await token('alice', 'phone'));
      const auth = await c.next('auth_response');
      expect(auth).toEqual({ type: 'auth_response', success: true, user_id: 'alice', device_id: 'phone', timestamp: auth.timestamp });
      expect(auth.timestamp).toBeGreaterThanOrEqual(before);
      expect(auth.timestamp).toBeLessThanOrEqual(Date.now());
    });

    it('accepts the token as a Sec-WebSocket-Protocol entry bearer.<jwt>, answering im-gateway.v1 and never the token', async () => {
      const gw = await gateway();
      const jwt = await token('alice', 'browser');
      const c = open(gw.wsUrl, {}, ['im-gateway.v1', `bearer.${jwt}`]);
      const answered = new Promise<string | undefined>((resolve) => {
        c.ws.once('upgrade', (res) => resolve(res.headers['sec-websocket-protocol'] as string | undefined));
      });
      expect(await c.next('auth_response')).toMatchObject({ success: true, user_id: 'alice', device_id: 'browser' });
      expect(await answered).toBe('im-gateway.v1');
      expect(c.ws.protocol).toBe('im-gateway.v1');
    });

    it('still answers only im-gateway.v1 when a subprotocol token is refused', async () => {
      const gw = await gateway();
      const c = open(gw.wsUrl, {}, ['bearer.not-a-jwt', 'im-gateway.v1']);
      const answered = new Promise<string | undefined>((resolve) => {
        c.ws.once('upgrade', (res) => resolve(res.headers['sec-websocket-protocol'] as string | undefined));
      });
      await expectRefused(c, 'INVALID_TOKEN', 4002);
      expect(await answered).toBe('im-gateway.v1');
    });

    it('accepts the token from the ?token= query parameter', async () => {
      const gw = await gateway();
      const c = open(`${gw.wsUrl}?token=${encodeURIComponent(await token('alice', 'tablet'))}`);
      expect(await c.next('auth_response')).toMatchObject({ success: true, user_id: 'alice', device_id: 'tablet' });
    });

    it('uses sub as the user when user_id is absent', async () => {
      const gw = await gateway();
      const jwt = await sign({ sub: 'carol', device_id: 'watch', exp: now() + 60 }, secretKey(TEST_SECRET));
      const c = bearer(gw.wsUrl, jwt);
      expect(await c.next('auth_response')).toMatchObject({ success: true, user_id: 'carol', device_id: 'watch' });
    });

    it('prefers user_id over sub when both are present', async () => {
      const gw = await gateway();
      const jwt = await sign({ sub: 'someone-else', user_id: 'dave', device_id: 'pc', exp: now() + 60 }, secretKey(TEST_SECRET));
      const c = bearer(gw.wsUrl, jwt);
      expect(await c.next('auth_response')).toMatchObject({ user_id: 'dave', device_id: 'pc' });
    });
  });

  describe('refusals', () => {
    let gw: RunningGateway;
    beforeAll(async () => {
      gw = await startGateway();
    });
    afterAll(async () => {
      await gw.stop();
    });

    it('refuses a socket without any token with AUTH_REQUIRED, then closes 4001', async () => {
      await expectRefused(open(gw.wsUrl), 'AUTH_REQUIRED', 4001);
    });

    it('refuses an empty ?token= as AUTH_REQUIRED', async () => {
      await expectRefused(open(`${gw.wsUrl}?token=`), 'AUTH_REQUIRED', 4001);
    });

    it('refuses a garbage token with INVALID_TOKEN, then closes 4002', async () => {
      await expectRefused(bearer(gw.wsUrl, 'garbage'), 'INVALID_TOKEN', 4002);
      await expectRefused(bearer(gw.wsUrl, 'a.b.c'), 'INVALID_TOKEN', 4002);
    });

    it('refuses an expired token with TOKEN_EXPIRED, then closes 4003', async () => {
      await expectRefused(bearer(gw.wsUrl, await token('alice', 'phone', { expiresInSeconds: -120 })), 'TOKEN_EXPIRED', 4003);
    });

    it('refuses a token signed with another secret with AUTH_FAILED, then closes 4004', async () => {
      const jwt = await token('alice', 'phone', { secret: 'another-secret-that-is-also-32-bytes-long' });
      await expectRefused(bearer(gw.wsUrl, jwt), 'AUTH_FAILED', 4004);
    });

    it('refuses a token without device_id with INVALID_TOKEN', async () => {
      const jwt = await sign({ user_id: 'alice', exp: now() + 60 }, secretKey(TEST_SECRET));
      await expectRefused(bearer(gw.wsUrl, jwt), 'INVALID_TOKEN', 4002);
    });

    it('refuses a token with neither user_id nor sub with INVALID_TOKEN', async () => {
      const jwt = await sign({ device_id: 'phone', exp: now() + 60 }, secretKey(TEST_SECRET));
      await expectRefused(bearer(gw.wsUrl, jwt), 'INVALID_TOKEN', 4002);
    });

    it('refuses a correctly signed token without exp', async () => {
      const jwt = await sign({ user_id: 'alice', device_id: 'phone' }, secretKey(TEST_SECRET));
      await expectRefused(bearer(gw.wsUrl, jwt), 'INVALID_TOKEN', 4002);
    });

    it('refuses an unsigned alg:none token', async () => {
      const jwt = new UnsecuredJWT({ user_id: 'alice', device_id: 'phone' }).setExpirationTime(now() + 60).encode();
      expect(jwt.endsWith('.')).toBe(true);
      await expectRefused(bearer(gw.wsUrl, jwt), 'AUTH_FAILED', 4004);
    });

    it('refuses the Authorization header with another scheme rather than reading its value as a token', async () => {
      const c = open(gw.wsUrl, { headers: { Authorization: `Basic ${await token('alice', 'phone')}` } });
      await expectRefused(c, 'AUTH_REQUIRED', 4001);
    });
  });

  describe('asymmetric keys', () => {
    it('accepts RS256 tokens with JWT_PUBLIC_KEY as PEM text', async () => {
      const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const gw = await gateway({ JWT_SECRET: '', JWT_PUBLIC_KEY: publicKey.export({ type: 'spki', format: 'pem' }).toString() });
      const jwt = await sign({ user_id: 'erin', device_id: 'phone', exp: now() + 60 }, privateKey, 'RS256');
      expect(await bearer(gw.wsUrl, jwt).next('auth_response')).toMatchObject({ success: true, user_id: 'erin', device_id: 'phone' });
      const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
      await expectRefused(bearer(gw.wsUrl, await sign({ user_id: 'erin', device_id: 'phone', exp: now() + 60 }, other, 'RS256')), 'AUTH_FAILED', 4004);
    });

    it('accepts RS256 tokens with JWT_PUBLIC_KEY as a path to a PEM file', async () => {
      const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const dir = mkdtempSync(join(tmpdir(), 'gateway-auth-'));
      try {
        const file = join(dir, 'jwt.pub.pem');
        writeFileSync(file, publicKey.export({ type: 'spki', format: 'pem' }));
        const gw = await gateway({ JWT_SECRET: '', JWT_PUBLIC_KEY: file });
        const jwt = await sign({ user_id: 'erin', device_id: 'tablet', exp: now() + 60 }, privateKey, 'RS256');
        expect(await bearer(gw.wsUrl, jwt).next('auth_response')).toMatchObject({ success: true, user_id: 'erin', device_id: 'tablet' });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('refuses algorithm confusion: an HS256 token signed with the RS256 public key PEM as the secret', async () => {
      const pem = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
      const gw = await gateway({ JWT_SECRET: '', JWT_PUBLIC_KEY: pem });
      const claims = { user_id: 'mallory', device_id: 'phone', exp: now() + 60 };
      // Both spellings an attacker might use: the PEM as configured and as the gateway stores it (trimmed).
      for (const secret of [pem, pem.trim()]) {
        await expectRefused(bearer(gw.wsUrl, await sign(claims, secretKey(secret))), 'AUTH_FAILED', 4004);
      }
    });

    describe('JWKS', () => {
      let jwks: Server;
      let jwksUrl: string;
      let jwksHits = 0;
      let keys: Awaited<ReturnType<typeof generateKeyPair>>;
      beforeAll(async () => {
        keys = await generateKeyPair('ES256', { extractable: true });
        const jwk = { ...(await exportJWK(keys.publicKey)), kid: 'test-es256', alg: 'ES256', use: 'sig' };
        jwks = createServer((req, res) => {
          jwksHits++;
          if (req.url !== '/.well-known/jwks.json') {
            res.writeHead(404).end();
            return;
          }
          res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
        });
        await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
        jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/.well-known/jwks.json`;
      });
      afterAll(async () => {
        jwks.closeAllConnections();
        await new Promise((resolve) => jwks.close(resolve));
      });

      it('accepts ES256 tokens whose key comes from JWT_JWKS_URL', async () => {
        const gw = await gateway({ JWT_SECRET: '', JWT_JWKS_URL: jwksUrl });
        const jwt = await sign({ user_id: 'frank', device_id: 'phone', exp: now() + 60 }, keys.privateKey, 'ES256', 'test-es256');
        expect(await bearer(gw.wsUrl, jwt).next('auth_response')).toMatchObject({ success: true, user_id: 'frank', device_id: 'phone' });
        expect(jwksHits).toBeGreaterThan(0);
      });

      it('refuses an ES256 token from a key the JWKS does not hold', async () => {
        const gw = await gateway({ JWT_SECRET: '', JWT_JWKS_URL: jwksUrl });
        const stranger = await generateKeyPair('ES256');
        const jwt = await sign({ user_id: 'frank', device_id: 'phone', exp: now() + 60 }, stranger.privateKey, 'ES256', 'test-es256');
        await expectRefused(bearer(gw.wsUrl, jwt), 'AUTH_FAILED', 4004);
      });

      it('refuses an ES256 token whose kid the JWKS does not list', async () => {
        const gw = await gateway({ JWT_SECRET: '', JWT_JWKS_URL: jwksUrl });
        const jwt = await sign({ user_id: 'frank', device_id: 'phone', exp: now() + 60 }, keys.privateKey, 'ES256', 'rotated-away');
        await expectRefused(bearer(gw.wsUrl, jwt), 'AUTH_FAILED', 4004);
      });

      it('answers SERVICE_UNAVAILABLE (4012), not AUTH_FAILED, while the JWKS endpoint is down, so clients retry instead of logging out', async () => {
        const jwt = await sign({ user_id: 'frank', device_id: 'phone', exp: now() + 60 }, keys.privateKey, 'ES256', 'test-es256');
        // Refused connection: a port that was just free.
        const probe = createServer();
        await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
        const deadPort = (probe.address() as AddressInfo).port;
        await new Promise((resolve) => probe.close(resolve));
        const unreachable = await gateway({ JWT_SECRET: '', JWT_JWKS_URL: `http://127.0.0.1:${deadPort}/jwks.json` });
        await expectRefused(bearer(unreachable.wsUrl, jwt), 'SERVICE_UNAVAILABLE', 4012);
        // Reachable but failing: the JWKS server answers 404 on another path.
        const failing = await gateway({ JWT_SECRET: '', JWT_JWKS_URL: jwksUrl.replace('jwks.json', 'missing.json') });
        const { frame } = await expectRefused(bearer(failing.wsUrl, jwt), 'SERVICE_UNAVAILABLE', 4012);
        expect(frame.error_message).not.toContain('127.0.0.1');
      });

      it('refuses an HS256 token when keys come from a JWKS', async () => {
        const gw = await gateway({ JWT_SECRET: '', JWT_JWKS_URL: jwksUrl });
        await expectRefused(bearer(gw.wsUrl, await token('frank', 'phone')), 'AUTH_FAILED', 4004);
      });
    });
  });

  describe('issuer and audience', () => {
    const env = { JWT_ISSUER: 'https://auth.example.test', JWT_AUDIENCE: 'im-gateway' };
    const claims = { user_id: 'gina', device_id: 'phone', exp: now() + 600 };

    it('accepts a token with the configured iss and aud', async () => {
      const gw = await gateway(env);
      const jwt = await sign({ ...claims, iss: env.JWT_ISSUER, aud: env.JWT_AUDIENCE }, secretKey(TEST_SECRET));
      expect(await bearer(gw.wsUrl, jwt).next('auth_response')).toMatchObject({ success: true, user_id: 'gina' });
    });

    it('refuses another issuer or another audience with AUTH_FAILED', async () => {
      const gw = await gateway(env);
      const wrongIss = await sign({ ...claims, iss: 'https://evil.example.test', aud: env.JWT_AUDIENCE }, secretKey(TEST_SECRET));
      const wrongAud = await sign({ ...claims, iss: env.JWT_ISSUER, aud: 'another-service' }, secretKey(TEST_SECRET));
      await expectRefused(bearer(gw.wsUrl, wrongIss), 'AUTH_FAILED', 4004);
      await expectRefused(bearer(gw.wsUrl, wrongAud), 'AUTH_FAILED', 4004);
    });

    it('refuses a token lacking the required iss or aud claim', async () => {
      const gw = await gateway(env);
      const noIss = await sign({ ...claims, aud: env.JWT_AUDIENCE }, secretKey(TEST_SECRET));
      const noAud = await sign({ ...claims, iss: env.JWT_ISSUER }, secretKey(TEST_SECRET));
      await expectRefused(bearer(gw.wsUrl, noIss), 'INVALID_TOKEN', 4002);
      await expectRefused(bearer(gw.wsUrl, noAud), 'INVALID_TOKEN', 4002);
    });
  });

  describe('configuration', () => {
    it('refuses to start without a JWT key outside DEV_MODE, naming the variables to set', () => {
      let error: unknown;
      try {
        loadConfig({ PORT: '0', GRPC_PORT: '0' });
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(ConfigError);
      const message = (error as Error).message;
      for (const name of ['JWT_SECRET', 'JWT_JWKS_URL', 'JWT_PUBLIC_KEY', 'DEV_MODE']) expect(message).toContain(name);
      expect(() => loadConfig({ DEV_MODE: 'false' })).toThrow(ConfigError);
    });

    it('refuses two JWT keys at once and an HS256 secret shorter than 32 bytes', () => {
      expect(() => loadConfig({ JWT_SECRET: TEST_SECRET, JWT_JWKS_URL: 'http://127.0.0.1:1/jwks' })).toThrow(/only one of JWT_SECRET, JWT_JWKS_URL, JWT_PUBLIC_KEY/);
      expect(() => loadConfig({ JWT_SECRET: 'short' })).toThrow(/JWT_SECRET must be at least 32 bytes/);
    });

    it('starts in DEV_MODE without a key and accepts a token minted by npm run token', async () => {
      const gw = await gateway({ JWT_SECRET: '', DEV_MODE: 'true' });
      expect(gw.node.config.jwt.secret).toBe(DEV_JWT_SECRET);
      const env: Record<string, string | undefined> = { ...process.env };
      delete env.JWT_SECRET;
      const { stdout } = await promisify(execFile)(
        process.execPath,
        ['gateway/src/tools/mint-token.ts', '--user', 'henry', '--device', 'cli-1', '--ttl', '60'],
        { cwd: REPO_ROOT, env, timeout: 10_000 },
      );
      const jwt = stdout.trim();
      expect(jwt.split('.')).toHaveLength(3);
      expect(await bearer(gw.wsUrl, jwt).next('auth_response')).toMatchObject({ success: true, user_id: 'henry', device_id: 'cli-1' });
    });

    it('refuses a dev-secret token on a gateway that has its own secret', async () => {
      const gw = await gateway();
      const jwt = await sign({ user_id: 'henry', device_id: 'cli-1', exp: now() + 60 }, secretKey(DEV_JWT_SECRET));
      await expectRefused(bearer(gw.wsUrl, jwt), 'AUTH_FAILED', 4004);
    });
  });
});
