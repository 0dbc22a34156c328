/**
 * One gateway node: builds the parts from config and backends, serves HTTP,
 * WebSocket and gRPC, and drains on shutdown. Backends come in from outside
 * (memory or etcd/Redis/Kafka), so tests build nodes exactly as main does.
 */
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import { SocketTokens } from './auth/socket-tokens.ts';
import { TokenVerifier } from './auth/verifier.ts';
import type { Bus } from './bus/bus.ts';
import type { GatewayConfig } from './config/config.ts';
import { Hub } from './connections/hub.ts';
import { ConnectionControl } from './delivery/connection-control.ts';
import { DISPATCH_DEFAULTS, Dispatcher } from './delivery/dispatcher.ts';
import { GroupFanout } from './delivery/group-fanout.ts';
import { LocalDelivery } from './delivery/local-delivery.ts';
import { Replayer } from './delivery/replay.ts';
import { RetryQueue } from './delivery/retry-queue.ts';
import { LocalUserDelivery, type UserDelivery } from './delivery/user-delivery.ts';
import { FleetConnectionControl } from './fleet/fleet-connection-control.ts';
import { FleetUserDelivery } from './fleet/fleet-user-delivery.ts';
import { PeerClient } from './fleet/peer-client.ts';
import { peerHandlers } from './fleet/peer-handlers.ts';
import type { IMGatewayPeerServiceHandlers } from './proto/generated/im/gateway/v1/IMGatewayPeerService.ts';
import { Groups } from './messaging/groups.ts';
import { Messenger } from './messaging/messenger.ts';
import { Notifier } from './messaging/notifier.ts';
import { Pusher } from './messaging/pusher.ts';
import { Receipts } from './messaging/receipts.ts';
import { createLogger, type Logger } from './observability/logger.ts';
import { GatewayMetrics } from './observability/metrics.ts';
import { CloseCode } from './protocol/errors.ts';
import type { Registry } from './registry/registry.ts';
import { MemoryStore } from './store/memory-store.ts';
import type { Store } from './store/store.ts';
import { FrameHandler } from './api/frame-handler.ts';
import { BearerTokens } from './api/grpc-auth.ts';
import { GrpcServer } from './api/grpc-server.ts';
import { demoRoutes } from './api/demo-routes.ts';
import { createHttpApp, type Readiness } from './api/http-app.ts';
import { WsServer } from './api/ws-server.ts';
import { SessionLifecycle } from './session/lifecycle.ts';
import { CertificateReloader, readKeyPair } from './tls/certificates.ts';
import { peerCredentials, type PeerCredentials } from './tls/peer-credentials.ts';

export interface Backends {
  store: Store;
  registry: Registry;
  bus: Bus;
  /**
   * Other nodes share these backends (the registry is etcd): a user's devices
   * may be on them, so this node forwards to them and serves their calls.
   */
  fleet: boolean;
}

/**
 * In a fleet, how long after connect a socket's logs are checked once more
 * (replay.ts): well past the registry watch's lag (milliseconds), so other
 * nodes forward to the new socket by then.
 */
const SETTLE_AFTER_MS = 1_000;

/** Work waiting for a dependency to come back: bounded, then left to replay on connect. */
const RETRY_OPTIONS = { maxItems: 50_000, maxAgeMs: 10 * 60_000, baseDelayMs: 200, maxDelayMs: 5_000 };

export class GatewayNode {
  readonly config: GatewayConfig;
  readonly log: Logger;
  readonly metrics: GatewayMetrics;
  readonly hub = new Hub();
  private readonly backends: Backends;
  private readonly http: HttpServer | HttpsServer;
  private readonly ws: WsServer;
  private readonly lifecycle: SessionLifecycle;
  private readonly grpc: GrpcServer;
  private readonly reloader: CertificateReloader | null;
  private readonly peers: PeerClient | null = null;
  private readonly retries: RetryQueue;
  private readonly dispatcher: Dispatcher;
  /** Writes entries to this node's sockets, each log in order (peers and tests hand it entries). */
  readonly delivery: LocalDelivery;
  private readonly replayer: Replayer;
  private readonly loopDelay = monitorEventLoopDelay({ resolution: 20 });
  private readonly startedAt = Date.now();
  private draining = false;
  private httpPort = 0;
  private grpcPort = 0;

