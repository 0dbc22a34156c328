import { spawn, type ChildProcess } from 'node:child_process';
import { connect as tcpConnect, createServer, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { SignJWT } from 'jose';
import WebSocket from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { DEV_JWT_SECRET } from '../../src/config/config.ts';
import { GRPC_API_TOKEN, startGateway, TEST_SECRET } from '../support/gateway.ts';
import { TestClient } from '../support/client.ts';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const MAIN = 'gateway/src/main.ts';

/** A port that was free a moment ago: bind 0, read it, let it go. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

interface Gateway {
  child: ChildProcess;
  stdout: string[];
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves with the first JSON log line whose event matches, or rejects after timeoutMs. */
  waitForLog(event: string, timeoutMs?: number): Promise<Record<string, unknown>>;
}

const children: ChildProcess[] = [];

/** Runs the real gateway process with only the given variables (plus PATH). */
function run(env: Record<string, string>, args: string[] = []): Gateway {
  const child = spawn(process.execPath, [MAIN, ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const lines: Array<Record<string, unknown>> = [];
  const stdout: string[] = [];
  let stderr = '';
  let partial = '';
  let waiters: Array<() => void> = [];
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop()!;
    for (const line of parts) {
      stdout.push(line);
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // Not a log line.
      }
    }
    for (const wake of waiters.splice(0)) wake();
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      resolve({ code, signal });
      for (const wake of waiters.splice(0)) wake();
    });
  });
  return {
    child,
    stdout,
    stderr: () => stderr,
    exited,
    async waitForLog(event, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = lines.find((l) => l.event === event);
        if (found !== undefined) return found;
        if (Date.now() > deadline || child.exitCode !== null || child.signalCode !== null) {
          const exit = `exit ${child.exitCode} signal ${child.signalCode}`;
          throw new Error(`no ${event} log line (${exit}); stdout: ${stdout.join('\n').slice(-1000)}; stderr: ${stderr.slice(-1000)}`);
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, deadline - Date.now());
          waiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
    },
  };
}

function signed(userId: string, deviceId: string, secret: string): Promise<string> {
  return new SignJWT({ user_id: userId, device_id: deviceId })
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime(Math.floor(Date.now() / 1000) + 600)
    .sign(new TextEncoder().encode(secret));
}

/** Tries a WebSocket upgrade; resolves with the HTTP status of a refusal, or 101. */
function upgradeStatus(url: string, bearer: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers: { Authorization: `Bearer ${bearer}` } });
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
      ws.terminate();
    });
    ws.once('upgrade', () => {
      resolve(101);
      ws.terminate();
    });
    ws.once('error', (err) => reject(err));
  });
}

/** Fails with `what` instead of hanging the file when `promise` does not settle in time. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Opens a WebSocket by hand, reads up to auth_response, then stops reading: a client that never answers a close. */
function unresponsiveSocket(port: number, bearer: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect(port, '127.0.0.1', () => {
      socket.write(
        'GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          `Sec-WebSocket-Key: ${Buffer.from('0123456789abcdef').toString('base64')}\r\nSec-WebSocket-Version: 13\r\n` +
          `Authorization: Bearer ${bearer}\r\n\r\n`,
      );
    });
    let seen = '';
    socket.on('data', (chunk: Buffer) => {
      seen += chunk.toString('latin1');
      if (seen.includes('auth_response')) {
        socket.removeAllListeners('data');
        socket.pause();
        resolve(socket);
      }
    });
    socket.once('error', reject);
  });
}

