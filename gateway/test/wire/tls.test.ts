import { setTimeout as sleep } from 'node:timers/promises';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import WebSocket from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { bearerCallCredentials } from '../../src/api/grpc-auth.ts';
import { loadGatewayService } from '../../src/api/grpc-server.ts';
import { OpenClients, TestClient } from '../support/client.ts';
import { GRPC_API_TOKEN, startGateway, token, type RunningGateway } from '../support/gateway.ts';

interface Cert {
  cert: Buffer;
  key: Buffer;
  fingerprint: string;
}

let dir: string;
let serial = 0;

/** A fresh self-signed P-256 certificate for 127.0.0.1 and localhost, made by the openssl CLI. */
function makeCert(): Cert {
  const name = `c${++serial}`;
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', keyFile, '-out', certFile, '-days', '1',
    '-subj', `/CN=127.0.0.1/O=gateway-test-${name}`,
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
  ], { stdio: 'pipe' });
  const cert = readFileSync(certFile);
  const key = readFileSync(keyFile);
  return { cert, key, fingerprint: new X509Certificate(cert).fingerprint256 };
}

/** Installs a pair at the paths the gateway reads (as cert-manager rewrites a mounted Secret). */
function install(pair: Cert, files: { certFile: string; keyFile: string }): void {
  writeFileSync(files.keyFile, pair.key);
  writeFileSync(files.certFile, pair.cert);
}

/** The SHA-256 fingerprint of the certificate a fresh TLS handshake on `port` presents. */
function servedFingerprint(port: number, alpn: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false, ALPNProtocols: alpn, servername: 'localhost' }, () => {
      const fingerprint = socket.getPeerCertificate().fingerprint256;
      socket.destroy();
      resolve(fingerprint);
    });
    socket.setTimeout(2000, () => socket.destroy(new Error('TLS handshake timed out')));
    socket.on('error', reject);
  });
}

async function eventually<T>(probe: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 3000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      last = await probe();
      if (ok(last)) return last;
    } catch (err) {
      lastError = err;
    }
    await sleep(50);
  }
  throw new Error(`condition not met within ${timeoutMs} ms; last value ${String(last)}; last error ${String(lastError)}`);
}

function getHealth(url: string, ca: Buffer): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = httpsGet(`${url}/health`, { ca, agent: false, timeout: 2000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }));
    });
    req.on('timeout', () => req.destroy(new Error('health request timed out')));
    req.on('error', reject);
  });
}

interface ConnectionStatus {
  online: boolean;
  devices: Array<{ device_id: string; online: boolean; gateway_node: string; connected_at: number }>;
}

const GatewayService = loadGatewayService();
const grpcClients: grpc.Client[] = [];

// Verify the certificate against its DNS name: grpc-js would otherwise send the IP as SNI (deprecated by RFC 6066).
const TLS_NAME = { 'grpc.ssl_target_name_override': 'localhost', 'grpc.default_authority': 'localhost' };