  constructor(config: GatewayConfig, backends: Backends, log?: Logger) {
    this.config = config;
    this.backends = backends;
    this.log = log ?? createLogger(config.logLevel, { node: config.nodeId });
    this.metrics = new GatewayMetrics(() => this.hub.size);
    const { store, registry, bus } = backends;
    const { limits } = config;
    // Before the peers: under mutual TLS they present this node's certificate.
    const { certFile, keyFile, reloadIntervalMs, clientCaFile } = config.tls;
    const tlsFiles = certFile !== undefined && keyFile !== undefined ? { certFile, keyFile, reloadIntervalMs, clientCaFile } : null;
    const pair = tlsFiles === null ? null : readKeyPair(tlsFiles);
    this.reloader = tlsFiles === null || pair === null ? null : new CertificateReloader(tlsFiles, pair, this.log);

    const delivery = this.delivery = new LocalDelivery(this.hub, store, this.metrics, this.log, { maxBufferedBytes: limits.sendBufferMaxBytes, readBatch: config.replayBatch });
    this.retries = new RetryQueue(RETRY_OPTIONS, this.log);
    // Decided here, once: a node alone has no fleet parts at all, every device is local.
    let users: UserDelivery;
    let control: ConnectionControl;
    let peerService: IMGatewayPeerServiceHandlers | undefined;
    if (backends.fleet) {
      const peers = new PeerClient({ timeoutMs: config.peers.timeoutMs, retries: config.peers.retries, ...this.peerCredentials() });
      users = new FleetUserDelivery(delivery, { registry, peers, nodeId: config.nodeId, log: this.log });
      control = new FleetConnectionControl(this.hub, registry, peers, config.nodeId);
      peerService = peerHandlers({ local: delivery, control });
      this.peers = peers;
    } else {
      users = new LocalUserDelivery(delivery);
      control = new ConnectionControl(this.hub, registry);
    }
    const notifier = new Notifier(store, users);
    this.dispatcher = new Dispatcher(store, bus, users, this.log, { nodeId: config.nodeId, ...DISPATCH_DEFAULTS });
    // The registry's view holds this node's devices too (memory: all of them; etcd: as soon as registered).
    const online = (userId: string): boolean => registry.routes(userId).length > 0;
    const messenger = new Messenger(store, this.dispatcher, online, this.metrics, { maxContentBytes: limits.maxContentBytes });
    const receipts = new Receipts(store, notifier);
    const groups = new Groups(store, this.dispatcher, notifier);
    const replayer = this.replayer = new Replayer(store, delivery, {
      batch: config.replayBatch,
      maxBufferedBytes: limits.sendBufferMaxBytes,
      settleAfterMs: this.peers === null ? 0 : SETTLE_AFTER_MS,
    });
    const verifier = new TokenVerifier(config.jwt);
    const tokens = new SocketTokens(verifier, this.metrics);

    bus.onGroupEvent(new GroupFanout(store, delivery, this.retries, this.log).onEvent);

    this.lifecycle = new SessionLifecycle(
      {
        nodeId: config.nodeId,
        grpcAddress: config.grpcAdvertiseAddress,
        maxDevicesPerUser: limits.maxDevicesPerUser,
        sendBufferMaxBytes: limits.sendBufferMaxBytes,
        heartbeatTimeoutMs: config.heartbeatTimeoutMs,
        maxFramesPerSecond: limits.maxFramesPerSecond,
        rateLimitWindowMs: limits.rateLimitWindowMs,
        rateLimitMaxViolations: limits.rateLimitMaxViolations,
      },
      {
        tokens,
        hub: this.hub,
        registry,
        control,
        frames: new FrameHandler(messenger, receipts, tokens, this.log),
        replayer,
        metrics: this.metrics,
        log: this.log,
      },
    );
    this.ws = new WsServer(
      { maxConnections: limits.maxConnections, maxFrameBytes: limits.maxFrameBytes, allowedOrigins: config.allowedOrigins },
      { verifier, hub: this.hub, lifecycle: this.lifecycle, metrics: this.metrics },
    );
    this.grpc = new GrpcServer({
      maxContentBytes: limits.maxContentBytes,
      pusher: new Pusher(store, users, control, this.metrics),
      control,
      log: this.log,
      apiTokens: new BearerTokens(config.grpcApiTokens),
      ...(peerService === undefined ? {} : { peer: { handlers: peerService, secrets: new BearerTokens(config.peers.secrets) } }),
    });

    const app = createHttpApp({
      readiness: () => this.readiness(),
      stats: () => this.stats(),
      markDraining: () => this.markDraining(),
      metrics: this.metrics,
      groups,
      adminToken: config.adminToken,
      log: this.log,
      demo: config.devMode ? demoRoutes(config.jwt) : undefined,
    });
    if (this.reloader !== null && pair !== null) {
      const https = createHttpsServer({ cert: pair.cert, key: pair.key }, app);
      this.reloader.watch(https);
      this.http = https;
    } else {
      this.http = createHttpServer(app);
    }
    this.http.on('upgrade', (req, socket, head) => this.ws.handleUpgrade(req, socket, head));
    this.loopDelay.enable();
  }

