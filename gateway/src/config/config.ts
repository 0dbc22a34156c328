/**
 * Gateway configuration: environment variables, optionally a YAML file named
 * by CONFIG_FILE (environment wins). Every value is checked at start and a bad
 * one stops the process with a message naming the variable.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { parse as parseYaml } from 'yaml';

export interface GatewayConfig {
  nodeId: string;
  host: string;
  port: number;
  grpcPort: number;
  /** host:port other nodes use to reach this node's gRPC server. */
  grpcAdvertiseAddress: string;
  devMode: boolean;
  jwt: {
    secret: string | undefined;
    jwksUrl: string | undefined;
    publicKeyPem: string | undefined;
    issuer: string | undefined;
    audience: string | undefined;
  };
  adminToken: string | undefined;
  /** Bearer tokens `IMGatewayService` accepts (backend services); never empty after loading. */
  grpcApiTokens: string[];
  limits: {
    maxConnections: number;
    maxDevicesPerUser: number;
    maxContentBytes: number;
    maxFrameBytes: number;
    rateLimitMessages: number;
    rateLimitWindowMs: number;
    rateLimitMaxViolations: number;
    sendBufferMaxBytes: number;
    maxFramesPerSecond: number;
  };
  heartbeatTimeoutMs: number;
  retention: { maxEntries: number; maxAgeMs: number; dedupTtlMs: number };
  /** Dedup keys the in-memory store keeps at most (Redis keeps each for its TTL). */
  memoryDedupMaxKeys: number;
  replayBatch: number;
  drain: { closesPerSecond: number; shutdownTimeoutMs: number };
  tls: { certFile: string | undefined; keyFile: string | undefined; reloadIntervalMs: number; clientCaFile: string | undefined };
  allowedOrigins: string[] | undefined;
  backends: { etcdEndpoints: string[] | undefined; redisUrl: string | undefined; kafkaBrokers: string[] | undefined };
  etcd: { prefix: string; leaseTtlSeconds: number };
  redis: { keyPrefix: string };
  kafka: { messagesTopic: string; groupTopic: string; partitions: number; replicationFactor: number };
  /** Node-to-node gRPC calls (forwarding, remote closes). */
  peers: {
    timeoutMs: number;
    retries: number;
    /** Fleet secrets: the first is sent, each is accepted (two while rotating); empty on a lone node. */
    secrets: string[];
    tls: { caFile: string | undefined; serverName: string | undefined };
  };
  logLevel: 'debug' | 'info' | 'warn' | 'error';
}

/** Printed in dev mode and used by `npm run token` when no secret is set. */
export const DEV_JWT_SECRET = 'im-gateway-dev-secret-do-not-use-in-production';
export const DEV_ADMIN_TOKEN = 'dev-admin-token';
export const DEV_GRPC_API_TOKEN = 'dev-grpc-api-token';
export const DEV_FLEET_SECRET = 'im-gateway-dev-fleet-secret-do-not-use';
/** Shortest API token or fleet secret accepted: long enough not to be guessed. */
export const MIN_SECRET_BYTES = 16;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Source = Record<string, string | undefined>;

