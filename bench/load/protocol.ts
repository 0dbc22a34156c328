/**
 * What the orchestrator and the load workers say to each other over IPC.
 * Every command carries `seq`; the worker answers each with the same `seq`.
 */
import type { HistogramData } from '../lib/stats.ts';

/** The three kinds of server the same clients can talk to. */
export type ServerKind = 'gateway' | 'ws' | 'socketio';

/** Where and how workers connect: plain data, sent to every worker. */
export interface TargetSpec {
  kind: ServerKind;
  /** One per node. gateway: ws://host:port/ws; ws: ws://host:port/; socketio: http://host:port */
  urls: string[];
  /** HS256 secret the workers sign gateway tokens with. */
  jwtSecret?: string;
}

export interface ConnSpec {
  /** User id on the gateway; connection id on the baselines. */
  id: string;
  /** Index into TargetSpec.urls. */
  node: number;
  /** Baselines: the socket this one's frames are relayed to. */
  peer?: string;
  /** Group the connection belongs to (baselines: broadcast set; gateway: bookkeeping only). */
  group?: string;
}

export type Command =
  | { op: 'open'; target: TargetSpec; conns: ConnSpec[]; localAddresses: string[]; concurrency: number; timeoutMs: number }
  | { op: 'private'; pairs: Array<[string, string]>; rate: number; durationMs: number; warmupMs: number; drainMs: number; contentBytes: number }
  | { op: 'group-send'; sender: string; group: string; ids: string[]; contentBytes: number }
  | { op: 'group-collect'; group: string; sender: string; ids: string[]; timeoutMs: number }
  | { op: 'quiesce'; idleMs: number; timeoutMs: number }
  | { op: 'usage' }
  | { op: 'close' };

export type Request = Command & { seq: number };

export interface OpenResult {
  opened: number;
  failed: number;
  ms: number;
  /** Failure reasons and how often each came. */
  errors: Record<string, number>;
}

export interface PrivateResult {
  /** Messages written to sockets during the step. */
  sent: number;
  /** Messages not written because the sender's socket had too much unsent data. */
  skipped: number;
  /** Deliveries and acks that arrived inside the measured window (after warm-up). */
  deliveredInWindow: number;
  ackedInWindow: number;
  windowMs: number;
  /** Messages sent inside the window, and how many of those arrived before the drain deadline. */
  sentInWindow: number;
  arrivedOfWindow: number;
  /** Send-to-receipt latency of the messages sent inside the window. */
  latency: HistogramData;
  errors: Record<string, number>;
  /** This worker's CPU time during the step, and the step's wall time (warm-up and drain included). */
  cpuMs: number;
  wallMs: number;
}

export interface GroupCollectResult {
  /** Per message id: copies received here, and the earliest and latest receipt after the send, in ms. */
  messages: Array<{ id: string; count: number; expected: number; firstMs: number; lastMs: number }>;
}

export interface UsageResult {
  cpuMs: number;
  rssBytes: number;
  open: number;
  /** Frames received since the worker started. */
  frames: number;
  /** Error frames that came outside a private-message step, by code. */
  errors: Record<string, number>;
}

export type Reply = { seq: number; ok: true; result: unknown } | { seq: number; ok: false; error: string };
