/**
 * Who may call what over gRPC, over real channels: API tokens on
 * IMGatewayService, the fleet secret on the peer service (only in a fleet),
 * peer calls over TLS, and error statuses without internal text.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import type { ClientOptions } from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadGatewayService, loadPeerService } from '../../src/proto/services.ts';
import { memoryBackends } from '../../src/backends.ts';
import { ConfigError, loadConfig } from '../../src/config/config.ts';
import { PeerClient } from '../../src/fleet/peer-client.ts';
import { MemoryRegistry } from '../../src/registry/memory-registry.ts';
import type { DeviceRecord } from '../../src/registry/registry.ts';
import { MemoryStore } from '../../src/store/memory-store.ts';
import type { AppendResult } from '../../src/store/store.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { CertificateReloader, readKeyPair } from '../../src/tls/certificates.ts';
import { peerCredentials, type PeerTls } from '../../src/tls/peer-credentials.ts';
import { OpenClients, TestClient } from '../support/client.ts';
import { GRPC_API_TOKEN, startGateway, TEST_SECRET, token, type RunningGateway } from '../support/gateway.ts';

const FLEET_SECRET = 'test-fleet-secret-of-this-fleet';
/** Fleet mode is chosen by the variables; the backends themselves are memory ones passed in. */
const FLEET_ENV = {
  ETCD_ENDPOINTS: 'http://127.0.0.1:1',
  REDIS_URL: 'redis://127.0.0.1:1',
  KAFKA_BROKERS: '127.0.0.1:1',
  FLEET_SECRET,
};
const REFUSED = { code: grpc.status.UNAUTHENTICATED, details: 'valid credentials required' };

type Callable = (req: object, options: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: unknown) => void) => void;

const opened: grpc.Client[] = [];
function client(Service: new (address: string, credentials: grpc.ChannelCredentials) => grpc.Client, address: string): grpc.Client {
  const c = new Service(address, grpc.credentials.createInsecure());
  opened.push(c);
  return c;
}

/** One call with the given bearer token (or none, or a raw authorization value); settles with the error or the response. */
function call(c: grpc.Client, method: string, request: object, auth: { bearer?: string; raw?: string } = {}): Promise<{ err: grpc.ServiceError | null; res: unknown }> {
  const metadata = new grpc.Metadata();
  if (auth.bearer !== undefined) metadata.set('authorization', `Bearer ${auth.bearer}`);
  if (auth.raw !== undefined) metadata.set('authorization', auth.raw);
  const fn = (c as unknown as Record<string, (req: object, md: grpc.Metadata, options: grpc.CallOptions, cb: Parameters<Callable>[2]) => void>)[method]!;
  return new Promise((resolve) => fn.call(c, request, metadata, { deadline: Date.now() + 3000 }, (err, res) => resolve({ err, res })));
}

const GATEWAY_CALLS: Array<[string, object]> = [
  ['PushMessage', { user_id: 'alice', device_id: '', msg_id: 'm-1', sender_id: 'im-service', content: 'hi', sequence_number: 1, timestamp: 0 }],
  ['GetConnectionStatus', { user_id: 'alice', device_id: '' }],
  ['CloseConnection', { user_id: 'alice', device_id: '', reason: 'test' }],
];

afterEach(() => {
  for (const c of opened.splice(0)) c.close();
});