/** One row per variable: the README's configuration table is written from the same list. */
export const VARIABLES = [
  ['PORT', '8080', 'HTTP and WebSocket port (`/ws`, `/health`, `/ready`, `/metrics`, `/stats`, admin API)'],
  ['HOST', '0.0.0.0', 'Address the HTTP and gRPC servers bind to'],
  ['GRPC_PORT', '9093', 'gRPC port (`IMGatewayService`, `grpc.health.v1.Health`)'],
  ['GRPC_ADVERTISE_ADDRESS', '`<POD_IP or hostname>:<GRPC_PORT>`', 'Address other nodes use to reach this node over gRPC'],
  ['NODE_ID', 'hostname', 'This node\'s name in the registry and in `gateway_node`'],
  ['DEV_MODE', 'false', 'Start without a JWT key, using a fixed, public dev secret and admin token. Never in production'],
  ['JWT_SECRET', '-', 'HS256 secret'],
  ['JWT_JWKS_URL', '-', 'JWKS endpoint for RS256/ES256 keys'],
  ['JWT_PUBLIC_KEY', '-', 'RS256/ES256 public key, PEM text or a path to a PEM file'],
  ['JWT_ISSUER', '-', 'Required `iss` claim, if set'],
  ['JWT_AUDIENCE', '-', 'Required `aud` claim, if set'],
  ['ADMIN_TOKEN', '-', 'Bearer token for the admin REST API (`/v1/groups/...`); the admin API is off without it'],
  ['GRPC_API_TOKENS', '-', 'Comma-separated bearer tokens (16+ bytes each) `IMGatewayService` accepts in `authorization: Bearer <token>` metadata; several at once for rotation. Required unless DEV_MODE'],
  ['FLEET_SECRET', '-', 'Shared secret (16+ bytes) of the nodes of a fleet and the operator, required with ETCD_ENDPOINTS: sent on node-to-node calls, required by the peer service. While rotating `new,old`: the first is sent, each is accepted'],
  ['PEER_TLS_CA_FILE', '-', 'With TLS: PEM CA bundle that verifies other nodes\' gRPC certificates on node-to-node calls (unset: the system roots)'],
  ['PEER_TLS_SERVER_NAME', '-', 'With TLS: the name other nodes\' certificates carry, checked instead of the pod address dialled'],
  ['GRPC_CLIENT_CA_FILE', '-', 'With TLS: mutual TLS on the gRPC port. Every caller (backend services, other nodes) must present a certificate this PEM CA signed; nodes present their TLS_CERT_FILE. Re-read like the certificates'],
  ['MAX_CONNECTIONS', '200000', 'Sockets this node accepts before `MAX_CONNECTIONS_EXCEEDED`'],
  ['MAX_DEVICES_PER_USER', '5', 'Devices one user may have connected at once'],
  ['MAX_CONTENT_BYTES', '10240', 'Largest message before `MESSAGE_TOO_LARGE`: `content` in UTF-8 bytes plus `metadata` as JSON text (a `PushMessage` content: `INVALID_ARGUMENT`)'],
  ['MAX_FRAME_BYTES', '65536', 'Hard cap on one inbound frame; larger closes the socket with 1009'],
  ['RATE_LIMIT_MESSAGES', '100', 'Messages one user may send per window'],
  ['RATE_LIMIT_WINDOW_MS', '60000', 'Rate-limit window'],
  ['RATE_LIMIT_MAX_VIOLATIONS', '10', 'Rejected sends within one window before the socket is closed'],
  ['SEND_BUFFER_MAX_BYTES', '1048576', 'Unsent bytes queued for one socket (deliveries and every reply) before it is closed as a slow consumer'],
  ['MAX_FRAMES_PER_SECOND', '10000', 'Frames of any type one socket may send within a second; past it `RATE_LIMIT_EXCEEDED` and close 4008'],
  ['HEARTBEAT_TIMEOUT_MS', '90000', 'Silence after which a socket gets `HEARTBEAT_TIMEOUT` and is closed'],
  ['LOG_RETENTION_COUNT', '10000', 'Messages kept per conversation for offline delivery'],
  ['LOG_RETENTION_MS', '604800000', 'Age after which messages leave the conversation logs (7 days)'],
  ['DEDUP_TTL_MS', '86400000', 'How long a (sender, msg_id) pair is remembered for dedup'],
  ['MEMORY_DEDUP_MAX_KEYS', '500000', 'Without Redis: dedup keys kept at most (~100 MB); past it the oldest are forgotten before DEDUP_TTL_MS'],
  ['REPLAY_BATCH', '200', 'Messages read per log page during replay on connect'],
  ['DRAIN_CLOSES_PER_SECOND', '500', 'Sockets closed per second while draining'],
  ['SHUTDOWN_TIMEOUT_MS', '60000', 'Longest a SIGTERM drain may take before the process exits anyway'],
  ['TLS_CERT_FILE', '-', 'PEM certificate (chain): serve `wss://`, `https://` and gRPC over TLS'],
  ['TLS_KEY_FILE', '-', 'PEM private key for TLS_CERT_FILE'],
  ['TLS_RELOAD_INTERVAL_MS', '30000', 'How often the certificate files are checked for renewal'],
  ['ALLOWED_ORIGINS', '-', 'Comma-separated browser origins allowed to open sockets (`*` for any); unset allows any'],
  ['ETCD_ENDPOINTS', '-', 'Comma-separated etcd endpoints: fleet registry'],
  ['REDIS_URL', '-', 'Redis URL: shared logs, dedup, rate limits, groups'],
  ['KAFKA_BROKERS', '-', 'Comma-separated Kafka brokers: message log and group fan-out'],
  ['ETCD_PREFIX', '/im-gateway', 'Key prefix of the registry in etcd'],
  ['ETCD_LEASE_TTL_SECONDS', '10', 'TTL of the node\'s lease: a crashed node\'s entries vanish this long after it stops'],
  ['REDIS_KEY_PREFIX', 'im:', 'Prefix of every Redis key the gateway writes'],
  ['KAFKA_MESSAGES_TOPIC', 'im-gateway.messages', 'Topic of the private-message log (keyed by conversation)'],
  ['KAFKA_GROUP_TOPIC', 'im-gateway.group-messages', 'Topic of group messages and membership changes: the group log and the fan-out every node consumes'],
  ['KAFKA_TOPIC_PARTITIONS', '12', 'Partitions of the topics the gateway creates when they are missing'],
  ['KAFKA_REPLICATION_FACTOR', '1', 'Replication factor of the topics the gateway creates (3 in production)'],
  ['FORWARD_TIMEOUT_MS', '2000', 'Deadline of one node-to-node gRPC call'],
  ['FORWARD_RETRIES', '1', 'Further attempts of a node-to-node call that timed out or found the node unavailable'],
  ['LOG_LEVEL', 'info', '`debug`, `info`, `warn` or `error`'],
  ['CONFIG_FILE', '-', 'YAML file with any of these variables as keys; the environment wins'],
] as const;

