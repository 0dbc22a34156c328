/**
 * One connection to the gateway as a state machine:
 *
 *   disconnected --connect()--> connecting --auth_response--> connected
 *        ^                          |                            |
 *        +--- close (reconnect after a delay, or stop) ----------+
 *   any state --close()--> closed (for good)
 *
 * Around it: the outbox (sends until acked, resent on every new socket), the
 * inbox (messages once, in order, acked cumulatively) and the token (renewed
 * before `exp`). One timer per client serves every deadline: heartbeat, dead
 * connection, ack batch, token refresh, reconnect and resend.
 */
import { backoffDelay, drainDelay, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.ts';
import { ClientClose, closeRule, GatewayError, RETRIABLE_SEND_ERRORS, type ClosePolicy } from './errors.ts';
import type { ClientFrame, ErrorFrame, Metadata, SendMsgFrame, ServerFrame } from './generated/frames.ts';
import { Inbox, type Message } from './inbox.ts';
import { Outbox, type SendAck } from './outbox.ts';
import { refreshTime, tokenExpiry, TokenSource, type TokenProvider } from './token.ts';

export interface GatewayClientOptions {
  /** The gateway's `/ws` URL; several are tried in turn, one per reconnect (e.g. the nodes of a fleet without a load balancer). */
  url: string | readonly string[];
  /** A JWT, or a function giving one: called on every (re)connect, before `exp` (`refresh_token`) and after TOKEN_EXPIRED. */
  token: string | TokenProvider;
  /** `subprotocol` (default; works in browsers) or `header` (`Authorization: Bearer`, Node only). */
  auth?: 'subprotocol' | 'header';
  /** Exponential backoff with full jitter between reconnect attempts. */
  reconnect?: Partial<BackoffOptions>;
  /** Interval of the client's heartbeat; no frame from the gateway for three intervals means the connection is dead. */
  heartbeatIntervalMs?: number;
}

export type ConnectionState = 'connecting' | 'connected' | 'disconnected' | 'closed';

export interface StateEvent {
  state: ConnectionState;
  /** For `disconnected`: the close code (README "Close codes"; 4007 also when the client found the connection dead). */
  code?: number;
  reason?: string;
  /** For `disconnected`: whether the client reconnects by itself (else the app calls `connect()`). */
  willReconnect?: boolean;
}

export interface SendOptions {
  /** Send to a group (`recipient_type: group`) rather than a user. */
  group?: boolean;
  metadata?: Metadata;
  /** The `msg_id`; by default a random UUID. A send with the msg_id of one still pending shares its promise. */
  msgId?: string;
}

export interface Receipt {
  msgId: string;
  readerId: string;
  readAt: number;
  timestamp: number;
}

export interface MembershipChange {
  groupId: string;
  changeType: 'join' | 'leave';
  userId: string;
  timestamp: number;
}

export interface ClientEvents {
  state: StateEvent;
  message: Message;
  receipt: Receipt;
  membership: MembershipChange;
  /** Errors not tied to a pending send (a refused token refresh, HISTORY_TRUNCATED, a final close...). */
  error: GatewayError;
}

type Listener<E extends keyof ClientEvents> = (event: ClientEvents[E]) => void;

/** What the SDK needs of a WebSocket: the standard API, as in browsers and Node 22+. */
interface SocketLike {
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: string, listener: (event: never) => void): void;
  removeEventListener(type: string, listener: (event: never) => void): void;
}
/** Node's WebSocket (undici) also takes `{ protocols, headers }`; browsers take only the protocols. */
type SocketInit = string[] | { protocols: string[]; headers: Record<string, string> };
type SocketConstructor = new (url: string, init: SocketInit) => SocketLike;
interface SocketMessageEvent {
  readonly target: unknown;
  readonly data: unknown;
}
interface SocketCloseEvent {
  readonly target: unknown;
  readonly code: number;
  readonly reason: string;
}