describe('IMGatewayService API tokens', () => {
  let gw: RunningGateway;
  const second = 'the-rotated-in-second-token';
  beforeAll(async () => {
    gw = await startGateway({ GRPC_API_TOKENS: `${GRPC_API_TOKEN}, ${second}` });
  });
  afterAll(async () => {
    await gw.stop();
  });

  it.each(GATEWAY_CALLS)('%s refuses a call without a token, with a wrong one or a malformed header, with one fixed answer', async (method, request) => {
    const rpc = client(loadGatewayService(), gw.grpcAddress);
    const attempts = [{}, { bearer: 'wrong-token-of-the-right-size' }, { bearer: `${GRPC_API_TOKEN}x` }, { bearer: GRPC_API_TOKEN.slice(1) }, { raw: GRPC_API_TOKEN }, { raw: `Basic ${GRPC_API_TOKEN}` }];
    for (const auth of attempts) {
      const { err } = await call(rpc, method, request, auth);
      expect(err, JSON.stringify(auth)).toMatchObject(REFUSED);
    }
  });

  it.each(GATEWAY_CALLS)('%s works with either configured token', async (method, request) => {
    const rpc = client(loadGatewayService(), gw.grpcAddress);
    for (const bearer of [GRPC_API_TOKEN, second]) {
      const { err, res } = await call(rpc, method, { ...request, msg_id: `m-${bearer}` }, { bearer });
      expect(err).toBeNull();
      expect(res).toBeTypeOf('object');
    }
  });

  it('changes nothing when refused: a refused push is not stored', async () => {
    const rpc = client(loadGatewayService(), gw.grpcAddress);
    const [, push] = GATEWAY_CALLS[0]!;
    expect((await call(rpc, 'PushMessage', { ...push, msg_id: 'refused-1' }, { bearer: 'nope-nope-nope-nope' })).err).toMatchObject(REFUSED);
    // The same msg_id pushed with a token is new, not a duplicate of the refused one.
    const { res } = await call(rpc, 'PushMessage', { ...push, msg_id: 'refused-1' }, { bearer: GRPC_API_TOKEN });
    expect(res).toEqual({ success: true, status: 'offline', error_message: '' });
  });

  it('serves no peer service on a lone node, whatever the credential', async () => {
    const peer = client(loadPeerService(), gw.grpcAddress);
    for (const bearer of [undefined, GRPC_API_TOKEN]) {
      const { err } = await call(peer, 'CloseLocal', { user_id: 'alice', device_id: '', reason: '', close_code: 0 }, { bearer });
      expect(err?.code).toBe(grpc.status.UNIMPLEMENTED);
    }
  });
});

describe('the peer service in a fleet', () => {
  let gw: RunningGateway;
  const clients = new OpenClients();
  beforeAll(async () => {
    gw = await fleetNode({});
  });
  afterEach(async () => {
    await clients.closeAll();
  });
  afterAll(async () => {
    await gw.stop();
  });

  it('refuses CloseLocal and ForwardEntries without the fleet secret, with a wrong one, or with an API token', async () => {
    const alice = await clients.connect(gw.wsUrl, 'alice', 'phone');
    const peer = client(loadPeerService(), gw.grpcAddress);
    const entry = { log_id: 'n:alice', pos: 1, stored_at: 0, sender_device: '', target_device: '', frame: Buffer.from('{"type":"auth_response","success":true}') };
    for (const bearer of [undefined, 'not-the-fleet-secret-at-all', GRPC_API_TOKEN]) {
      expect((await call(peer, 'CloseLocal', { user_id: 'alice', device_id: '', reason: 'x', close_code: 0 }, { bearer })).err).toMatchObject(REFUSED);
      expect((await call(peer, 'ForwardEntries', { deliveries: [{ user_id: 'alice', entry }] }, { bearer })).err).toMatchObject(REFUSED);
    }
    await alice.nothing('auth_response');
    expect(gw.node.hub.size).toBe(1);
  });

  it('does CloseLocal with the fleet secret, and IMGatewayService does not take the fleet secret', async () => {
    const alice = await clients.connect(gw.wsUrl, 'alice', 'phone');
    const rpc = client(loadGatewayService(), gw.grpcAddress);
    expect((await call(rpc, 'GetConnectionStatus', { user_id: 'alice', device_id: '' }, { bearer: FLEET_SECRET })).err).toMatchObject(REFUSED);
    const peer = client(loadPeerService(), gw.grpcAddress);
    const { err, res } = await call(peer, 'CloseLocal', { user_id: 'alice', device_id: '', reason: 'moving', close_code: 0 }, { bearer: FLEET_SECRET });
    expect(err).toBeNull();
    expect(res).toEqual({ closed_count: 1 });
    expect((await alice.closed).code).toBe(4011);
  });

  it('is reached by the peer client built from the fleet secret (plaintext fleet)', async () => {
    await clients.connect(gw.wsUrl, 'bob', 'phone');
    const peers = new PeerClient({ timeoutMs: 2000, retries: 0, ...peerCredentials(FLEET_SECRET, null) });
    try {
      expect(await peers.closeLocal(gw.grpcAddress, { user_id: 'bob', device_id: '', reason: 'r', close_code: 0 })).toBe(1);
    } finally {
      peers.close();
    }
  });
});

