/**
 * Gateway configuration: environment variables, optionally a YAML file named
 * by CONFIG_FILE (environment wins). Every value is checked at start and a bad
 * one stops the process with a message naming the variable.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { parse as parseYaml } from 'yaml';
import { DEFAULT_ETCD_PREFIX, DEFAULT_GROUP_TOPIC, DEFAULT_MESSAGES_TOPIC, DEFAULT_REDIS_KEY_PREFIX } from './defaults.ts';

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
  /** The in-memory store's logs at most, in estimated bytes (Redis is bounded by its own maxmemory). */
  memoryLogMaxBytes: number;
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

/**
 * One configuration variable: its parser with its bounds, the value when it
 * is unset, and the README's text for it. The reader and the README table
 * both come from these rows (config.test.ts keeps the README equal).
 */
export interface Variable<T> {
  /** The value when the variable is unset or empty. */
  fallback: T;
  /** README "Default" cell: the fallback, or how it is worked out when it depends on the machine. */
  shown: string;
  /** README "Accepted" cell: what the parser takes. */
  accepted: string;
  /** README "Meaning" cell. */
  doc: string;
  /** A secret's value never appears in a problem report, only its name. */
  secret?: boolean;
  /** The value of a set variable; throws Invalid naming what was expected. */
  parse(raw: string): T;
}

/** A value outside a variable's bounds; the reader adds the variable's name. */
class Invalid extends Error {}

const code = (value: string | number): string => `\`${value}\``;

function integer(fallback: number, min: number, max: number | undefined, doc: string): Variable<number> {
  const top = max ?? Number.MAX_SAFE_INTEGER;
  return {
    fallback,
    shown: code(fallback),
    accepted: max === undefined ? `${min} or more` : `${min} to ${max}`,
    doc,
    parse(raw) {
      const value = Number(raw);
      if (!Number.isInteger(value) || value < min || value > top) throw new Invalid(`expected an integer from ${min} to ${top}`);
      return value;
    },
  };
}

const TRUE = ['1', 'true', 'yes', 'on'];
const FALSE = ['0', 'false', 'no', 'off'];

function flag(fallback: boolean, doc: string): Variable<boolean> {
  return {
    fallback,
    shown: code(String(fallback)),
    accepted: '`true` or `false`',
    doc,
    parse(raw) {
      const value = raw.toLowerCase();
      if (TRUE.includes(value)) return true;
      if (FALSE.includes(value)) return false;
      throw new Invalid('expected true or false');
    },
  };
}

/** Free text; `shown` describes a fallback the gateway works out at start (then `fallback` is undefined). */
function text(doc: string): Variable<string | undefined>;
function text(doc: string, fallback: string): Variable<string>;
function text(doc: string, fallback?: string, shown?: string): Variable<string | undefined>;
function text(doc: string, fallback?: string, shown?: string): Variable<string | undefined> {
  return { fallback, shown: shown ?? (fallback === undefined ? '-' : code(fallback)), accepted: 'text', doc, parse: (raw) => raw };
}

function url(doc: string): Variable<string | undefined> {
  return {
    fallback: undefined,
    shown: '-',
    accepted: 'URL',
    doc,
    parse(raw) {
      if (!URL.canParse(raw)) throw new Invalid('not a URL');
      return raw;
    },
  };
}