/** The subprotocol the gateway speaks; the token rides beside it as `bearer.<jwt>`. */
const SUBPROTOCOL = 'im-gateway.v1';
const DEFAULT_HEARTBEAT_MS = 30_000;
/** Silence, in heartbeat intervals, after which the connection counts as dead. */
const DEAD_AFTER_INTERVALS = 3;
/** Incoming messages within this window share one ack per conversation. */
const ACK_DELAY_MS = 20;
/** setTimeout's longest delay; a deadline further off (a token valid for weeks) is reached by re-arming. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** How long `close()` waits for the gateway's side of the closing handshake. */
const CLOSE_WAIT_MS = 1_000;
/** Codes of an `error` frame that refuses a token (at connect, or a `refresh_token`). */
const TOKEN_ERRORS = new Set(['INVALID_TOKEN', 'TOKEN_EXPIRED', 'AUTH_FAILED']);

export class GatewayClient {
  private readonly urls: readonly string[];
  private readonly tokens: TokenSource;
  private readonly auth: 'subprotocol' | 'header';
  private readonly backoff: BackoffOptions;
  private readonly heartbeatMs: number;
  private readonly listeners = new Map<keyof ClientEvents, Set<Listener<never>>>();
  private readonly outbox = new Outbox();
  private readonly inbox = new Inbox();

  private currentState: ConnectionState = 'disconnected';
  private socket: SocketLike | null = null;
  private authenticated = false;
  private urlIndex = 0;
  /** Reconnect attempts since the last successful connect. */
  private attempt = 0;
  /** Retries of held sends since the last ack. */
  private resendAttempt = 0;
  /**
   * The last `error` frame on this socket not tied to a send: before
   * `auth_response`, why the socket is about to close; after it, already
   * reported, and perhaps the reason of the close that follows (TOKEN_EXPIRED
   * before 4003, CONNECTION_CLOSED before 4011).
   */
  private lastError: GatewayError | null = null;
  private waiters: Array<{ resolve: () => void; reject: (err: GatewayError) => void }> = [];
  private refreshing = false;
  private tokenExpiresAt: number | undefined;

  // Deadlines (ms since epoch) of the one timer; Infinity when not due.
  private timer: ReturnType<typeof setTimeout> | null = null;
  private timerAt = Infinity;
  private lastReceivedAt = 0;
  private lastSentAt = 0;
  private ackAt = Infinity;
  private refreshAt = Infinity;
  private reconnectAt = Infinity;
  private resendAt = Infinity;

  userId: string | undefined;
  deviceId: string | undefined;

  constructor(options: GatewayClientOptions) {
    const urls = typeof options.url === 'string' ? [options.url] : [...options.url];
    if (urls.length === 0) throw new GatewayError('INVALID_ARGUMENT', 'url: at least one gateway URL is needed');
    this.urls = urls;
    if (typeof options.token !== 'string' && typeof options.token !== 'function') {
      throw new GatewayError('INVALID_ARGUMENT', 'token: a JWT or a function returning one is needed');
    }
    this.tokens = new TokenSource(options.token);
    this.auth = options.auth ?? 'subprotocol';
    this.backoff = { ...DEFAULT_BACKOFF, ...options.reconnect };
    this.heartbeatMs = options.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_MS;
    if (!(this.heartbeatMs > 0) || !(this.backoff.initialDelayMs >= 0) || !(this.backoff.maxDelayMs >= 0)) {
      throw new GatewayError('INVALID_ARGUMENT', 'heartbeatIntervalMs must be above 0, reconnect delays at least 0');
    }
  }

  get state(): ConnectionState {
    return this.currentState;
  }

  /** Sends not yet acked. */
  get pending(): number {
    return this.outbox.size;
  }

  on<E extends keyof ClientEvents>(event: E, listener: Listener<E>): void {
    let set = this.listeners.get(event);
    if (set === undefined) this.listeners.set(event, (set = new Set()));
    set.add(listener as Listener<never>);
  }

  off<E extends keyof ClientEvents>(event: E, listener: Listener<E>): void {
    this.listeners.get(event)?.delete(listener as Listener<never>);
  }