// The certificate names the fleet, not 127.0.0.1: peers dial pod IPs, which certificates rarely list.
const SERVER_NAME = 'im-gateway-peers.test';

interface FleetCerts {
  ca: string;
  cert: string;
  key: string;
}

/** A CA and a node certificate it signed for SERVER_NAME, made by the openssl CLI. */
function issueFleetCerts(dir: string): FleetCerts {
  const [ca, caKey, cert, key, csr, ext] = ['ca.crt', 'ca.key', 'node.crt', 'node.key', 'node.csr', 'ext.cnf'].map((f) => join(dir, f)) as [string, string, string, string, string, string];
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(['req', '-x509', ...ec, '-keyout', caKey, '-out', ca, '-days', '1', '-subj', '/CN=peer-test-ca']);
  openssl(['req', ...ec, '-keyout', key, '-out', csr, '-subj', `/CN=${SERVER_NAME}`]);
  writeFileSync(ext, `subjectAltName=DNS:${SERVER_NAME}\n`);
  openssl(['x509', '-req', '-in', csr, '-CA', ca, '-CAkey', caKey, '-CAcreateserial', '-out', cert, '-days', '1', '-extfile', ext]);
  return { ca, cert, key };
}

/** A TLS fleet node with its certificates, a WebSocket client helper, and peer calls built as a node builds them. */
function tlsFleet(env: (certs: FleetCerts) => Record<string, string>) {
  const state = { dir: '', certs: null as unknown as FleetCerts, gw: null as unknown as RunningGateway };
  const clients = new OpenClients();
  beforeAll(async () => {
    state.dir = mkdtempSync(join(tmpdir(), 'gateway-peer-tls-'));
    state.certs = issueFleetCerts(state.dir);
    const { ca, cert, key } = state.certs;
    state.gw = await fleetNode({ TLS_CERT_FILE: cert, TLS_KEY_FILE: key, PEER_TLS_CA_FILE: ca, PEER_TLS_SERVER_NAME: SERVER_NAME, ...env(state.certs) });
  });
  afterEach(async () => {
    await clients.closeAll();
  });
  afterAll(async () => {
    await state.gw?.stop();
    rmSync(state.dir, { recursive: true, force: true });
  });
  const connectCarol = async (): Promise<TestClient> => {
    // ws types the certificate loosely; node:tls hands a PeerCertificate.
    const byName = (_host: string, cert: PeerCertificate): Error | undefined => checkServerIdentity(SERVER_NAME, cert);
    const tls = { ca: readFileSync(state.certs.ca), checkServerIdentity: byName as unknown as ClientOptions['checkServerIdentity'] };
    const carol = clients.add(new TestClient(state.gw.wsUrl, { ...tls, headers: { Authorization: `Bearer ${await token('carol', 'phone')}` } }));
    await carol.next('auth_response');
    return carol;
  };
  const closeWith = async (tls: PeerTls | null, secret = FLEET_SECRET): Promise<number> => {
    const peers = new PeerClient({ timeoutMs: 1500, retries: 0, ...peerCredentials(secret, tls) });
    try {
      return await peers.closeLocal(state.gw.grpcAddress, { user_id: 'carol', device_id: '', reason: 'r', close_code: 0 });
    } finally {
      peers.close();
    }
  };
  return { state, connectCarol, closeWith };
}