export function loadConfig(env: Source = process.env): GatewayConfig {
  const source = withFile(env);
  const read = new Reader(source);
  const port = read.int('PORT', 8080, 0, 65535);
  const grpcPort = read.int('GRPC_PORT', 9093, 0, 65535);
  const devMode = read.bool('DEV_MODE', false);
  const config: GatewayConfig = {
    nodeId: read.str('NODE_ID') ?? hostname(),
    host: read.str('HOST') ?? '0.0.0.0',
    port,
    grpcPort,
    grpcAdvertiseAddress: read.str('GRPC_ADVERTISE_ADDRESS') ?? `${source.POD_IP ?? hostname()}:${grpcPort}`,
    devMode,
    jwt: {
      secret: read.str('JWT_SECRET'),
      jwksUrl: read.url('JWT_JWKS_URL'),
      publicKeyPem: readPem(read.str('JWT_PUBLIC_KEY')),
      issuer: read.str('JWT_ISSUER'),
      audience: read.str('JWT_AUDIENCE'),
    },
    adminToken: read.str('ADMIN_TOKEN'),
    grpcApiTokens: read.secrets('GRPC_API_TOKENS'),
    limits: {
      maxConnections: read.int('MAX_CONNECTIONS', 200_000, 1),
      maxDevicesPerUser: read.int('MAX_DEVICES_PER_USER', 5, 1),
      maxContentBytes: read.int('MAX_CONTENT_BYTES', 10_240, 1),
      maxFrameBytes: read.int('MAX_FRAME_BYTES', 65_536, 256),
      rateLimitMessages: read.int('RATE_LIMIT_MESSAGES', 100, 1),
      rateLimitWindowMs: read.int('RATE_LIMIT_WINDOW_MS', 60_000, 1),
      rateLimitMaxViolations: read.int('RATE_LIMIT_MAX_VIOLATIONS', 10, 1),
      sendBufferMaxBytes: read.int('SEND_BUFFER_MAX_BYTES', 1_048_576, 1024),
      maxFramesPerSecond: read.int('MAX_FRAMES_PER_SECOND', 10_000, 1),
    },
    heartbeatTimeoutMs: read.int('HEARTBEAT_TIMEOUT_MS', 90_000, 100),
    retention: {
      maxEntries: read.int('LOG_RETENTION_COUNT', 10_000, 1),
      maxAgeMs: read.int('LOG_RETENTION_MS', 7 * 24 * 3600_000, 1000),
      dedupTtlMs: read.int('DEDUP_TTL_MS', 24 * 3600_000, 1000),
    },
    memoryDedupMaxKeys: read.int('MEMORY_DEDUP_MAX_KEYS', 500_000, 2),
    replayBatch: read.int('REPLAY_BATCH', 200, 1),
    drain: {
      closesPerSecond: read.int('DRAIN_CLOSES_PER_SECOND', 500, 1),
      shutdownTimeoutMs: read.int('SHUTDOWN_TIMEOUT_MS', 60_000, 100),
    },
    tls: {
      certFile: read.str('TLS_CERT_FILE'),
      keyFile: read.str('TLS_KEY_FILE'),
      reloadIntervalMs: read.int('TLS_RELOAD_INTERVAL_MS', 30_000, 100),
      clientCaFile: read.str('GRPC_CLIENT_CA_FILE'),
    },
    allowedOrigins: read.list('ALLOWED_ORIGINS'),
    backends: {
      etcdEndpoints: read.list('ETCD_ENDPOINTS'),
      redisUrl: read.url('REDIS_URL'),
      kafkaBrokers: read.list('KAFKA_BROKERS'),
    },
    etcd: { prefix: read.str('ETCD_PREFIX') ?? '/im-gateway', leaseTtlSeconds: read.int('ETCD_LEASE_TTL_SECONDS', 10, 2, 3600) },
    redis: { keyPrefix: read.str('REDIS_KEY_PREFIX') ?? 'im:' },
    kafka: {
      messagesTopic: read.str('KAFKA_MESSAGES_TOPIC') ?? 'im-gateway.messages',
      groupTopic: read.str('KAFKA_GROUP_TOPIC') ?? 'im-gateway.group-messages',
      partitions: read.int('KAFKA_TOPIC_PARTITIONS', 12, 1, 10_000),
      replicationFactor: read.int('KAFKA_REPLICATION_FACTOR', 1, 1, 16),
    },
    peers: {
      timeoutMs: read.int('FORWARD_TIMEOUT_MS', 2000, 50),
      retries: read.int('FORWARD_RETRIES', 1, 0, 10),
      secrets: read.secrets('FLEET_SECRET'),
      tls: { caFile: read.str('PEER_TLS_CA_FILE'), serverName: read.str('PEER_TLS_SERVER_NAME') },
    },
    logLevel: read.oneOf('LOG_LEVEL', ['debug', 'info', 'warn', 'error'] as const, 'info'),
  };
  read.finish();
  return checkConsistency(config);
}

