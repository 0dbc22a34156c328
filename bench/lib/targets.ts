/**
 * Servers under test, behind one interface: the gateway as a child process,
 * the two baselines, and a three-node gateway fleet on the e2e harness's
 * Redis, etcd and Kafka. Scenarios see only `Target`.
 */
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
import type { TargetSpec } from '../load/protocol.ts';
import { Child, DEFAULT_GATEWAY_MAIN, freePort, LOOPBACK, procCpuSeconds, waitForHttp } from './procs.ts';

export const BENCH_JWT_SECRET = 'bench-jwt-secret-that-is-at-least-32-bytes';
export const BENCH_ADMIN_TOKEN = 'bench-admin-token';

/**
 * Limits that would otherwise stop a load test rather than measure it: rate
 * limits, the connection cap, heartbeats (idle sockets send none), the
 * slow-consumer cap (a saturated load generator reads late), and logging.
 */
export const GATEWAY_BENCH_ENV: Record<string, string> = {
  MAX_CONNECTIONS: '1000000',
  RATE_LIMIT_MESSAGES: '1000000000',
  RATE_LIMIT_WINDOW_MS: '1000',
  RATE_LIMIT_MAX_VIOLATIONS: '1000000',
  MAX_FRAMES_PER_SECOND: '1000000',
  HEARTBEAT_TIMEOUT_MS: '3600000',
  SEND_BUFFER_MAX_BYTES: String(16 * 1024 * 1024),
  LOG_LEVEL: 'warn',
};

export interface MemoryStats {
  rssBytes: number;
  heapUsedBytes: number;
  /** A gateway without Redis: what its in-memory store holds (/stats `memory_store`). */
  store?: { entries: number; logBytes: number; maxLogBytes: number; dedupKeys: number; maxDedupKeys: number; maxMessageBytes: number };
}

export interface Target {
  /** How the reports name it: 'gateway', 'ws relay', 'socket.io relay', 'gateway x3'. */
  label: string;
  spec: TargetSpec;
  /** HTTP base URL per node (/stats, the admin API). */
  httpUrls: string[];
  adminToken?: string;
  /** Server processes, for the report. */
  processes: number;
  /** CPU seconds the server processes have used so far, summed. */
  cpuSeconds(): Promise<number>;
  /** Same for the services a fleet runs on (Redis, etcd, Kafka). */
  serviceCpuSeconds?(): Promise<number>;
  /** /stats of every node. */
  memory(): Promise<MemoryStats[]>;
  /** A full garbage collection in every server process (only when started with `inspect`). */
  collectGarbage(): Promise<void>;
  stop(): Promise<void>;
}

export interface ServerOptions {
  /** Open the inspector so that collectGarbage() works (capacity runs). */
  inspect?: boolean;
  /** Extra node flags, e.g. --cpu-prof. */
  nodeArgs?: string[];
}

export interface GatewayOptions extends ServerOptions {
  /** gateway/src/main.ts of this checkout, or of another one (to measure a proposed change). */
  main?: string;
  env?: Record<string, string>;
}

async function memoryOf(url: string): Promise<MemoryStats> {
  const res = await fetch(`${url}/stats`, { signal: AbortSignal.timeout(30_000) });
  const body = (await res.json()) as {
    memory_usage_bytes: number;
    heap_used_bytes: number;
    memory_store?: { entries: number; log_bytes: number; max_log_bytes: number; dedup_keys: number; max_dedup_keys: number; max_message_bytes: number };
  };
  const stats: MemoryStats = { rssBytes: body.memory_usage_bytes, heapUsedBytes: body.heap_used_bytes };
  const store = body.memory_store;
  if (store !== undefined) {
    const { entries, log_bytes: logBytes, max_log_bytes: maxLogBytes, dedup_keys: dedupKeys, max_dedup_keys: maxDedupKeys, max_message_bytes: maxMessageBytes } = store;
    stats.store = { entries, logBytes, maxLogBytes, dedupKeys, maxDedupKeys, maxMessageBytes };
  }
  return stats;
}

/** Starts a server script as a child and waits for its HTTP endpoint; `inspect` also finds its inspector. */
async function startServer(
  name: string,
  script: string,
  env: Record<string, string>,
  healthUrl: string,
  options: ServerOptions,
): Promise<{ child: Child; inspector: string | null }> {
  const nodeArgs = [...(options.nodeArgs ?? []), ...(options.inspect === true ? ['--inspect=127.0.0.1:0'] : [])];
  const child = new Child(name, script, [], env, nodeArgs);
  try {
    const inspector = options.inspect === true ? (await child.waitFor(/Debugger listening on (ws:\/\/\S+)/))[1]! : null;
    await waitForHttp(healthUrl, child);
    return { child, inspector };
  } catch (err) {
    await child.stop(1000);
    throw err;
  }
}