describe('peer calls to a node serving TLS', () => {
  const { state, connectCarol, closeWith } = tlsFleet(() => ({}));

  it('succeed with the node’s own peer settings: TLS, the CA, the fleet name and the secret', async () => {
    const carol = await connectCarol();
    const { caFile, serverName } = state.gw.node.config.peers.tls;
    expect(await closeWith({ caFile, serverName })).toBe(1);
    expect((await carol.closed).code).toBe(4011);
  });

  it('fail in plaintext, without the CA, for another name, or with a wrong secret', async () => {
    await connectCarol();
    const { caFile } = state.gw.node.config.peers.tls;
    await expect(closeWith(null)).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
    await expect(closeWith({ caFile: undefined, serverName: SERVER_NAME })).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
    await expect(closeWith({ caFile, serverName: undefined })).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
    await expect(closeWith({ caFile, serverName: SERVER_NAME }, 'a-secret-of-another-fleet')).rejects.toMatchObject(REFUSED);
    expect(state.gw.node.hub.size).toBe(1);
  });
});

describe('mutual TLS on the gRPC port (GRPC_CLIENT_CA_FILE)', () => {
  const { state, connectCarol, closeWith } = tlsFleet((certs) => ({ GRPC_CLIENT_CA_FILE: certs.ca }));
  const nodeIdentity = (): PeerTls['identity'] => {
    const files = { certFile: state.certs.cert, keyFile: state.certs.key, reloadIntervalMs: 60_000 };
    return new CertificateReloader(files, readKeyPair(files), createLogger('error')).identity;
  };

  it('admits a peer presenting a node certificate with the fleet secret, and no peer without a certificate', async () => {
    const carol = await connectCarol();
    const caFile = state.certs.ca;
    await expect(closeWith({ caFile, serverName: SERVER_NAME })).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
    await expect(closeWith({ caFile, serverName: SERVER_NAME, identity: nodeIdentity() }, 'a-secret-of-another-fleet')).rejects.toMatchObject(REFUSED);
    expect(await closeWith({ caFile, serverName: SERVER_NAME, identity: nodeIdentity() })).toBe(1);
    expect((await carol.closed).code).toBe(4011);
  });

  it('asks backend services for a certificate too, besides their API token', async () => {
    const verify = { checkServerIdentity: (_host: string, cert: PeerCertificate) => checkServerIdentity(SERVER_NAME, cert) };
    const ca = readFileSync(state.certs.ca);
    const status = (credentials: grpc.ChannelCredentials) => {
      const c = new (loadGatewayService())(state.gw.grpcAddress, credentials);
      opened.push(c);
      return call(c, 'GetConnectionStatus', { user_id: 'nobody', device_id: '' }, { bearer: GRPC_API_TOKEN });
    };
    expect((await status(grpc.credentials.createSsl(ca, null, null, verify))).err?.code).toBe(grpc.status.UNAVAILABLE);
    const withCert = await status(grpc.credentials.createSsl(ca, readFileSync(state.certs.key), readFileSync(state.certs.cert), verify));
    expect(withCert).toEqual({ err: null, res: { online: false, devices: [] } });
  });
});