function checkConsistency(config: GatewayConfig): GatewayConfig {
  const { jwt, tls } = config;
  const keys = [jwt.secret, jwt.jwksUrl, jwt.publicKeyPem].filter((k) => k !== undefined).length;
  if (keys > 1) throw new ConfigError('set only one of JWT_SECRET, JWT_JWKS_URL, JWT_PUBLIC_KEY');
  if (keys === 0 && !config.devMode) {
    throw new ConfigError(
      'no JWT key configured: set JWT_SECRET, JWT_JWKS_URL or JWT_PUBLIC_KEY, or DEV_MODE=true to try the gateway with a public dev secret',
    );
  }
  if (jwt.secret !== undefined && Buffer.byteLength(jwt.secret) < 32) {
    throw new ConfigError('JWT_SECRET must be at least 32 bytes for HS256');
  }
  const { etcdEndpoints, redisUrl, kafkaBrokers } = config.backends;
  const fleet = [etcdEndpoints, redisUrl, kafkaBrokers].filter((b) => b !== undefined).length;
  if (fleet > 0 && fleet < 3 && !(fleet === 1 && redisUrl !== undefined)) {
    // Several nodes need all three: the registry to find devices, shared state, and fan-out to every node.
    throw new ConfigError('a fleet needs ETCD_ENDPOINTS, REDIS_URL and KAFKA_BROKERS together (REDIS_URL alone runs one node on Redis)');
  }
  if ((tls.certFile === undefined) !== (tls.keyFile === undefined)) {
    throw new ConfigError('set both TLS_CERT_FILE and TLS_KEY_FILE, or neither');
  }
  const { peers } = config;
  if (tls.certFile === undefined && (peers.tls.caFile !== undefined || peers.tls.serverName !== undefined || tls.clientCaFile !== undefined)) {
    throw new ConfigError(
      'PEER_TLS_CA_FILE, PEER_TLS_SERVER_NAME and GRPC_CLIENT_CA_FILE need TLS_CERT_FILE and TLS_KEY_FILE: gRPC uses TLS (and node-to-node calls with it) only when the nodes serve it',
    );
  }
  if (config.devMode) {
    if (keys === 0) config.jwt.secret = DEV_JWT_SECRET;
    config.adminToken ??= DEV_ADMIN_TOKEN;
    if (config.grpcApiTokens.length === 0) config.grpcApiTokens = [DEV_GRPC_API_TOKEN];
    if (etcdEndpoints !== undefined && peers.secrets.length === 0) peers.secrets = [DEV_FLEET_SECRET];
  }
  // gRPC reaches pushes, statuses and closes of every user: no open default, as for the JWT key.
  if (config.grpcApiTokens.length === 0) {
    throw new ConfigError('no gRPC API token configured: set GRPC_API_TOKENS (the bearer tokens backend services send to IMGatewayService), or DEV_MODE=true');
  }
  if (etcdEndpoints !== undefined && peers.secrets.length === 0) {
    throw new ConfigError('a fleet (ETCD_ENDPOINTS) needs FLEET_SECRET: the shared secret nodes and the operator send on node-to-node gRPC calls');
  }
  return config;
}