  /**
   * Calls to other nodes: TLS when this node serves it (so do its peers), with
   * this node's certificate when they ask for one (mutual TLS), the fleet secret always.
   */
  private peerCredentials(): PeerCredentials {
    const { secrets, tls } = this.config.peers;
    if (this.reloader === null) return peerCredentials(secrets[0]!, null);
    const identity = this.config.tls.clientCaFile === undefined ? undefined : this.reloader.identity;
    return peerCredentials(secrets[0]!, { ...tls, identity });
  }

  get tls(): boolean {
    return this.reloader !== null;
  }

  /** Listens on the configured ports (0 picks free ones); resolves with the bound ports. */
  async start(): Promise<{ httpPort: number; grpcPort: number }> {
    const { host, port, grpcPort } = this.config;
    const credentials = this.reloader?.grpcCredentials() ?? grpc.ServerCredentials.createInsecure();
    this.grpcPort = await this.grpc.listen(`${host.includes(':') ? `[${host}]` : host}:${grpcPort}`, credentials);
    // Peers can reach this node before it registers itself; clients come only after.
    const { store, registry, bus } = this.backends;
    await Promise.all([store.start(), registry.start()]);
    await bus.start();
    // After a restart of this node id, what its earlier life left undone goes out now.
    await this.dispatcher.start();
    await new Promise<void>((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(port, host, () => {
        this.http.off('error', reject);
        resolve();
      });
    });
    this.httpPort = (this.http.address() as AddressInfo).port;
    this.log.info('gateway_started', {
      http_port: this.httpPort,
      grpc_port: this.grpcPort,
      tls: this.tls,
      store: this.backends.store.name,
      registry: this.backends.registry.name,
      bus: this.backends.bus.name,
      dev_mode: this.config.devMode,
    });
    return { httpPort: this.httpPort, grpcPort: this.grpcPort };
  }

  async readiness(): Promise<Readiness> {
    const dependencies: Record<string, string> = {};
    let healthy = true;
    for (const backend of [this.backends.registry, this.backends.store, this.backends.bus]) {
      const ok = await backend.healthy().catch(() => false);
      dependencies[backend.name] = ok ? 'healthy' : 'unhealthy';
      healthy &&= ok;
    }
    return { ready: healthy && !this.draining, draining: this.draining, dependencies };
  }