describe('gRPC error statuses', () => {
  const INTERNAL = 'ECONNREFUSED 10.0.0.7:2379 internal detail';
  class BrokenRegistry extends MemoryRegistry {
    override async devices(): Promise<DeviceRecord[]> {
      throw new Error(INTERNAL);
    }
  }
  class BrokenStore extends MemoryStore {
    override async append(): Promise<AppendResult> {
      throw new Error(INTERNAL);
    }
  }
  let gw: RunningGateway;
  beforeAll(async () => {
    const config = loadConfig({ JWT_SECRET: TEST_SECRET, GRPC_API_TOKENS: GRPC_API_TOKEN, NODE_ID: 'test-node' });
    const backends = memoryBackends(config);
    gw = await startGateway({}, {
      ...backends,
      registry: new BrokenRegistry({ nodeId: 'test-node', grpcAddress: config.grpcAdvertiseAddress }),
      store: new BrokenStore(config.retention, { limit: 100, windowMs: 60_000 }),
    });
  });
  afterAll(async () => {
    await gw.stop();
  });

  it('carry a fixed text, never the internal error', async () => {
    const rpc = client(loadGatewayService(), gw.grpcAddress);
    const [[pushMethod, push], [statusMethod, status]] = GATEWAY_CALLS as [[string, object], [string, object]];
    const pushed = await call(rpc, pushMethod, push, { bearer: GRPC_API_TOKEN });
    expect(pushed.res).toEqual({ success: false, status: 'failed', error_message: 'CACHE_ERROR: message store unavailable; retry later' });
    const failed = await call(rpc, statusMethod, status, { bearer: GRPC_API_TOKEN });
    expect(failed.err).toMatchObject({ code: grpc.status.UNAVAILABLE, details: 'registry unavailable; retry later' });
  });
});

describe('configuration of gRPC credentials', () => {
  const base = { JWT_SECRET: TEST_SECRET };
  it('refuses to start without an API token outside DEV_MODE, and in a fleet without a fleet secret', () => {
    expect(() => loadConfig(base)).toThrow(/GRPC_API_TOKENS/);
    expect(() => loadConfig({ ...base, GRPC_API_TOKENS: GRPC_API_TOKEN, ...FLEET_ENV, FLEET_SECRET: '' })).toThrow(/FLEET_SECRET/);
    expect(() => loadConfig({ ...base, GRPC_API_TOKENS: GRPC_API_TOKEN, ...FLEET_ENV })).not.toThrow();
  });

  it('refuses short tokens without printing them, and peer TLS settings without TLS', () => {
    let error: unknown;
    try {
      loadConfig({ ...base, GRPC_API_TOKENS: `${GRPC_API_TOKEN},short-api`, ...FLEET_ENV, FLEET_SECRET: 'short-fleet' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toContain('GRPC_API_TOKENS: each value must be at least 16 bytes');
    expect(message).toContain('FLEET_SECRET: each value must be at least 16 bytes');
    expect(message).not.toMatch(/short-api|short-fleet/);
    expect(() => loadConfig({ ...base, GRPC_API_TOKENS: GRPC_API_TOKEN, PEER_TLS_CA_FILE: '/tmp/ca.pem' })).toThrow(/PEER_TLS_CA_FILE.*TLS_CERT_FILE/);
  });

  it('gives DEV_MODE a dev API token and, in a fleet, a dev fleet secret; keeps the first fleet secret as the one sent', () => {
    const dev = loadConfig({ DEV_MODE: 'true', ...FLEET_ENV, FLEET_SECRET: '' });
    expect(dev.grpcApiTokens).toEqual(['dev-grpc-api-token']);
    expect(dev.peers.secrets).toHaveLength(1);
    const rotating = loadConfig({ ...base, GRPC_API_TOKENS: GRPC_API_TOKEN, ...FLEET_ENV, FLEET_SECRET: 'new-fleet-secret-value, old-fleet-secret-value' });
    expect(rotating.peers.secrets).toEqual(['new-fleet-secret-value', 'old-fleet-secret-value']);
  });
});

function fleetNode(env: Record<string, string>): Promise<RunningGateway> {
  const config = loadConfig({ JWT_SECRET: TEST_SECRET, GRPC_API_TOKENS: GRPC_API_TOKEN, NODE_ID: 'test-node', ...FLEET_ENV, ...env });
  return startGateway({ ...FLEET_ENV, ...env }, { ...memoryBackends(config), fleet: true });
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: 'pipe' });
}
