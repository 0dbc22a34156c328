/**
 * One connection's life as a state machine kept in fields of the socket
 * itself (`state`, a small number, and `held`, set only while replay runs),
 * so a session costs no object, closure or timer of its own. These functions
 * are its transitions; each refuses (returns false, changes nothing) from a
 * state it does not leave.
 *
 *   Opening --admit--> Registering --registered--> Replaying --live--> Live
 *   every state but Closing and Closed --closing--> Closing
 *   every state --closed--> Closed
 *
 * Auth happens before Opening (api/ws-server.ts verifies the token during the
 * upgrade); a socket refused there goes from Opening straight to Closing.
 */
import type { LogEntry } from '../conversation-log/entry.ts';
import type { LogId } from '../conversation-log/log-id.ts';
import type { TextFrame } from '../connections/text-frame.ts';

export const SessionState = {
  /** Upgraded with a verified token; paused (its frames wait in the kernel) while the device limit is checked. */
  Opening: 0,
  /** In the hub, the heartbeat wheel and the expiry sweep; the registry write is under way. Live entries are held. */
  Registering: 1,
  /** Registered, auth_response sent, frames read; replay runs. Live entries are still held. */
  Replaying: 2,
  /** Replay done: live entries go through the socket's log order. */
  Live: 3,
  /** The gateway closes the socket: nothing more is sent to it or started for it. */
  Closing: 4,
  /** `close` came: out of the hub, the wheel, the sweep and the registry. */
  Closed: 5,
} as const;
export type SessionState = (typeof SessionState)[keyof typeof SessionState];

/** A live entry that reached the socket before its replay was done. */
export interface HeldEntry {
  log: LogId;
  entry: LogEntry;
  text: string | TextFrame;
}

/** The fields of a socket that make up its session (connections/client-socket.ts declares them). */
export interface SessionFields {
  state: SessionState;
  /** Live entries waiting for replay, from Registering until Live; null otherwise. */
  held: HeldEntry[] | null;
  /** Last time any frame arrived; the heartbeat wheel reads it. */
  lastSeen: number;
  /** Frames received in the current one-second window, and when it started (MAX_FRAMES_PER_SECOND). */
  frames: number;
  framesSince: number;
  /** Rate-limit violations in the current window, and when it started. */
  violations: number;
  violationsSince: number;
}

/** Entries held for one socket before replay reads them from the logs instead. */
export const MAX_HELD_LIVE = 1000;

/**
 * Put in place of the held entries when more than MAX_HELD_LIVE arrived: all of
 * them are in the logs, so replay runs once more instead of holding more.
 */
const OVERFLOWED: HeldEntry[] = Object.freeze([]) as unknown as HeldEntry[];
const NONE: readonly HeldEntry[] = Object.freeze([]);

/** Opening -> Registering: the socket is about to join the hub; live entries are held from here on. */
export function admit(s: SessionFields): boolean {
  if (s.state !== SessionState.Opening) return false;
  s.state = SessionState.Registering;
  s.held = [];
  return true;
}

/**
 * Registering -> Replaying: the registry holds the device. Refused once the
 * socket is closing or closed (closed by the client, replaced, expired while
 * the registry was written): the caller then removes the registration itself.
 */
export function registered(s: SessionFields): boolean {
  if (s.state !== SessionState.Registering) return false;
  s.state = SessionState.Replaying;
  return true;
}

/**
 * A live entry for this socket: true when the socket takes it now by other
 * means (held until replay is done, or dropped because the socket is not
 * open for entries: not admitted yet, or closing); false when it is Live and
 * the entry goes through its log order.
 */
export function holdLive(s: SessionFields, log: LogId, entry: LogEntry, text: string | TextFrame): boolean {
  switch (s.state) {
    case SessionState.Live:
      return false;
    case SessionState.Registering:
    case SessionState.Replaying: {
      const held = s.held!;
      if (held === OVERFLOWED) return true;
      if (held.length < MAX_HELD_LIVE) held.push({ log, entry, text });
      else s.held = OVERFLOWED;
      return true;
    }
    default:
      return true;
  }
}

/**
 * At the end of a replay round: true when the held entries overflowed, so
 * the round is run again (from an empty hold); false when replay can go Live.
 */
export function replayAgain(s: SessionFields): boolean {
  if (s.state !== SessionState.Replaying || s.held !== OVERFLOWED) return false;
  s.held = [];
  return true;
}

/**
 * Replaying -> Live: returns the entries held meanwhile, oldest first, for
 * the caller to pass through the socket's log order. Refused (nothing to
 * pass on) when the socket is closing or closed.
 */
export function live(s: SessionFields): readonly HeldEntry[] {
  if (s.state !== SessionState.Replaying || s.held === OVERFLOWED) return NONE;
  const held = s.held ?? NONE;
  s.state = SessionState.Live;
  s.held = null;
  return held;
}

/** Any state but Closing and Closed -> Closing. False when the socket was already closing or closed. */
export function closing(s: SessionFields): boolean {
  if (isClosing(s)) return false;
  s.state = SessionState.Closing;
  s.held = null;
  return true;
}

/** Any state -> Closed (the socket's `close` event); returns the state it left. */
export function closed(s: SessionFields): SessionState {
  const was = s.state;
  s.state = SessionState.Closed;
  s.held = null;
  return was;
}

/** Closing or closed: the gateway sends nothing more and starts nothing for the socket. */
export function isClosing(s: SessionFields): boolean {
  return s.state >= SessionState.Closing;
}

/**
 * A frame arrived: it counts as activity (the heartbeat wheel reads
 * `lastSeen`) and in the socket's one-second window. False once the window
 * holds more than `maxPerSecond` frames. Counters on the socket, no timer.
 */
export function countFrame(s: SessionFields, now: number, maxPerSecond: number): boolean {
  s.lastSeen = now;
  if (now - s.framesSince >= 1000) {
    s.framesSince = now;
    s.frames = 0;
  }
  return ++s.frames <= maxPerSecond;
}

/**
 * A RATE_LIMIT_EXCEEDED answer was sent: counts it in a window of
 * `windowMs`. True when that makes `max` in the window (the socket is to be closed).
 */
export function countViolation(s: SessionFields, now: number, windowMs: number, max: number): boolean {
  if (now - s.violationsSince > windowMs) {
    s.violationsSince = now;
    s.violations = 0;
  }
  return ++s.violations >= max;
}