afterEach(() => {
  // A failed test must not leave a gateway running.
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

describe('the gateway process', () => {
  it('drains on SIGTERM: /ready 503, new sockets refused, sockets closed with 1012 at the configured rate, exit 0', async () => {
    const [port, grpcPort] = [await freePort(), await freePort()];
    const closesPerSecond = 20;
    const gw = run({
      JWT_SECRET: TEST_SECRET,
      GRPC_API_TOKENS: GRPC_API_TOKEN,
      HOST: '127.0.0.1',
      PORT: String(port),
      GRPC_PORT: String(grpcPort),
      NODE_ID: 'drain-node',
      DRAIN_CLOSES_PER_SECOND: String(closesPerSecond),
      SHUTDOWN_TIMEOUT_MS: '5000',
    });
    const started = await gw.waitForLog('gateway_started');
    expect(started).toMatchObject({ http_port: port, grpc_port: grpcPort, node: 'drain-node', dev_mode: false });
    const httpUrl = `http://127.0.0.1:${port}`;
    const wsUrl = `ws://127.0.0.1:${port}/ws`;
    expect((await fetch(`${httpUrl}/ready`)).status).toBe(200);

    const count = 10;
    const clients = await Promise.all(Array.from({ length: count }, (_, i) => TestClient.connect(wsUrl, `user${i}`, 'phone')));
    const closes = clients.map((c) => c.closed.then((closed) => ({ ...closed, at: Date.now() })));

    const signalledAt = Date.now();
    gw.child.kill('SIGTERM');
    await gw.waitForLog('drain_started', 3000);
    const ready = await fetch(`${httpUrl}/ready`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ status: 'draining' });
    expect(await upgradeStatus(wsUrl, await signed('late', 'phone', TEST_SECRET))).toBe(503);

    const closed = await within(Promise.all(closes), 3000, 'drain closing every socket');
    for (const c of closed) expect({ code: c.code, reason: c.reason }).toEqual({ code: 1012, reason: 'server draining: reconnect' });
    const times = closed.map((c) => c.at - signalledAt).sort((a, b) => a - b);
    // 10 sockets at 20/s: batches of 2 every 100 ms, so ~400 ms from first to last.
    const spread = times[count - 1]! - times[0]!;
    expect(spread).toBeGreaterThanOrEqual(300);
    expect(spread).toBeLessThan(1500);
    // Not all at once: the first 50 ms see one batch (2), with slack for a busy test process.
    expect(times.filter((t) => t - times[0]! < 50).length).toBeLessThanOrEqual(4);

    expect(await within(gw.exited, 5000, 'exit after drain')).toEqual({ code: 0, signal: null });
    await gw.waitForLog('shutdown_complete', 0);
    expect(await gw.waitForLog('drain_finished', 0)).toMatchObject({ remaining: 0 });
  });

  it('exits 0 by SHUTDOWN_TIMEOUT_MS even when a client never answers the close', async () => {
    const [port, grpcPort] = [await freePort(), await freePort()];
    const gw = run({ JWT_SECRET: TEST_SECRET, GRPC_API_TOKENS: GRPC_API_TOKEN, HOST: '127.0.0.1', PORT: String(port), GRPC_PORT: String(grpcPort), SHUTDOWN_TIMEOUT_MS: '800' });
    await gw.waitForLog('gateway_started');
    const stuck = await unresponsiveSocket(port, await signed('stuck', 'phone', TEST_SECRET));
    try {
      const signalledAt = Date.now();
      gw.child.kill('SIGTERM');
      expect(await within(gw.exited, 5000, 'exit despite a stuck client')).toEqual({ code: 0, signal: null });
      expect(Date.now() - signalledAt).toBeGreaterThanOrEqual(700);
      expect(Date.now() - signalledAt).toBeLessThan(3500);
      expect(await gw.waitForLog('drain_finished', 0)).toMatchObject({ remaining: 1 });
    } finally {
      stuck.destroy();
    }
  });

  it('exits non-zero naming JWT_SECRET when started with no JWT key and no DEV_MODE', async () => {
    const gw = run({ HOST: '127.0.0.1', PORT: '0', GRPC_PORT: '0' });
    expect((await within(gw.exited, 5000, 'exit on bad configuration')).code).toBe(1);
    expect(gw.stderr()).toContain('JWT_SECRET');
    expect(gw.stderr()).toMatch(/configuration error/);
    expect(gw.stdout.some((l) => l.includes('gateway_started'))).toBe(false);
  });

  it('exits non-zero naming JWT_SECRET when the secret is shorter than 32 bytes', async () => {
    const gw = run({ JWT_SECRET: 'short', HOST: '127.0.0.1', PORT: '0', GRPC_PORT: '0' });
    expect((await within(gw.exited, 5000, 'exit on bad configuration')).code).toBe(1);
    expect(gw.stderr()).toContain('JWT_SECRET must be at least 32 bytes');
  });

  it('starts with --dev and no key, printing a loud DEV MODE banner on stderr, and accepts dev-secret tokens', async () => {
    const [port, grpcPort] = [await freePort(), await freePort()];
    const gw = run({ HOST: '127.0.0.1', PORT: String(port), GRPC_PORT: String(grpcPort), SHUTDOWN_TIMEOUT_MS: '3000' }, ['--dev']);
    expect(await gw.waitForLog('gateway_started')).toMatchObject({ dev_mode: true });
    expect(gw.stderr()).toContain('DEV MODE: NOT FOR PRODUCTION');
    expect(gw.stderr()).toContain('gRPC API token: dev-grpc-api-token');
    expect(gw.stderr()).toContain('public dev secret');
    const alice = await TestClient.connect(`ws://127.0.0.1:${port}/ws`, 'alice', 'phone').catch(() => null);
    // The test secret is not the dev secret: that token is refused...
    expect(alice).toBeNull();
    // ...and one signed with the dev secret is accepted.
    const dev = new TestClient(`ws://127.0.0.1:${port}/ws`, { headers: { Authorization: `Bearer ${await signed('alice', 'phone', DEV_JWT_SECRET)}` } });
    expect(await dev.next('auth_response')).toMatchObject({ user_id: 'alice', device_id: 'phone' });
    gw.child.kill('SIGTERM');
    expect(await within(dev.closed, 3000, 'socket closed by drain')).toMatchObject({ code: 1012 });
    expect(await within(gw.exited, 5000, 'exit after drain')).toEqual({ code: 0, signal: null });
  });
});

describe('draining inside one node', () => {
  it('keeps to a rate below 10 closes per second instead of rounding it up', async () => {
    const gw = await startGateway({ DRAIN_CLOSES_PER_SECOND: '5' });
    try {
      const clients = await Promise.all(['a', 'b', 'c', 'd'].map((u) => TestClient.connect(gw.wsUrl, u, 'phone')));
      const closes = clients.map((c) => c.closed.then((closed) => ({ ...closed, at: Date.now() })));
      await within(gw.node.drain(3000), 4000, 'drain');
      const closed = await within(Promise.all(closes), 1000, 'every socket closed');
      expect(closed.map((c) => c.code)).toEqual([1012, 1012, 1012, 1012]);
      const times = closed.map((c) => c.at).sort((a, b) => a - b);
      // 4 sockets at 5/s: one every 200 ms, 600 ms from first to last.
      expect(times[3]! - times[0]!).toBeGreaterThanOrEqual(500);
      for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(120);
    } finally {
      await gw.stop();
    }
  });
});
