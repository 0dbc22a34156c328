/**
 * Prometheus metrics with the spec's names, plus the process metrics that
 * prom-client collects. One registry per gateway node, so tests can run
 * several nodes in one process.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly activeConnections: Gauge;
  readonly messagesSent: Counter;
  readonly messagesDelivered: Counter;
  /** Milliseconds from a frame's arrival to its delivery to local sockets. */
  readonly messageLatency: Histogram;
  readonly connectionErrors: Counter<'code'>;

  constructor(activeConnections: () => number) {
    collectDefaultMetrics({ register: this.registry });
    this.activeConnections = new Gauge({
      name: 'im_gateway_active_connections',
      help: 'Authenticated WebSocket connections on this node',
      registers: [this.registry],
      collect() {
        this.set(activeConnections());
      },
    });
    this.messagesSent = new Counter({
      name: 'im_gateway_messages_sent_total',
      help: 'Messages accepted from senders (acknowledged)',
      registers: [this.registry],
    });
    this.messagesDelivered = new Counter({
      name: 'im_gateway_messages_delivered_total',
      help: 'Message frames written to recipient sockets, live or replayed',
      registers: [this.registry],
    });
    this.messageLatency = new Histogram({
      name: 'im_gateway_message_latency',
      help: 'Milliseconds from send_msg arrival to delivery on this node',
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000],
      registers: [this.registry],
    });
    this.connectionErrors = new Counter({
      name: 'im_gateway_connection_errors_total',
      help: 'Connections refused or closed for an error, by error code',
      labelNames: ['code'],
      registers: [this.registry],
    });
  }
}