/** GetConnectionStatus over a fresh TLS channel trusting only `ca`. */
function connectionStatus(address: string, ca: Buffer, userId: string): Promise<ConnectionStatus> {
  const client = new GatewayService(address, grpc.credentials.createSsl(ca).compose(bearerCallCredentials(GRPC_API_TOKEN)), TLS_NAME);
  grpcClients.push(client);
  const call = client.GetConnectionStatus as (
    req: object,
    options: grpc.CallOptions,
    cb: (err: grpc.ServiceError | null, res: ConnectionStatus) => void,
  ) => void;
  return new Promise((resolve, reject) => {
    call.call(client, { user_id: userId, device_id: '' }, { deadline: Date.now() + 2000 }, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

const port = (url: string): number => Number(new URL(url).port);

describe('TLS and browser origins', () => {
  const clients = new OpenClients();
  const open = (url: string, ca: Buffer, jwt: string, origin?: string): TestClient =>
    clients.add(new TestClient(url, { ca, headers: { Authorization: `Bearer ${jwt}` }, ...(origin === undefined ? {} : { origin }) }));

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'gateway-tls-'));
  });
  afterEach(async () => {
    await clients.closeAll();
    for (const c of grpcClients.splice(0)) c.close();
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  describe('one TLS node', () => {
    const ALLOWED = 'https://app.example.test';
    let gw: RunningGateway;
    let pair: Cert;
    beforeAll(async () => {
      pair = makeCert();
      const files = { certFile: join(dir, 'served.crt'), keyFile: join(dir, 'served.key') };
      install(pair, files);
      gw = await startGateway({
        TLS_CERT_FILE: files.certFile,
        TLS_KEY_FILE: files.keyFile,
        TLS_RELOAD_INTERVAL_MS: '100',
        ALLOWED_ORIGINS: `${ALLOWED}, https://admin.example.test`,
      });
    });
    afterAll(async () => {
      await gw?.stop();
    });

    it('serves wss:// with the configured certificate', async () => {
      expect(gw.wsUrl.startsWith('wss://')).toBe(true);
      const c = open(gw.wsUrl, pair.cert, await token('alice', 'phone'));
      expect(await c.next('auth_response')).toMatchObject({ success: true, user_id: 'alice', device_id: 'phone' });
      expect(await servedFingerprint(port(gw.httpUrl), ['http/1.1'])).toBe(pair.fingerprint);
    });

    it('refuses wss:// to a client that does not trust the certificate', async () => {
      const c = new WebSocket(gw.wsUrl, { headers: { Authorization: `Bearer ${await token('alice', 'phone')}` } });
      const error = await new Promise<Error>((resolve) => c.once('error', resolve));
      expect((error as NodeJS.ErrnoException).code).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
    });

    it('serves GET /health over https://', async () => {
      const { status, body } = await getHealth(gw.httpUrl, pair.cert);
      expect(status).toBe(200);
      expect(body.status).toBe('healthy');
    });

    it('serves gRPC over TLS with the same certificate', async () => {
      const c = open(gw.wsUrl, pair.cert, await token('alice', 'laptop'));
      await c.next('auth_response');
      const status = await connectionStatus(gw.grpcAddress, pair.cert, 'alice');
      expect(status.online).toBe(true);
      expect(status.devices).toEqual([{ device_id: 'laptop', online: true, gateway_node: 'test-node', connected_at: expect.any(Number) as number }]);
      expect(await servedFingerprint(port(`https://${gw.grpcAddress}`), ['h2'])).toBe(pair.fingerprint);
    });

    it('refuses plaintext gRPC on the TLS port', async () => {
      const client = new GatewayService(gw.grpcAddress, grpc.credentials.createInsecure());
      grpcClients.push(client);
      const err = await new Promise<grpc.ServiceError | null>((resolve) => {
        (client.GetConnectionStatus as (r: object, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null) => void) => void).call(
          client, { user_id: 'alice', device_id: '' }, { deadline: Date.now() + 1000 }, resolve,
        );
      });
      expect(err?.code).toBeOneOf([grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED]);
    });

    it('opens a socket for an allowed Origin', async () => {
      const c = open(gw.wsUrl, pair.cert, await token('bob', 'browser'), ALLOWED);
      expect(await c.next('auth_response')).toMatchObject({ success: true, user_id: 'bob' });
      const other = open(gw.wsUrl, pair.cert, await token('bob', 'admin-tab'), 'https://admin.example.test');
      expect(await other.next('auth_response')).toMatchObject({ success: true, device_id: 'admin-tab' });
    });

    it('refuses another Origin with HTTP 403 on the upgrade, before any token check', async () => {
      for (const origin of ['https://evil.example.test', 'http://app.example.test', 'https://app.example.test:8443']) {
        const ws = new WebSocket(gw.wsUrl, { ca: pair.cert, origin, headers: { Authorization: `Bearer ${await token('bob', 'browser')}` } });
        const status = await new Promise<number>((resolve, reject) => {
          ws.once('unexpected-response', (_req, res) => {
            resolve(res.statusCode ?? 0);
            res.resume();
          });
          ws.once('open', () => reject(new Error(`socket opened for origin ${origin}`)));
        });
        ws.on('error', () => {});
        ws.terminate();
        expect(status).toBe(403);
      }
      expect(gw.node.hub.size).toBe(0);
    });

    it('lets a non-browser client without an Origin header connect', async () => {
      const c = open(gw.wsUrl, pair.cert, await token('carol', 'server'));
      expect(await c.next('auth_response')).toMatchObject({ success: true, user_id: 'carol' });
    });
  });

  describe('certificate files', () => {
    it('answers gRPC over TLS as soon as the node has started', async () => {
      const pair = makeCert();
      const files = { certFile: join(dir, 'fresh.crt'), keyFile: join(dir, 'fresh.key') };
      install(pair, files);
      const gw = await startGateway({ TLS_CERT_FILE: files.certFile, TLS_KEY_FILE: files.keyFile });
      try {
        // No retry: start() resolving is what readiness and peers rely on.
        expect(await connectionStatus(gw.grpcAddress, pair.cert, 'nobody')).toEqual({ online: false, devices: [] });
      } finally {
        await gw.stop();
      }
    });

    it('keeps serving the old certificate on both ports while the key and certificate on disk do not match', async () => {
      const first = makeCert();
      const second = makeCert();
      const files = { certFile: join(dir, 'halfway.crt'), keyFile: join(dir, 'halfway.key') };
      install(first, files);
      const gw = await startGateway({ TLS_CERT_FILE: files.certFile, TLS_KEY_FILE: files.keyFile, TLS_RELOAD_INTERVAL_MS: '100' });
      try {
        const httpPort = port(gw.httpUrl);
        const grpcPort = port(`https://${gw.grpcAddress}`);
        writeFileSync(files.keyFile, second.key);
        // Several reload intervals with a key that does not fit the certificate.
        await sleep(400);
        expect(await servedFingerprint(httpPort, ['http/1.1'])).toBe(first.fingerprint);
        expect(await servedFingerprint(grpcPort, ['h2'])).toBe(first.fingerprint);
        expect((await connectionStatus(gw.grpcAddress, first.cert, 'alice')).online).toBe(false);
        writeFileSync(files.certFile, second.cert);
        await eventually(() => servedFingerprint(httpPort, ['http/1.1']), (f) => f === second.fingerprint);
        await eventually(() => servedFingerprint(grpcPort, ['h2']), (f) => f === second.fingerprint);
        expect((await connectionStatus(gw.grpcAddress, second.cert, 'alice')).online).toBe(false);
      } finally {
        await gw.stop();
      }
    });

    it('serves a rewritten certificate on new HTTPS and gRPC connections without a restart', async () => {
      const first = makeCert();
      const second = makeCert();
      expect(second.fingerprint).not.toBe(first.fingerprint);
      const files = { certFile: join(dir, 'rotating.crt'), keyFile: join(dir, 'rotating.key') };
      install(first, files);
      const gw = await startGateway({ TLS_CERT_FILE: files.certFile, TLS_KEY_FILE: files.keyFile, TLS_RELOAD_INTERVAL_MS: '100' });
      try {
        const httpPort = port(gw.httpUrl);
        const grpcPort = port(`https://${gw.grpcAddress}`);
        const before = open(gw.wsUrl, first.cert, await token('alice', 'phone'));
        await before.next('auth_response');
        expect(await servedFingerprint(httpPort, ['http/1.1'])).toBe(first.fingerprint);
        expect((await connectionStatus(gw.grpcAddress, first.cert, 'alice')).online).toBe(true);

        install(second, files);
        await eventually(() => servedFingerprint(httpPort, ['http/1.1']), (f) => f === second.fingerprint);
        await eventually(() => servedFingerprint(grpcPort, ['h2']), (f) => f === second.fingerprint);

        // New connections trust only the new certificate now.
        const after = open(gw.wsUrl, second.cert, await token('alice', 'laptop'));
        await after.next('auth_response');
        expect((await getHealth(gw.httpUrl, second.cert)).status).toBe(200);
        const status = await eventually(() => connectionStatus(gw.grpcAddress, second.cert, 'alice'), () => true);
        expect(status.devices.map((d) => d.device_id).sort()).toEqual(['laptop', 'phone']);
        await expect(connectionStatus(gw.grpcAddress, first.cert, 'alice')).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
        await expect(getHealth(gw.httpUrl, first.cert)).rejects.toThrow();

        // The socket opened under the old certificate lives on: same node, no restart.
        before.send({ type: 'heartbeat', timestamp: Date.now() });
        expect(await before.next('heartbeat_response')).toMatchObject({ type: 'heartbeat_response' });
        expect(before.ws.readyState).toBe(WebSocket.OPEN);
      } finally {
        await clients.closeAll();
        await gw.stop();
      }
    });
  });
});