function splitList(raw: string): string[] {
  return raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

function list(doc: string): Variable<string[] | undefined> {
  return {
    fallback: undefined,
    shown: '-',
    accepted: 'comma-separated list',
    doc,
    parse(raw) {
      const items = splitList(raw);
      return items.length === 0 ? undefined : items;
    },
  };
}

/** Comma-separated tokens, each at least MIN_SECRET_BYTES; empty when unset. */
function secrets(doc: string): Variable<string[]> {
  return {
    fallback: [],
    shown: '-',
    accepted: `comma-separated, ${MIN_SECRET_BYTES}+ bytes each`,
    doc,
    secret: true,
    parse(raw) {
      const items = splitList(raw);
      if (items.some((item) => Buffer.byteLength(item) < MIN_SECRET_BYTES)) throw new Invalid(`each value must be at least ${MIN_SECRET_BYTES} bytes`);
      return items;
    },
  };
}

function oneOf<const T extends string>(allowed: readonly T[], fallback: T, doc: string): Variable<T> {
  return {
    fallback,
    shown: code(fallback),
    accepted: allowed.map(code).join(', '),
    doc,
    parse(raw) {
      if ((allowed as readonly string[]).includes(raw)) return raw as T;
      throw new Invalid(`expected one of ${allowed.join(', ')}`);
    },
  };
}

/** PEM text, or the path of a file holding it. */
function pem(doc: string): Variable<string | undefined> {
  return {
    fallback: undefined,
    shown: '-',
    accepted: 'PEM text or file path',
    doc,
    parse(raw) {
      if (raw.includes('-----BEGIN')) return raw;
      try {
        return readFileSync(raw, 'utf8');
      } catch (err) {
        throw new Invalid(`neither PEM text nor a readable file (${(err as Error).message})`);
      }
    },
  };
}

const DAY_MS = 24 * 3600_000;

/** Every variable, in the README's order. */
export const CONFIG_VARIABLES = {
  PORT: integer(8080, 0, 65535, 'HTTP and WebSocket port (`/ws`, `/health`, `/ready`, `/metrics`, `/stats`, admin API)'),
  HOST: text('Address the HTTP and gRPC servers bind to', '0.0.0.0'),
  GRPC_PORT: integer(9093, 0, 65535, 'gRPC port (`IMGatewayService`, `grpc.health.v1.Health`)'),
  GRPC_ADVERTISE_ADDRESS: text('Address other nodes use to reach this node over gRPC', undefined, '`<POD_IP or hostname>:<GRPC_PORT>`'),
  NODE_ID: text('This node\'s name in the registry and in `gateway_node`', undefined, '`hostname`'),
  DEV_MODE: flag(false, 'Start without a JWT key, using a fixed, public dev secret and admin token. Never in production'),
  JWT_SECRET: text('HS256 secret, 32+ bytes'),
  JWT_JWKS_URL: url('JWKS endpoint for RS256/ES256 keys'),
  JWT_PUBLIC_KEY: pem('RS256/ES256 public key'),
  JWT_ISSUER: text('Required `iss` claim, if set'),
  JWT_AUDIENCE: text('Required `aud` claim, if set'),
  ADMIN_TOKEN: text('Bearer token for the admin REST API (`/v1/groups/...`); the admin API is off without it'),
  GRPC_API_TOKENS: secrets('Bearer tokens `IMGatewayService` accepts in `authorization: Bearer <token>` metadata; several at once for rotation. Required unless DEV_MODE'),
  FLEET_SECRET: secrets('Shared secret of the nodes of a fleet and the operator, required with ETCD_ENDPOINTS: sent on node-to-node calls, required by the peer service. While rotating `new,old`: the first is sent, each is accepted'),
  MAX_CONNECTIONS: integer(200_000, 1, undefined, 'Sockets this node accepts before `MAX_CONNECTIONS_EXCEEDED`'),
  MAX_DEVICES_PER_USER: integer(5, 1, undefined, 'Devices one user may have connected at once'),
  MAX_CONTENT_BYTES: integer(10_240, 1, undefined, 'Largest message before `MESSAGE_TOO_LARGE`: `content` in UTF-8 bytes plus `metadata` as JSON text (a `PushMessage` content: `INVALID_ARGUMENT`)'),
  MAX_FRAME_BYTES: integer(65_536, 256, undefined, 'Hard cap on one inbound frame; larger closes the socket with 1009'),
  RATE_LIMIT_MESSAGES: integer(100, 1, undefined, 'Messages one user may send per window'),
  RATE_LIMIT_WINDOW_MS: integer(60_000, 1, undefined, 'Rate-limit window'),
  RATE_LIMIT_MAX_VIOLATIONS: integer(10, 1, undefined, 'Rejected sends within one window before the socket is closed'),
  SEND_BUFFER_MAX_BYTES: integer(1_048_576, 1024, undefined, 'Unsent bytes queued for one socket (deliveries and every reply) before it is closed as a slow consumer'),
  MAX_FRAMES_PER_SECOND: integer(10_000, 1, undefined, 'Frames of any type one socket may send within a second; past it `RATE_LIMIT_EXCEEDED` and close 4008'),
  HEARTBEAT_TIMEOUT_MS: integer(90_000, 100, undefined, 'Silence after which a socket gets `HEARTBEAT_TIMEOUT` and is closed'),
  LOG_RETENTION_COUNT: integer(10_000, 1, undefined, 'Messages kept per conversation for offline delivery'),
  LOG_RETENTION_MS: integer(7 * DAY_MS, 1000, undefined, 'Age after which messages leave the conversation logs (7 days)'),
  DEDUP_TTL_MS: integer(DAY_MS, 1000, undefined, 'How long a (sender, msg_id) pair is remembered for dedup'),
  MEMORY_DEDUP_MAX_KEYS: integer(500_000, 2, undefined, 'Without Redis: dedup keys kept at most (at most 200 bytes of heap each); past it the oldest are forgotten before DEDUP_TTL_MS'),
  MEMORY_LOG_MAX_MB: integer(512, 1, undefined, 'Without Redis: the conversation logs together at most, in MB of heap (estimated per entry); past it the oldest entries of all logs go first'),
  REPLAY_BATCH: integer(200, 1, undefined, 'Messages read per log page during replay on connect'),
  DRAIN_CLOSES_PER_SECOND: integer(500, 1, undefined, 'Sockets closed per second while draining'),
  SHUTDOWN_TIMEOUT_MS: integer(60_000, 100, undefined, 'Longest a SIGTERM drain may take before the process exits anyway'),
  TLS_CERT_FILE: text('PEM certificate (chain): serve `wss://`, `https://` and gRPC over TLS'),
  TLS_KEY_FILE: text('PEM private key for TLS_CERT_FILE'),
  TLS_RELOAD_INTERVAL_MS: integer(30_000, 100, undefined, 'How often the certificate files are checked for renewal'),
  PEER_TLS_CA_FILE: text('With TLS: PEM CA bundle that verifies other nodes\' gRPC certificates on node-to-node calls (unset: the system roots)'),
  PEER_TLS_SERVER_NAME: text('With TLS: the name other nodes\' certificates carry, checked instead of the pod address dialled'),
  GRPC_CLIENT_CA_FILE: text('With TLS: mutual TLS on the gRPC port. Every caller (backend services, other nodes) must present a certificate this PEM CA signed; nodes present their TLS_CERT_FILE. Re-read like the certificates'),
  ALLOWED_ORIGINS: list('Browser origins allowed to open sockets (`*` for any); unset allows any'),
  ETCD_ENDPOINTS: list('etcd endpoints: fleet registry'),
  REDIS_URL: url('Redis URL: shared logs, dedup, rate limits, groups'),
  KAFKA_BROKERS: list('Kafka brokers: message log and group fan-out'),
  ETCD_PREFIX: text('Key prefix of the registry in etcd', DEFAULT_ETCD_PREFIX),
  ETCD_LEASE_TTL_SECONDS: integer(10, 2, 3600, 'TTL of the node\'s lease: a crashed node\'s entries vanish this long after it stops'),
  REDIS_KEY_PREFIX: text('Prefix of every Redis key the gateway writes', DEFAULT_REDIS_KEY_PREFIX),
  KAFKA_MESSAGES_TOPIC: text('Topic of the private-message log (keyed by conversation)', DEFAULT_MESSAGES_TOPIC),
  KAFKA_GROUP_TOPIC: text('Topic of group messages and membership changes: the group log and the fan-out every node consumes', DEFAULT_GROUP_TOPIC),
  KAFKA_TOPIC_PARTITIONS: integer(12, 1, 10_000, 'Partitions of the topics the gateway creates when they are missing'),
  KAFKA_REPLICATION_FACTOR: integer(1, 1, 16, 'Replication factor of the topics the gateway creates (3 in production)'),
  FORWARD_TIMEOUT_MS: integer(2000, 50, undefined, 'Deadline of one node-to-node gRPC call'),
  FORWARD_RETRIES: integer(1, 0, 10, 'Further attempts of a node-to-node call that timed out or found the node unavailable'),
  LOG_LEVEL: oneOf(['debug', 'info', 'warn', 'error'], 'info', 'Least severe level written to the log'),
  CONFIG_FILE: text('YAML file with any of these variables as keys; the environment wins'),
} satisfies Record<string, Variable<unknown>>;

type Variables = typeof CONFIG_VARIABLES;
export type VariableName = keyof Variables;
type Values = { [Name in VariableName]: Variables[Name] extends Variable<infer T> ? T : never };

/** `[name, variable]` pairs in README order (the operator's CRD test checks its env names against them). */
export const VARIABLES = Object.entries(CONFIG_VARIABLES) as [VariableName, Variable<unknown>][];

/** The README's "Configuration" table, header included. */
export function configTable(): string {
  const rows = VARIABLES.map(([name, v]) => `| \`${name}\` | ${v.shown} | ${v.accepted} | ${v.doc} |`);
  return ['| Variable | Default | Accepted | Meaning |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

/** Every variable read through its row; every problem collected, so one start reports them all. */
function readVariables(source: Source): Values {
  const problems: string[] = [];
  const values: Record<string, unknown> = {};
  for (const [name, variable] of VARIABLES) {
    const raw = source[name]?.trim();
    values[name] = variable.fallback;
    if (raw === undefined || raw === '') continue;
    try {
      values[name] = variable.parse(raw);
    } catch (err) {
      if (!(err instanceof Invalid)) throw err;
      // The values of secrets never reach the message, only their names.
      problems.push(variable.secret === true ? `${name}: ${err.message}` : `${name}=${raw}: ${err.message}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(`invalid configuration:\n  ${problems.join('\n  ')}`);
  return values as Values;
}

export function loadConfig(env: Source = process.env): GatewayConfig {
  const source = withFile(env);
  const v = readVariables(source);
  const config: GatewayConfig = {
    nodeId: v.NODE_ID ?? hostname(),
    host: v.HOST,
    port: v.PORT,
    grpcPort: v.GRPC_PORT,
    grpcAdvertiseAddress: v.GRPC_ADVERTISE_ADDRESS ?? `${source.POD_IP ?? hostname()}:${v.GRPC_PORT}`,
    devMode: v.DEV_MODE,
    jwt: {
      secret: v.JWT_SECRET,
      jwksUrl: v.JWT_JWKS_URL,
      publicKeyPem: v.JWT_PUBLIC_KEY,
      issuer: v.JWT_ISSUER,
      audience: v.JWT_AUDIENCE,
    },
    adminToken: v.ADMIN_TOKEN,
    grpcApiTokens: v.GRPC_API_TOKENS,
    limits: {
      maxConnections: v.MAX_CONNECTIONS,
      maxDevicesPerUser: v.MAX_DEVICES_PER_USER,
      maxContentBytes: v.MAX_CONTENT_BYTES,
      maxFrameBytes: v.MAX_FRAME_BYTES,
      rateLimitMessages: v.RATE_LIMIT_MESSAGES,
      rateLimitWindowMs: v.RATE_LIMIT_WINDOW_MS,
      rateLimitMaxViolations: v.RATE_LIMIT_MAX_VIOLATIONS,
      sendBufferMaxBytes: v.SEND_BUFFER_MAX_BYTES,
      maxFramesPerSecond: v.MAX_FRAMES_PER_SECOND,
    },
    heartbeatTimeoutMs: v.HEARTBEAT_TIMEOUT_MS,
    retention: { maxEntries: v.LOG_RETENTION_COUNT, maxAgeMs: v.LOG_RETENTION_MS, dedupTtlMs: v.DEDUP_TTL_MS },
    memoryDedupMaxKeys: v.MEMORY_DEDUP_MAX_KEYS,
    memoryLogMaxBytes: v.MEMORY_LOG_MAX_MB * 1024 * 1024,
    replayBatch: v.REPLAY_BATCH,
    drain: { closesPerSecond: v.DRAIN_CLOSES_PER_SECOND, shutdownTimeoutMs: v.SHUTDOWN_TIMEOUT_MS },
    tls: { certFile: v.TLS_CERT_FILE, keyFile: v.TLS_KEY_FILE, reloadIntervalMs: v.TLS_RELOAD_INTERVAL_MS, clientCaFile: v.GRPC_CLIENT_CA_FILE },
    allowedOrigins: v.ALLOWED_ORIGINS,
    backends: { etcdEndpoints: v.ETCD_ENDPOINTS, redisUrl: v.REDIS_URL, kafkaBrokers: v.KAFKA_BROKERS },
    etcd: { prefix: v.ETCD_PREFIX, leaseTtlSeconds: v.ETCD_LEASE_TTL_SECONDS },
    redis: { keyPrefix: v.REDIS_KEY_PREFIX },
    kafka: {
      messagesTopic: v.KAFKA_MESSAGES_TOPIC,
      groupTopic: v.KAFKA_GROUP_TOPIC,
      partitions: v.KAFKA_TOPIC_PARTITIONS,
      replicationFactor: v.KAFKA_REPLICATION_FACTOR,
    },
    peers: {
      timeoutMs: v.FORWARD_TIMEOUT_MS,
      retries: v.FORWARD_RETRIES,
      secrets: v.FLEET_SECRET,
      tls: { caFile: v.PEER_TLS_CA_FILE, serverName: v.PEER_TLS_SERVER_NAME },
    },
    logLevel: v.LOG_LEVEL,
  };
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