  async stats(): Promise<Record<string, unknown>> {
    const memory = process.memoryUsage();
    const elu = performance.eventLoopUtilization();
    return {
      node_id: this.config.nodeId,
      active_connections: this.hub.size,
      total_messages_sent: await counterValue(this.metrics.messagesSent),
      total_messages_delivered: await counterValue(this.metrics.messagesDelivered),
      uptime_seconds: Math.floor((Date.now() - this.startedAt) / 1000),
      memory_usage_bytes: memory.rss,
      heap_used_bytes: memory.heapUsed,
      // Node has no goroutines: one event loop serves every socket, so its
      // saturation is what `goroutines` stood for.
      event_loop: {
        utilization: Number(elu.utilization.toFixed(4)),
        delay_p99_ms: Number((this.loopDelay.percentile(99) / 1e6).toFixed(2)),
      },
      draining: this.draining,
      cache_stats: {
        user_mapping_size: this.hub.userCount,
        group_membership_size: await this.backends.store.groupCount(),
      },
      ...(this.backends.store instanceof MemoryStore ? { memory_store: memoryStoreStats(this.backends.store) } : {}),
    };
  }

  /**
   * Drains: fail /ready, refuse new sockets, then close existing ones with
   * 1012 at the configured rate so clients reconnect elsewhere. Resolves when
   * no socket is left or the deadline passes.
   */
  async drain(deadlineMs = this.config.drain.shutdownTimeoutMs): Promise<void> {
    this.markDraining();
    const deadline = Date.now() + deadlineMs;
    const rate = this.config.drain.closesPerSecond;
    const perTick = Math.max(1, Math.round(rate / 10));
    // Ticks are paced from the batch size, so rates under 10/s (batch of 1) are not rounded up.
    const tickMs = (perTick * 1000) / rate;
    this.log.info('drain_started', { connections: this.hub.size, closes_per_second: this.config.drain.closesPerSecond });
    while (this.hub.size > 0 && Date.now() < deadline) {
      let closed = 0;
      for (const socket of this.hub.all()) {
        if (socket.closing) continue;
        socket.closeWith(CloseCode.SERVICE_RESTART, 'server draining: reconnect');
        if (++closed >= perTick) break;
      }
      await sleep(tickMs);
    }
    this.log.info('drain_finished', { remaining: this.hub.size });
  }

  /**
   * Fails /ready and the gRPC health check and refuses new sockets, keeping
   * the open ones: the operator then closes them at its own pace before it
   * removes the pod (`POST /v1/drain`).
   */
  markDraining(): void {
    if (this.draining) return;
    this.draining = true;
    this.ws.refuseNew();
    this.grpc.setServing(false);
    this.log.info('draining', { connections: this.hub.size });
  }

  get isDraining(): boolean {
    return this.draining;
  }

  /** Stops everything this node started. Backends are closed by whoever made them. */
  async stop(): Promise<void> {
    for (const socket of this.hub.all()) socket.terminate();
    this.ws.close();
    this.lifecycle.close();
    this.reloader?.stop();
    this.peers?.close();
    this.retries.close();
    this.dispatcher.close();
    this.delivery.close();
    this.replayer.close();
    this.loopDelay.disable();
    await Promise.all([
      this.grpc.shutdown(2000),
      new Promise<void>((resolve) => {
        this.http.close(() => resolve());
        this.http.closeAllConnections();
      }),
    ]);
  }
}

async function counterValue(counter: { get(): Promise<{ values: Array<{ value: number }> }> }): Promise<number> {
  return (await counter.get()).values.reduce((sum, v) => sum + v.value, 0);
}

function memoryStoreStats(store: MemoryStore): Record<string, number> {
  const { entries, logBytes, maxLogBytes, dedupKeys, maxDedupKeys } = store.usage();
  return { entries, log_bytes: logBytes, max_log_bytes: maxLogBytes, dedup_keys: dedupKeys, max_dedup_keys: maxDedupKeys, max_message_bytes: store.maxMessageBytes };
}
