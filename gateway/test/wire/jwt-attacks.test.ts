// Forged and borderline JWTs against a real gateway, at connect and in a
// refresh_token frame (verified alike). Tokens are assembled by hand, not with
// jose's signer, which refuses to build several of them. auth.test.ts holds
// the plain cases (alg none, RS256 confusion, iss/aud, kid, JWKS outages).
import { execFileSync } from 'node:child_process';
import { createHmac, createPrivateKey, generateKeyPairSync, sign as signData, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpenClients, TestClient, type Frame } from '../support/client.ts';
import { startGateway, TEST_SECRET, token, type RunningGateway } from '../support/gateway.ts';

const nowSeconds = (): number => Math.floor(Date.now() / 1000);
const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

type Signer = { hs: string } | { es: KeyObject; der?: boolean } | 'none';

/** header.payload.signature, signed as told whatever the header claims. */
function forge(header: Record<string, unknown>, payload: Record<string, unknown>, signer: Signer): string {
  const input = `${b64(header)}.${b64(payload)}`;
  if (signer === 'none') return `${input}.`;
  if ('hs' in signer) return `${input}.${createHmac('sha256', signer.hs).update(input).digest('base64url')}`;
  const signature = signData('sha256', Buffer.from(input), { key: signer.es, dsaEncoding: signer.der === true ? 'der' : 'ieee-p1363' });
  return `${input}.${signature.toString('base64url')}`;
}

interface Attack {
  name: string;
  token: () => string;
  /** The error code, at connect (close code from it) and in the refresh_token error frame. */
  code: 'AUTH_FAILED' | 'INVALID_TOKEN' | 'TOKEN_EXPIRED';
}

const CLOSE_FOR = { AUTH_FAILED: 4004, INVALID_TOKEN: 4002, TOKEN_EXPIRED: 4003 } as const;