export async function startGateway(options: GatewayOptions = {}): Promise<Target> {
  const [port, grpcPort] = [await freePort(), await freePort()];
  const http = `http://${LOOPBACK}:${port}`;
  const env = {
    JWT_SECRET: BENCH_JWT_SECRET,
    ADMIN_TOKEN: BENCH_ADMIN_TOKEN,
    // Required at start; the benchmarks do not call gRPC.
    GRPC_API_TOKENS: 'bench-grpc-api-token',
    HOST: LOOPBACK,
    PORT: String(port),
    GRPC_PORT: String(grpcPort),
    NODE_ID: 'bench-gw',
    ...GATEWAY_BENCH_ENV,
    ...options.env,
  };
  const { child, inspector } = await startServer('gateway', options.main ?? DEFAULT_GATEWAY_MAIN, env, `${http}/health`, options);
  return {
    label: 'gateway',
    spec: { kind: 'gateway', urls: [`ws://${LOOPBACK}:${port}/ws`], jwtSecret: BENCH_JWT_SECRET },
    httpUrls: [http],
    adminToken: BENCH_ADMIN_TOKEN,
    processes: 1,
    cpuSeconds: async () => procCpuSeconds(child.pid),
    memory: async () => [await memoryOf(http)],
    collectGarbage: () => gcVia(inspector),
    // The gateway drains on SIGTERM; with no sockets left that is immediate.
    stop: () => child.stop(),
  };
}

const BASELINES = {
  ws: { label: 'ws relay', script: fileURLToPath(new URL('../baselines/ws-relay.ts', import.meta.url)) },
  socketio: { label: 'socket.io relay', script: fileURLToPath(new URL('../baselines/socketio-relay.ts', import.meta.url)) },
} as const;

export async function startBaseline(kind: 'ws' | 'socketio', options: ServerOptions = {}): Promise<Target> {
  const port = await freePort();
  const http = `http://${LOOPBACK}:${port}`;
  const { label, script } = BASELINES[kind];
  const { child, inspector } = await startServer(label, script, { HOST: LOOPBACK, PORT: String(port) }, `${http}/stats`, options);
  return {
    label,
    spec: { kind, urls: [kind === 'ws' ? `ws://${LOOPBACK}:${port}/` : http] },
    httpUrls: [http],
    processes: 1,
    cpuSeconds: async () => procCpuSeconds(child.pid),
    memory: async () => [await memoryOf(http)],
    collectGarbage: () => gcVia(inspector),
    stop: () => child.stop(),
  };
}

/** Several targets of one kind as one (capacity beyond one process's file limit). */
export function combine(label: string, parts: Target[]): Target {
  return {
    label,
    spec: { ...parts[0]!.spec, urls: parts.flatMap((p) => p.spec.urls) },
    httpUrls: parts.flatMap((p) => p.httpUrls),
    ...(parts[0]!.adminToken === undefined ? {} : { adminToken: parts[0]!.adminToken }),
    processes: parts.reduce((n, p) => n + p.processes, 0),
    cpuSeconds: async () => (await Promise.all(parts.map((p) => p.cpuSeconds()))).reduce((a, b) => a + b, 0),
    memory: async () => (await Promise.all(parts.map((p) => p.memory()))).flat(),
    collectGarbage: async () => {
      await Promise.all(parts.map((p) => p.collectGarbage()));
    },
    stop: async () => {
      await Promise.all(parts.map((p) => p.stop()));
    },
  };
}

/** Asks a process's inspector for a full GC (HeapProfiler.collectGarbage). */
async function gcVia(inspector: string | null): Promise<void> {
  if (inspector === null) return;
  const ws = new WebSocket(inspector, { perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('inspector did not answer')), 60_000);
    ws.once('error', reject);
    ws.once('open', () => ws.send(JSON.stringify({ id: 1, method: 'HeapProfiler.collectGarbage' })));
    ws.on('message', (data: Buffer) => {
      if ((JSON.parse(data.toString()) as { id?: number }).id !== 1) return;
      clearTimeout(timer);
      ws.close();
      resolve();
    });
  });
}

/** Process CPU seconds from a gateway's /metrics (prom-client's process_cpu_seconds_total). */
export async function metricsCpuSeconds(httpUrl: string): Promise<number> {
  const res = await fetch(`${httpUrl}/metrics`, { signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  const match = /^process_cpu_seconds_total\s+([0-9.eE+-]+)$/m.exec(text);
  return match === null ? NaN : Number(match[1]);
}