  /**
   * Resolves once connected (`auth_response`); rejects with a GatewayError
   * when the gateway refuses for good (auth, device limit, replaced) or on
   * `close()`. Network failures are retried with backoff meanwhile.
   */
  connect(): Promise<void> {
    if (this.currentState === 'closed') return Promise.reject(closedError());
    if (this.currentState === 'connected') return Promise.resolve();
    const connected = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    // Disconnected with no reconnect scheduled: stopped, or never started.
    if (this.currentState === 'disconnected' && this.reconnectAt === Infinity) {
      this.attempt = 0;
      void this.open();
    }
    return connected;
  }

  /**
   * Sends a message; resolves with the gateway's ack. Kept until acked and
   * resent with the same msg_id on every new socket; rejects with the spec's
   * error code when the gateway refuses it for good, or CLOSED on `close()`.
   */
  send(recipientId: string, content: string, options: SendOptions = {}): Promise<SendAck> {
    if (this.currentState === 'closed') return Promise.reject(closedError());
    if (typeof recipientId !== 'string' || recipientId === '' || typeof content !== 'string') {
      return Promise.reject(new GatewayError('INVALID_ARGUMENT', 'send(recipientId, content): two strings, the first not empty'));
    }
    const msgId = options.msgId ?? crypto.randomUUID();
    const waiting = this.outbox.pending(msgId);
    if (waiting !== undefined) return waiting;
    const frame: SendMsgFrame = {
      type: 'send_msg',
      msg_id: msgId,
      recipient_id: recipientId,
      recipient_type: options.group === true ? 'group' : 'user',
      content,
      timestamp: Date.now(),
    };
    if (options.metadata !== undefined) frame.metadata = options.metadata;
    let text: string;
    try {
      text = JSON.stringify(frame);
    } catch (err) {
      return Promise.reject(new GatewayError('INVALID_ARGUMENT', `metadata cannot be sent as JSON: ${(err as Error).message}`, msgId));
    }
    // Behind sends waiting for a retry, a new one waits too, so as not to overtake them.
    const holdBack = this.outbox.holding;
    const acked = this.outbox.add(msgId, text, holdBack);
    if (!holdBack && this.currentState === 'connected') this.write(text);
    return acked;
  }

  /** Marks this message, and every earlier one of its conversation, read (an ack `read`, sent with the next batch). */
  markRead(message: Message): void {
    if (this.currentState === 'closed') return;
    this.inbox.markRead(message);
    this.scheduleAcks();
  }

  /** Closes for good: acks due are sent, pending sends reject with CLOSED. */
  async close(): Promise<void> {
    if (this.currentState === 'closed') return;
    if (this.currentState === 'connected') this.flushAcks();
    const socket = this.socket;
    this.detach();
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.setState({ state: 'closed' });
    this.outbox.rejectAll(closedError());
    this.settleWaiters(closedError());
    if (socket === null) return;
    await new Promise<void>((resolve) => {
      const done = setTimeout(resolve, CLOSE_WAIT_MS);
      socket.addEventListener('close', () => {
        clearTimeout(done);
        resolve();
      });
      socket.close(ClientClose.NORMAL, 'client closed');
    });
  }

  // --- the socket's life ---

