import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, DEV_ADMIN_TOKEN, DEV_JWT_SECRET, loadConfig } from '../../src/config/config.ts';
import { readReadme, withConfigTable } from '../../src/tools/config-table.ts';

const SECRET = 'x'.repeat(32);
const API_TOKENS = 'backend-api-token-1';

describe('configuration', () => {
  it('has the documented defaults', () => {
    const config = loadConfig({ JWT_SECRET: SECRET, GRPC_API_TOKENS: API_TOKENS });
    expect(config.port).toBe(8080);
    expect(config.grpcPort).toBe(9093);
    expect(config.heartbeatTimeoutMs).toBe(90_000);
    expect(config.limits).toMatchObject({ maxDevicesPerUser: 5, maxContentBytes: 10_240, rateLimitMessages: 100, rateLimitWindowMs: 60_000 });
    expect(config.adminToken).toBeUndefined();
  });

  it('refuses to start without a JWT key unless in dev mode, which uses the public dev secret', () => {
    expect(() => loadConfig({})).toThrow(/JWT_SECRET, JWT_JWKS_URL or JWT_PUBLIC_KEY/);
    const dev = loadConfig({ DEV_MODE: 'true' });
    expect(dev.jwt.secret).toBe(DEV_JWT_SECRET);
    expect(dev.adminToken).toBe(DEV_ADMIN_TOKEN);
  });

  it('reports every bad value at once, naming each variable', () => {
    let error: unknown;
    try {
      loadConfig({ JWT_SECRET: SECRET, PORT: 'eighty', MAX_DEVICES_PER_USER: '0', LOG_LEVEL: 'loud', DEV_MODE: 'maybe' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const text = (error as Error).message;
    for (const name of ['PORT=eighty', 'MAX_DEVICES_PER_USER=0', 'LOG_LEVEL=loud', 'DEV_MODE=maybe']) expect(text).toContain(name);
  });

  it('holds each integer to the bounds its row declares', () => {
    const refused = (env: Record<string, string>): string => {
      try {
        loadConfig({ JWT_SECRET: SECRET, GRPC_API_TOKENS: API_TOKENS, ...env });
      } catch (err) {
        return (err as Error).message;
      }
      return 'accepted';
    };
    expect(refused({ ETCD_LEASE_TTL_SECONDS: '3601' })).toContain('ETCD_LEASE_TTL_SECONDS=3601: expected an integer from 2 to 3600');
    expect(refused({ MAX_FRAME_BYTES: '255' })).toContain('MAX_FRAME_BYTES=255');
    expect(refused({ FORWARD_RETRIES: '0', ETCD_LEASE_TTL_SECONDS: '3600', MAX_FRAME_BYTES: '256' })).toBe('accepted');
  });

  it('names a secret that is too short without printing it', () => {
    expect(() => loadConfig({ JWT_SECRET: SECRET, GRPC_API_TOKENS: 'tiny-token' })).toThrow(/GRPC_API_TOKENS: each value must be at least 16 bytes/);
    expect(() => loadConfig({ JWT_SECRET: SECRET, GRPC_API_TOKENS: 'tiny-token' })).not.toThrow(/tiny-token/);
  });

  it('refuses a short HS256 secret, two key sources, and half a TLS pair', () => {
    expect(() => loadConfig({ JWT_SECRET: 'short' })).toThrow(/at least 32 bytes/);
    expect(() => loadConfig({ JWT_SECRET: SECRET, JWT_JWKS_URL: 'https://idp.example/jwks' })).toThrow(/only one/);
    expect(() => loadConfig({ JWT_SECRET: SECRET, TLS_CERT_FILE: '/tmp/c.pem' })).toThrow(/TLS_KEY_FILE/);
  });

  it('reads a YAML file named by CONFIG_FILE, with the environment taking precedence', () => {
    const dir = mkdtempSync(join(tmpdir(), 'imgw-config-'));
    const file = join(dir, 'gateway.yaml');
    writeFileSync(file, `JWT_SECRET: ${SECRET}\nPORT: 9000\nALLOWED_ORIGINS: [https://a.example, https://b.example]\nGRPC_PORT: 7000\n`);
    const config = loadConfig({ CONFIG_FILE: file, GRPC_PORT: '7100', GRPC_API_TOKENS: API_TOKENS });
    expect(config.port).toBe(9000);
    expect(config.grpcPort).toBe(7100);
    expect(config.allowedOrigins).toEqual(['https://a.example', 'https://b.example']);
  });
});

describe('README', () => {
  it('carries the configuration table as the config table writes it (npm run config:readme)', () => {
    const readme = readReadme();
    expect(readme).toBe(withConfigTable(readme));
  });
});