describe('JWT attack set', () => {
  const clients = new OpenClients();
  let dir: string;
  /** Serves the attacker's key as a JWKS and certificate: it must never be asked. */
  let attackerServer: Server;
  let attackerUrl: string;
  let attackerHits = 0;
  let legit: { privateKey: KeyObject; publicPem: string };
  let attacker: { privateKey: KeyObject; jwk: Record<string, unknown>; certDer: string };
  let es: RunningGateway;
  let hs: RunningGateway;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'jwt-attacks-'));
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    legit = { privateKey: pair.privateKey, publicPem: pair.publicKey.export({ type: 'spki', format: 'pem' }).toString() };
    // The attacker's own key, with a self-signed certificate for x5c.
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', join(dir, 'attacker.key'), '-out', join(dir, 'attacker.crt'), '-days', '1', '-subj', '/CN=attacker', '-outform', 'DER',
    ], { stdio: 'pipe' });
    const attackerKey = createPrivateKey(readFileSync(join(dir, 'attacker.key')));
    const jwk = { ...attackerKey.export({ format: 'jwk' }), kid: 'attacker', alg: 'ES256', use: 'sig' } as Record<string, unknown>;
    delete jwk.d;
    attacker = { privateKey: attackerKey, jwk, certDer: readFileSync(join(dir, 'attacker.crt')).toString('base64') };
    attackerServer = createServer((_req, res) => {
      attackerHits++;
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((resolve) => attackerServer.listen(0, '127.0.0.1', resolve));
    attackerUrl = `http://127.0.0.1:${(attackerServer.address() as AddressInfo).port}`;
    es = await startGateway({ JWT_PUBLIC_KEY: legit.publicPem, JWT_SECRET: '' });
    hs = await startGateway();
  });

  afterAll(async () => {
    await clients.closeAll();
    await Promise.all([es.stop(), hs.stop()]);
    attackerServer.closeAllConnections();
    await new Promise((resolve) => attackerServer.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  const claims = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({ user_id: 'alice', device_id: 'phone', exp: nowSeconds() + 600, ...extra });
  const asAttacker = (header: Record<string, unknown>): string => forge({ alg: 'ES256', typ: 'JWT', ...header }, claims(), { es: attacker.privateKey });

  /** Attacks on the gateway that trusts one ES256 public key. */
  const keyAttacks: Attack[] = [
    { name: 'the attacker’s public key embedded as a jwk header', code: 'AUTH_FAILED', token: () => asAttacker({ jwk: attacker.jwk }) },
    { name: 'a jku header pointing at the attacker’s JWKS', code: 'AUTH_FAILED', token: () => asAttacker({ jku: `${attackerUrl}/jwks.json`, kid: 'attacker' }) },
    { name: 'an x5u header pointing at the attacker’s certificate', code: 'AUTH_FAILED', token: () => asAttacker({ x5u: `${attackerUrl}/cert.pem` }) },
    { name: 'an x5c header carrying the attacker’s self-signed certificate', code: 'AUTH_FAILED', token: () => asAttacker({ x5c: [attacker.certDer] }) },
    { name: 'a kid naming a file on the server', code: 'AUTH_FAILED', token: () => asAttacker({ kid: '../../../../dev/null' }) },
    { name: 'HS256 signed with the ES256 public key PEM as the secret', code: 'AUTH_FAILED', token: () => forge({ alg: 'HS256' }, claims(), { hs: legit.publicPem }) },
    { name: 'alg "None" with an empty signature', code: 'AUTH_FAILED', token: () => forge({ alg: 'None' }, claims(), 'none') },
    { name: 'alg "NONE" with an empty signature', code: 'AUTH_FAILED', token: () => forge({ alg: 'NONE' }, claims(), 'none') },
    { name: 'the real key’s signature in DER instead of the JWS form', code: 'AUTH_FAILED', token: () => forge({ alg: 'ES256' }, claims(), { es: legit.privateKey, der: true }) },
  ];

  const hsKey = { hs: TEST_SECRET };
  /** Header and claim attacks on the gateway with an HS256 secret, signed with the right secret. */
  const claimAttacks: Attack[] = [
    { name: 'a crit header naming an extension the gateway does not know', code: 'AUTH_FAILED', token: () => forge({ alg: 'HS256', crit: ['exp-policy'], 'exp-policy': 'never' }, claims(), hsKey) },
    { name: 'a crit header asking for an unencoded payload (b64: false)', code: 'INVALID_TOKEN', token: () => forge({ alg: 'HS256', b64: false, crit: ['b64'] }, claims(), hsKey) },
    { name: 'HS512 where HS256 is configured', code: 'AUTH_FAILED', token: () => forge({ alg: 'HS512' }, claims(), hsKey) },
    { name: 'exp equal to the current second', code: 'TOKEN_EXPIRED', token: () => forge({ alg: 'HS256' }, claims({ exp: nowSeconds() }), hsKey) },
    { name: 'exp given as a string', code: 'AUTH_FAILED', token: () => forge({ alg: 'HS256' }, claims({ exp: String(nowSeconds() + 600) }), hsKey) },
    { name: 'nbf a minute ahead', code: 'AUTH_FAILED', token: () => forge({ alg: 'HS256' }, claims({ nbf: nowSeconds() + 60 }), hsKey) },
    { name: 'a user_id outside the id shape', code: 'INVALID_TOKEN', token: () => forge({ alg: 'HS256' }, claims({ user_id: '../admin' }), hsKey) },
    { name: 'a fourth segment', code: 'INVALID_TOKEN', token: () => `${forge({ alg: 'HS256' }, claims(), hsKey)}.extra` },
  ];

  const refuse = async (gw: RunningGateway, attack: Attack): Promise<void> => {
    const client = clients.add(new TestClient(gw.wsUrl, { headers: { Authorization: `Bearer ${attack.token()}` } }));
    const error = await client.next('error');
    expect(error, attack.name).toMatchObject({ error_code: attack.code });
    expect((await client.closed).code, attack.name).toBe(CLOSE_FOR[attack.code]);
    expect(client.frames.find((f) => f.type === 'auth_response'), attack.name).toBeUndefined();
  };

  /** The same token offered to an open socket of alice/phone: refused alike, the socket kept. */
  const refuseRefresh = async (client: TestClient, attack: Attack): Promise<void> => {
    client.send({ type: 'refresh_token', token: attack.token() });
    const answer: Frame = await client.next(undefined, (f) => f.type === 'error' || f.type === 'refresh_token_response');
    expect(answer, attack.name).toMatchObject({ type: 'error', error_code: attack.code });
  };

  it('refuses each forged key or algorithm at connect and in refresh_token, and never fetches a key the token names', async () => {
    const legitToken = forge({ alg: 'ES256', typ: 'JWT' }, claims(), { es: legit.privateKey });
    const alice = clients.add(new TestClient(es.wsUrl, { headers: { Authorization: `Bearer ${legitToken}` } }));
    await alice.next('auth_response');
    for (const attack of keyAttacks) {
      await refuse(es, attack);
      await refuseRefresh(alice, attack);
    }
    expect(attackerHits).toBe(0);
    expect(alice.ws.readyState).toBe(1);
  });

  it('refuses crit headers, other algorithms and out-of-window claims at connect and in refresh_token', async () => {
    const alice = await clients.connect(hs.wsUrl, 'alice', 'phone');
    for (const attack of claimAttacks) {
      await refuse(hs, attack);
      await refuseRefresh(alice, attack);
    }
    expect(alice.ws.readyState).toBe(1);
  });

  it('accepts the boundaries on the right side: exp two seconds ahead, nbf this second', async () => {
    for (const payload of [claims({ exp: nowSeconds() + 2 }), claims({ nbf: nowSeconds() })]) {
      const client = clients.add(new TestClient(hs.wsUrl, { headers: { Authorization: `Bearer ${forge({ alg: 'HS256' }, payload, hsKey)}` } }));
      expect(await client.next('auth_response')).toMatchObject({ user_id: 'alice', device_id: 'phone' });
      await client.close();
    }
    // A token built by jose, for contrast: the hand-made ones above are what jose would make.
    const client = clients.add(new TestClient(hs.wsUrl, { headers: { Authorization: `Bearer ${await token('alice', 'phone')}` } }));
    await client.next('auth_response');
  });
});