  private async open(): Promise<void> {
    this.reconnectAt = Infinity;
    this.setState({ state: 'connecting' });
    let token: string;
    try {
      token = await this.tokens.next();
    } catch (err) {
      // A provider that failed (its own backend unreachable) is retried like a failed connect.
      this.emit('error', new GatewayError('AUTH_REQUIRED', `the token provider failed: ${(err as Error).message}`));
      if (this.currentState === 'connecting') this.closed(1006, 'no token', false);
      return;
    }
    if (this.currentState !== 'connecting' || this.socket !== null) return;
    this.tokenExpiresAt = tokenExpiry(token);
    const url = this.urls[this.urlIndex % this.urls.length]!;
    const Socket = (globalThis as unknown as { WebSocket?: SocketConstructor }).WebSocket;
    if (Socket === undefined) {
      this.stop(new GatewayError('INVALID_ARGUMENT', 'no global WebSocket: a browser or Node 22+ is needed'), 1006, 'no WebSocket');
      return;
    }
    const init: SocketInit = this.auth === 'header'
      ? { protocols: [SUBPROTOCOL], headers: { Authorization: `Bearer ${token}` } }
      : [SUBPROTOCOL, `bearer.${token}`];
    let socket: SocketLike;
    try {
      socket = new Socket(url, init);
    } catch (err) {
      // A malformed URL: retrying cannot help.
      this.stop(new GatewayError('INVALID_ARGUMENT', `cannot open ${url}: ${(err as Error).message}`), 1006, 'bad url');
      return;
    }
    this.socket = socket;
    this.authenticated = false;
    this.lastError = null;
    this.refreshing = false;
    // The handshake gets as long as a silent connection: three heartbeat intervals.
    this.lastReceivedAt = Date.now();
    socket.addEventListener('message', this.onSocketMessage);
    socket.addEventListener('close', this.onSocketClose);
    this.arm();
  }

  private readonly onSocketMessage = (event: SocketMessageEvent): void => {
    if (event.target !== this.socket || typeof event.data !== 'string') return;
    this.lastReceivedAt = Date.now();
    let frame: ServerFrame;
    try {
      frame = JSON.parse(event.data) as ServerFrame;
    } catch {
      this.emit('error', new GatewayError('INVALID_MESSAGE_FORMAT', 'the gateway sent a frame that is not JSON'));
      return;
    }
    this.onFrame(frame);
  };

  private readonly onSocketClose = (event: SocketCloseEvent): void => {
    if (event.target !== this.socket) return;
    const wasConnected = this.authenticated;
    this.detach();
    this.closed(event.code, event.reason, wasConnected);
  };

  /** Forgets the current socket: its later events are ignored. */
  private detach(): void {
    const socket = this.socket;
    if (socket === null) return;
    socket.removeEventListener('message', this.onSocketMessage);
    socket.removeEventListener('close', this.onSocketClose);
    this.socket = null;
    this.authenticated = false;
    this.refreshing = false;
    this.refreshAt = Infinity;
    this.resendAt = Infinity;
  }

  /** The socket is gone: reconnect after the delay its close code calls for, or stop. */
  private closed(code: number, reason: string, wasConnected: boolean): void {
    if (this.currentState === 'closed') return;
    const rule = closeRule(code);
    const delay = this.reconnectDelay(rule.policy, wasConnected);
    if (delay === undefined) {
      const said = this.lastError;
      if (said !== null && (!wasConnected || said.code === rule.errorCode)) this.stop(said, code, reason, wasConnected);
      else this.stop(new GatewayError(rule.errorCode ?? 'CONNECTION_CLOSED', reason || `closed with ${code}`), code, reason);
      return;
    }
    // The next node, for a fleet given as a list of URLs.
    this.urlIndex++;
    this.reconnectAt = Date.now() + delay;
    this.setState({ state: 'disconnected', code, reason, willReconnect: true });
    this.arm();
  }

  /** Milliseconds to wait before reconnecting after a close under `policy`, or undefined to stop. */
  private reconnectDelay(policy: ClosePolicy, wasConnected: boolean): number | undefined {
    switch (policy) {
      case 'drain':
        return drainDelay(this.backoff, Math.random);
      case 'backoff':
        return backoffDelay(this.attempt++, this.backoff, Math.random);
      case 'token':
        // Expired on an open socket: a provider gives a new token at once. Refused at connect: it just did not.
        return wasConnected && this.tokens.renewable ? drainDelay(this.backoff, Math.random) : undefined;
      case 'stop':
        return undefined;
    }
  }

