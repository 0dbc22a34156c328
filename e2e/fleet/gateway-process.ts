/**
 * A gateway node as its own OS process (`gateway/src/main.ts` on this Node),
 * so a test can SIGKILL it like a crashed pod and start it again on the same
 * ports. Its JSON log lines are kept for assertions and failure reports.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort, LOOPBACK } from '../infra/net.ts';

export const GATEWAY_MAIN = fileURLToPath(new URL('../../gateway/src/main.ts', import.meta.url));
export const FLEET_JWT_SECRET = 'fleet-test-secret-at-least-32-bytes-long';
export const FLEET_ADMIN_TOKEN = 'fleet-admin-token';
/** What backend services send to IMGatewayService (GRPC_API_TOKENS). */
export const FLEET_GRPC_API_TOKEN = 'fleet-grpc-api-token';
/** The nodes' shared secret on node-to-node calls (the gateway's FLEET_SECRET). */
export const FLEET_NODE_SECRET = 'fleet-node-to-node-secret';

export interface FleetBackends {
  etcdEndpoints: string[];
  redisUrl: string;
  kafkaBrokers: string[];
}

export class GatewayProcess {
  readonly nodeId: string;
  private readonly backends: FleetBackends;
  private readonly env: Record<string, string>;
  private child: ChildProcess | null = null;
  private exited: Promise<number | null> = Promise.resolve(null);
  readonly logs: string[] = [];
  httpPort = 0;
  grpcPort = 0;

  constructor(nodeId: string, backends: FleetBackends, env: Record<string, string> = {}) {
    this.nodeId = nodeId;
    this.backends = backends;
    this.env = env;
  }

  get wsUrl(): string {
    return `ws://${LOOPBACK}:${this.httpPort}/ws`;
  }
  get httpUrl(): string {
    return `http://${LOOPBACK}:${this.httpPort}`;
  }
  get grpcAddress(): string {
    return `${LOOPBACK}:${this.grpcPort}`;
  }

  /** Starts the process (on the same ports as before, after a kill) and waits for `gateway_started`. */
  async start(timeoutMs = 60_000): Promise<void> {
    if (this.httpPort === 0) [this.httpPort, this.grpcPort] = [await freePort(), await freePort()];
    const child = spawn(process.execPath, [GATEWAY_MAIN], {
      env: {
        PATH: process.env.PATH ?? '',
        JWT_SECRET: FLEET_JWT_SECRET,
        ADMIN_TOKEN: FLEET_ADMIN_TOKEN,
        GRPC_API_TOKENS: FLEET_GRPC_API_TOKEN,
        FLEET_SECRET: FLEET_NODE_SECRET,
        NODE_ID: this.nodeId,
        HOST: LOOPBACK,
        PORT: String(this.httpPort),
        GRPC_PORT: String(this.grpcPort),
        GRPC_ADVERTISE_ADDRESS: this.grpcAddress,
        ETCD_ENDPOINTS: this.backends.etcdEndpoints.join(','),
        REDIS_URL: this.backends.redisUrl,
        KAFKA_BROKERS: this.backends.kafkaBrokers.join(','),
        ETCD_LEASE_TTL_SECONDS: '3',
        SHUTDOWN_TIMEOUT_MS: '5000',
        LOG_LEVEL: 'info',
        ...this.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    const started = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.nodeId} did not start in ${timeoutMs} ms:\n${this.tail()}`)), timeoutMs);
      const onLine = (line: string): void => {
        this.logs.push(line);
        if (line.includes('"gateway_started"')) {
          clearTimeout(timer);
          resolve();
        }
      };
      lines(child.stdout!, onLine);
      lines(child.stderr!, onLine);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`${this.nodeId} exited with ${code} before starting:\n${this.tail()}`));
      });
    });
    await started;
  }

  /** SIGKILL: a crashed pod. Its registry entries stay until its lease expires. */
  async kill(): Promise<void> {
    this.child?.kill('SIGKILL');
    await this.exited;
    this.child = null;
  }

  /** SIGSTOP: a node that hangs (its sockets stay open, nothing is answered) until resume(). */
  pause(): void {
    this.child?.kill('SIGSTOP');
  }

  resume(): void {
    this.child?.kill('SIGCONT');
  }

  /** SIGTERM: a graceful shutdown; resolves with the exit code. */
  async terminate(): Promise<number | null> {
    if (this.child === null) return null;
    this.child.kill('SIGTERM');
    const code = await this.exited;
    this.child = null;
    return code;
  }

  async ready(): Promise<{ status: number; body: { status: string; dependencies: Record<string, string> } }> {
    const res = await fetch(`${this.httpUrl}/ready`, { signal: AbortSignal.timeout(2000) });
    return { status: res.status, body: (await res.json()) as { status: string; dependencies: Record<string, string> } };
  }

  tail(lines = 30): string {
    return this.logs.slice(-lines).join('\n');
  }
}

/** Calls `onLine` for every complete line the stream emits. */
export function lines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let buffered = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buffered += chunk;
    let newline: number;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      onLine(buffered.slice(0, newline));
      buffered = buffered.slice(newline + 1);
    }
  });
}
