// The connection state machine of session/session.ts as pure logic, on plain
// objects with the socket's session fields: each transition, what each state
// does with a live entry, and the transitions each state refuses.
import { describe, expect, it } from 'vitest';
import type { LogEntry } from '../../src/conversation-log/entry.ts';
import { privateLog, type LogId } from '../../src/conversation-log/log-id.ts';
import {
  admit, closed, closing, countFrame, countViolation, holdLive, isClosing, live, MAX_HELD_LIVE, registered, replayAgain,
  SessionState, type SessionFields,
} from '../../src/session/session.ts';

function fresh(): SessionFields {
  return { state: SessionState.Opening, held: null, lastSeen: 0, frames: 0, framesSince: 0, violations: 0, violationsSince: 0 };
}

const LOG: LogId = privateLog('alice', 'bob');

function entry(pos: number): LogEntry {
  return { pos, storedAt: pos, frame: { type: 'message', msg_id: `m${pos}`, sender_id: 'alice', recipient_id: 'bob', recipient_type: 'user', content: `c${pos}`, timestamp: pos, sequence_number: pos } } as LogEntry;
}

/** A session taken to `state` through the transitions that lead there. */
function at(state: SessionState): SessionFields {
  const s = fresh();
  if (state === SessionState.Opening) return s;
  if (state === SessionState.Closing) return closing(s), s;
  if (state === SessionState.Closed) return closed(s), s;
  admit(s);
  if (state === SessionState.Registering) return s;
  registered(s);
  if (state === SessionState.Replaying) return s;
  live(s);
  return s;
}

const ALL = Object.values(SessionState);

describe('connection state machine', () => {
  it('goes Opening, Registering, Replaying, Live, and hands replay the entries held since admit, oldest first', () => {
    const s = fresh();
    expect(admit(s)).toBe(true);
    expect(s.state).toBe(SessionState.Registering);
    expect(holdLive(s, LOG, entry(2), 'two')).toBe(true);
    expect(registered(s)).toBe(true);
    expect(s.state).toBe(SessionState.Replaying);
    expect(holdLive(s, LOG, entry(1), 'one')).toBe(true);
    expect(replayAgain(s)).toBe(false);
    expect(live(s).map((h) => h.text)).toEqual(['two', 'one']);
    expect(s.state).toBe(SessionState.Live);
    expect(s.held).toBeNull();
    // Live: entries go through the log order, none is held.
    expect(holdLive(s, LOG, entry(3), 'three')).toBe(false);
    expect(s.held).toBeNull();
  });

  it('refuses every forward transition from a state it does not leave, changing nothing', () => {
    for (const state of ALL) {
      const s = at(state);
      const before = { ...s };
      if (state !== SessionState.Opening) expect(admit(s)).toBe(false);
      if (state !== SessionState.Registering) expect(registered(s)).toBe(false);
      if (state !== SessionState.Replaying) expect(live(s)).toEqual([]);
      expect(replayAgain(s)).toBe(false);
      expect(s).toEqual(before);
    }
  });

  it('holds nothing for a socket not admitted yet or closing: such an entry is taken and dropped', () => {
    for (const state of [SessionState.Opening, SessionState.Closing, SessionState.Closed]) {
      const s = at(state);
      expect(holdLive(s, LOG, entry(1), 'one')).toBe(true);
      expect(s.held).toBeNull();
    }
  });

  it('drops the held entries once more than MAX_HELD_LIVE arrive, and runs replay again from an empty hold', () => {
    const s = at(SessionState.Replaying);
    for (let pos = 1; pos <= MAX_HELD_LIVE; pos++) holdLive(s, LOG, entry(pos), `e${pos}`);
    expect(s.held).toHaveLength(MAX_HELD_LIVE);
    expect(holdLive(s, LOG, entry(MAX_HELD_LIVE + 1), 'over')).toBe(true);
    expect(s.held).toHaveLength(0);
    expect(holdLive(s, LOG, entry(MAX_HELD_LIVE + 2), 'still over')).toBe(true);
    // Not Live while what overflowed is unread: live() hands over nothing and leaves the state.
    expect(live(s)).toEqual([]);
    expect(s.state).toBe(SessionState.Replaying);
    expect(replayAgain(s)).toBe(true);
    expect(replayAgain(s)).toBe(false);
    holdLive(s, LOG, entry(MAX_HELD_LIVE + 3), 'after the rerun started');
    expect(live(s).map((h) => h.text)).toEqual(['after the rerun started']);
  });

  it('goes Closing from every state but Closing and Closed, letting go of what was held', () => {
    for (const state of ALL) {
      const s = at(state);
      if (state === SessionState.Registering) holdLive(s, LOG, entry(1), 'one');
      const leaves = state !== SessionState.Closing && state !== SessionState.Closed;
      expect(closing(s)).toBe(leaves);
      expect(s.state).toBe(state === SessionState.Closed ? SessionState.Closed : SessionState.Closing);
      expect(s.held).toBeNull();
      expect(isClosing(s)).toBe(true);
    }
  });

  it('goes Closed from every state, saying which it left', () => {
    for (const state of ALL) {
      const s = at(state);
      expect(closed(s)).toBe(state);
      expect(s.state).toBe(SessionState.Closed);
      expect(s.held).toBeNull();
    }
  });

  it('is closing only once Closing or Closed', () => {
    expect(ALL.filter((state) => isClosing(at(state)))).toEqual([SessionState.Closing, SessionState.Closed]);
  });

  it('refuses registration and replay once a registering socket was replaced (closed by the gateway)', () => {
    const s = at(SessionState.Registering);
    holdLive(s, LOG, entry(1), 'one');
    closing(s);
    expect(registered(s)).toBe(false);
    expect(live(s)).toEqual([]);
    expect(s.state).toBe(SessionState.Closing);
  });
});

describe('activity and limits', () => {
  it('counts each frame as activity and allows maxPerSecond of them in a one-second window', () => {
    const s = at(SessionState.Live);
    for (let i = 0; i < 3; i++) expect(countFrame(s, 10_000 + i, 3)).toBe(true);
    expect(s.lastSeen).toBe(10_002);
    expect(countFrame(s, 10_500, 3)).toBe(false);
    expect(s.lastSeen).toBe(10_500);
    // A new window starts a second after the last one began.
    expect(countFrame(s, 11_000, 3)).toBe(true);
    expect(s.frames).toBe(1);
  });

  it('says to close at the max-th rate-limit violation within the window, and forgets violations of an old window', () => {
    const s = at(SessionState.Live);
    expect(countViolation(s, 1_000, 60_000, 3)).toBe(false);
    expect(countViolation(s, 2_000, 60_000, 3)).toBe(false);
    // The window (60 s from the first) passed: counting starts over.
    expect(countViolation(s, 61_001, 60_000, 3)).toBe(false);
    expect(s.violations).toBe(1);
    expect(countViolation(s, 61_002, 60_000, 3)).toBe(false);
    expect(countViolation(s, 61_003, 60_000, 3)).toBe(true);
  });
});