  /**
   * No reconnect until the app calls `connect()`: pending sends wait for it
   * (or for `close()`). The error goes to `connect()`'s promise, else to the
   * app's error listeners unless they had it already.
   */
  private stop(err: GatewayError, code: number, reason: string, reported = false): void {
    this.reconnectAt = Infinity;
    this.setState({ state: 'disconnected', code, reason, willReconnect: false });
    if (this.waiters.length > 0) this.settleWaiters(err);
    else if (!reported) this.emit('error', err);
  }

  private settleWaiters(err?: GatewayError): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) {
      if (err === undefined) waiter.resolve();
      else waiter.reject(err);
    }
  }

  // --- frames from the gateway ---

  private onFrame(frame: ServerFrame): void {
    switch (frame.type) {
      case 'auth_response':
        // A refusal comes as an `error` frame and a close code; `success: false` waits for that close too.
        if (frame.success) this.onConnected(frame.user_id, frame.device_id);
        return;
      case 'ack':
        this.resendAttempt = 0;
        this.outbox.resolve(frame.msg_id, { msgId: frame.msg_id, sequenceNumber: frame.sequence_number, status: frame.status });
        return;
      case 'message': {
        if (this.userId === undefined) return;
        const message = this.inbox.accept(frame, this.userId);
        this.scheduleAcks();
        if (message !== undefined) this.emit('message', message);
        return;
      }
      case 'read_receipt':
        this.emit('receipt', { msgId: frame.msg_id, readerId: frame.reader_id, readAt: frame.read_at, timestamp: frame.timestamp });
        return;
      case 'membership_change':
        this.emit('membership', { groupId: frame.group_id, changeType: frame.change_type, userId: frame.user_id, timestamp: frame.timestamp });
        return;
      case 'refresh_token_response':
        this.refreshing = false;
        this.tokenExpiresAt = frame.expires_at;
        this.scheduleRefresh();
        return;
      case 'error':
        this.onError(frame);
        return;
      case 'heartbeat_response':
        return;
    }
  }

  private onConnected(userId: string, deviceId: string): void {
    this.userId = userId;
    this.deviceId = deviceId;
    this.authenticated = true;
    this.attempt = 0;
    this.lastSentAt = Date.now();
    // Acks first: they move the gateway's replay position before anything else happens on this socket.
    this.flushAcks();
    // Then the outbox, before the app hears `connected`: a send it makes then goes out after the older ones.
    for (const text of this.outbox.all()) this.write(text);
    this.scheduleRefresh();
    this.setState({ state: 'connected' });
    this.settleWaiters();
  }

  private onError(frame: ErrorFrame): void {
    const err = new GatewayError(frame.error_code, frame.error_message, frame.msg_id);
    if (frame.msg_id !== undefined && this.outbox.has(frame.msg_id)) {
      if (frame.error_code === 'DUPLICATE_MESSAGE' && typeof frame.sequence_number === 'number') {
        this.resendAttempt = 0;
        this.outbox.resolve(frame.msg_id, { msgId: frame.msg_id, sequenceNumber: frame.sequence_number, status: 'duplicate' });
      } else if (RETRIABLE_SEND_ERRORS.has(frame.error_code)) {
        this.outbox.hold(frame.msg_id);
        if (this.resendAt === Infinity) {
          this.resendAt = Date.now() + backoffDelay(this.resendAttempt++, this.backoff, Math.random);
          this.arm();
        }
      } else {
        this.outbox.reject(frame.msg_id, err);
      }
      return;
    }
    this.lastError = err;
    // Said before the close that refuses the connection: that close reports it.
    if (!this.authenticated) return;
    if (this.refreshing && TOKEN_ERRORS.has(frame.error_code) && frame.error_message.startsWith('token not refreshed')) {
      // The socket keeps its old expiry; at `exp` it closes 4003 and the next connect asks the provider again.
      this.refreshing = false;
    }
    this.emit('error', err);
  }

  // --- the timer ---

  /** Sets the one timer for the earliest deadline; a timer that fires early just re-arms. */
  private arm(): void {
    if (this.currentState === 'closed') return;
    const at = Math.min(this.nextHeartbeat(), this.deadAt(), this.ackAt, this.refreshAt, this.reconnectAt, this.resendAt);
    if (at === Infinity || at >= this.timerAt) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(this.onTimer, Math.min(MAX_TIMER_MS, Math.max(0, at - Date.now())));
  }

  private readonly onTimer = (): void => {
    this.timer = null;
    this.timerAt = Infinity;
    const now = Date.now();
    if (this.socket !== null && now >= this.deadAt()) {
      const socket = this.socket;
      const wasConnected = this.authenticated;
      this.detach();
      const reason = `no frame from the gateway for ${DEAD_AFTER_INTERVALS} heartbeat intervals`;
      socket.close(ClientClose.HEARTBEAT_TIMEOUT, 'heartbeat timeout');
      this.closed(ClientClose.HEARTBEAT_TIMEOUT, reason, wasConnected);
    }
    if (now >= this.reconnectAt) void this.open();
    if (now >= this.ackAt) this.flushAcks();
    if (now >= this.nextHeartbeat()) this.write('{"type":"heartbeat"}');
    if (now >= this.refreshAt) void this.refresh();
    if (now >= this.resendAt) {
      this.resendAt = Infinity;
      for (const text of this.outbox.release()) this.write(text);
    }
    this.arm();
  };

  private nextHeartbeat(): number {
    return this.authenticated ? this.lastSentAt + this.heartbeatMs : Infinity;
  }

  private deadAt(): number {
    return this.socket !== null ? this.lastReceivedAt + DEAD_AFTER_INTERVALS * this.heartbeatMs : Infinity;
  }

  private scheduleAcks(): void {
    if (this.ackAt !== Infinity || !this.inbox.hasAcks) return;
    this.ackAt = Date.now() + ACK_DELAY_MS;
    this.arm();
  }

  /** Sends the acks due; while disconnected they wait for the next socket. */
  private flushAcks(): void {
    this.ackAt = Infinity;
    if (!this.authenticated || !this.inbox.hasAcks) return;
    for (const ack of this.inbox.takeAcks(Date.now())) this.write(JSON.stringify(ack satisfies ClientFrame));
  }

  private scheduleRefresh(): void {
    this.refreshAt = this.tokens.renewable && this.tokenExpiresAt !== undefined ? refreshTime(this.tokenExpiresAt, Date.now()) : Infinity;
    this.arm();
  }

  /** Asks the provider for a newer token and hands it to the gateway on the open socket (`refresh_token`). */
  private async refresh(): Promise<void> {
    this.refreshAt = Infinity;
    if (this.refreshing || !this.authenticated) return;
    this.refreshing = true;
    const socket = this.socket;
    let token: string;
    try {
      token = await this.tokens.next();
    } catch (err) {
      this.refreshing = false;
      this.emit('error', new GatewayError('AUTH_REQUIRED', `the token provider failed: ${(err as Error).message}`));
      return;
    }
    if (this.socket !== socket || !this.authenticated) return;
    const expiresAt = tokenExpiry(token);
    if (expiresAt !== undefined && this.tokenExpiresAt !== undefined && expiresAt <= this.tokenExpiresAt) {
      // The provider still has the same token: at `exp` the socket closes 4003 and the reconnect asks again.
      this.refreshing = false;
      return;
    }
    this.write(JSON.stringify({ type: 'refresh_token', token } satisfies ClientFrame));
  }

  private write(text: string): void {
    if (this.socket === null || !this.authenticated) return;
    this.lastSentAt = Date.now();
    this.socket.send(text);
  }

  // --- events ---

  private setState(event: StateEvent): void {
    this.currentState = event.state;
    this.emit('state', event);
  }

  private emit<E extends keyof ClientEvents>(event: E, payload: ClientEvents[E]): void {
    const set = this.listeners.get(event);
    if (set === undefined) return;
    for (const listener of set) {
      try {
        (listener as Listener<E>)(payload);
      } catch (err) {
        // An app listener that throws must not break the connection's state machine: report it as uncaught.
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }
}

function closedError(): GatewayError {
  return new GatewayError('CLOSED', 'the client was closed');
}
