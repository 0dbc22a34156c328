/**
 * Starts real gateway nodes inside the test process, on free loopback ports,
 * built the same way main.ts builds them (config from variables, then the node).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { SignJWT } from 'jose';
import { memoryBackends, closeBackends } from '../../src/backends.ts';
import { loadConfig } from '../../src/config/config.ts';
import { GatewayNode, type Backends } from '../../src/node.ts';
import { createLogger } from '../../src/observability/logger.ts';
import type { MemoryRegistry } from '../../src/registry/memory-registry.ts';
import type { DeviceRecord } from '../../src/registry/registry.ts';

export const TEST_SECRET = 'test-secret-that-is-at-least-32-bytes-long';
export const ADMIN_TOKEN = 'test-admin-token';
/** What backend services send to IMGatewayService in these tests. */
export const GRPC_API_TOKEN = 'test-grpc-api-token';

export interface RunningGateway {
  node: GatewayNode;
  backends: Backends;
  httpUrl: string;
  wsUrl: string;
  grpcAddress: string;
  stop(): Promise<void>;
}

export async function startGateway(env: Record<string, string> = {}, backends?: Backends): Promise<RunningGateway> {
  const config = loadConfig({
    JWT_SECRET: TEST_SECRET,
    ADMIN_TOKEN,
    GRPC_API_TOKENS: GRPC_API_TOKEN,
    HOST: '127.0.0.1',
    PORT: '0',
    GRPC_PORT: '0',
    NODE_ID: 'test-node',
    ...env,
  });
  const chosen = backends ?? memoryBackends(config);
  const node = new GatewayNode(config, chosen, createLogger(process.env.TEST_LOG === '1' ? 'debug' : 'error'));
  const { httpPort, grpcPort } = await node.start();
  const scheme = node.tls ? 'https' : 'http';
  let stopped = false;
  return {
    node,
    backends: chosen,
    httpUrl: `${scheme}://127.0.0.1:${httpPort}`,
    wsUrl: `${scheme === 'https' ? 'wss' : 'ws'}://127.0.0.1:${httpPort}/ws`,
    grpcAddress: `127.0.0.1:${grpcPort}`,
    async stop() {
      if (stopped) return;
      stopped = true;
      await node.stop();
      if (backends === undefined) await closeBackends(chosen);
    },
  };
}

export interface TokenOptions {
  secret?: string;
  expiresInSeconds?: number;
  claims?: Record<string, unknown>;
}

export function token(userId: string, deviceId: string, options: TokenOptions = {}): Promise<string> {
  const exp = Math.floor(Date.now() / 1000) + (options.expiresInSeconds ?? 3600);
  return new SignJWT({ user_id: userId, device_id: deviceId, ...options.claims })
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime(exp)
    .sign(new TextEncoder().encode(options.secret ?? TEST_SECRET));
}

/** Registrations held back by `startGatewayHoldingRegistrations`. */
export interface HeldRegistrations {
  /** Resolves once a registration is under way (waiting to be released). */
  underWay(): Promise<void>;
  /** Lets the oldest registration under way complete. */
  release(): void;
  /** Registrations completed so far. */
  readonly completed: number;
}

/**
 * A gateway on the real memory registry whose registrations wait until the
 * test releases them: the gap between the handshake and setup that etcd's
 * latency leaves, made as long as a test needs.
 */
export async function startGatewayHoldingRegistrations(env: Record<string, string> = {}): Promise<{ gw: RunningGateway; registrations: HeldRegistrations }> {
  const backends = memoryBackends(loadConfig({ JWT_SECRET: TEST_SECRET, GRPC_API_TOKENS: GRPC_API_TOKEN, ...env }));
  const registry = backends.registry as MemoryRegistry;
  const register = registry.register.bind(registry);
  const waiting: Array<() => void> = [];
  let completed = 0;
  registry.register = async (record: DeviceRecord) => {
    await new Promise<void>((resolve) => waiting.push(resolve));
    const token = await register(record);
    completed++;
    return token;
  };
  const gw = await startGateway(env, backends);
  const registrations: HeldRegistrations = {
    async underWay() {
      while (waiting.length === 0) await sleep(5);
    },
    release() {
      const next = waiting.shift();
      if (next === undefined) throw new Error('no registration under way');
      next();
    },
    get completed() {
      return completed;
    },
  };
  return { gw, registrations };
}