function withFile(env: Source): Source {
  const file = env.CONFIG_FILE;
  if (file === undefined || file === '') return env;
  let parsed: unknown;
  try {
    parsed = parseYaml(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError(`CONFIG_FILE ${file}: ${(err as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError(`CONFIG_FILE ${file}: expected a mapping of variable names to values`);
  }
  const merged: Source = {};
  for (const [key, value] of Object.entries(parsed)) {
    merged[key] = Array.isArray(value) ? value.join(',') : String(value);
  }
  return { ...merged, ...env };
}

function readPem(value: string | undefined): string | undefined {
  if (value === undefined || value.includes('-----BEGIN')) return value;
  try {
    return readFileSync(value, 'utf8');
  } catch (err) {
    throw new ConfigError(`JWT_PUBLIC_KEY: neither PEM text nor a readable file (${(err as Error).message})`);
  }
}

/** Reads variables and collects every problem, so one start reports them all. */
class Reader {
  private readonly source: Source;
  private readonly problems: string[] = [];
  constructor(source: Source) {
    this.source = source;
  }

  str(name: string): string | undefined {
    const value = this.source[name]?.trim();
    return value === undefined || value === '' ? undefined : value;
  }

  int(name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
    const raw = this.str(name);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      this.problems.push(`${name}=${raw}: expected an integer from ${min} to ${max}`);
      return fallback;
    }
    return value;
  }

  bool(name: string, fallback: boolean): boolean {
    const raw = this.str(name)?.toLowerCase();
    if (raw === undefined) return fallback;
    if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
    if (['0', 'false', 'no', 'off'].includes(raw)) return false;
    this.problems.push(`${name}=${raw}: expected true or false`);
    return fallback;
  }

  list(name: string): string[] | undefined {
    const items = this.str(name)?.split(',').map((s) => s.trim()).filter((s) => s !== '');
    return items === undefined || items.length === 0 ? undefined : items;
  }

  /** A comma-separated list of tokens, each at least MIN_SECRET_BYTES; empty when unset. */
  secrets(name: string): string[] {
    const items = this.list(name) ?? [];
    // The values are secrets: the message names the variable, never the value.
    if (items.some((item) => Buffer.byteLength(item) < MIN_SECRET_BYTES)) this.problems.push(`${name}: each value must be at least ${MIN_SECRET_BYTES} bytes`);
    return items;
  }

  url(name: string): string | undefined {
    const raw = this.str(name);
    if (raw !== undefined && !URL.canParse(raw)) this.problems.push(`${name}=${raw}: not a URL`);
    return raw;
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const raw = this.str(name);
    if (raw === undefined) return fallback;
    if ((allowed as readonly string[]).includes(raw)) return raw as T;
    this.problems.push(`${name}=${raw}: expected one of ${allowed.join(', ')}`);
    return fallback;
  }

  finish(): void {
    if (this.problems.length > 0) throw new ConfigError(`invalid configuration:\n  ${this.problems.join('\n  ')}`);
  }
}
