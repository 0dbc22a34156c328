/**
 * One socket's progress through one log: the highest position it has been
 * given (written, or passed over as not meant for this device), and the live
 * entries that arrived early. Entries of a conversation reach a node from
 * several senders' nodes, per-node Kafka consumers and retries, in any order;
 * a socket must still see each log in position order with no gap, or a
 * cumulative ack could pass a message the device never got. Pure bookkeeping:
 * LocalDelivery does the writing and reads gaps from the store.
 */
import type { LogEntry } from '../conversation-log/entry.ts';
import type { TextFrame } from '../connections/text-frame.ts';

/** An entry with its encoded frame, waiting for the entries before it. */
export interface Early {
  entry: LogEntry;
  text: string | TextFrame;
}

/** `given` of a log whose starting point on this socket is not known yet. */
export const UNKNOWN = -1;

export type Placement = 'next' | 'seen' | 'early';

export class LogOrder {
  /** Highest position given to the socket; UNKNOWN until read from the device's cursor. */
  given: number;
  /** Early entries, ascending by position, each once. */
  held: Early[] | null = null;
  /** When the oldest gap was first seen (ms since epoch). */
  since = 0;
  /** A read of the gap from the store is under way: arrivals are held meanwhile. */
  filling = false;

  constructor(given = UNKNOWN) {
    this.given = given;
  }

  place(pos: number): Placement {
    if (pos <= this.given) return 'seen';
    return pos === this.given + 1 && !this.filling ? 'next' : 'early';
  }

  /** Holds an early entry in position order; returns how many are held. */
  hold(early: Early, now: number): number {
    const held = this.held;
    if (held === null) {
      this.held = [early];
      this.since = now;
      return 1;
    }
    const pos = early.entry.pos;
    let i = held.length;
    while (i > 0 && held[i - 1]!.entry.pos > pos) i--;
    if (i > 0 && held[i - 1]!.entry.pos === pos) return held.length;
    held.splice(i, 0, early);
    return held.length;
  }

  /**
   * Removes and returns the held entries that now follow `given` without a
   * gap (dropping those at or below it), advancing `given` past them.
   */
  takeReady(now: number): Early[] {
    const held = this.held;
    if (held === null) return NONE;
    let start = 0;
    while (start < held.length && held[start]!.entry.pos <= this.given) start++;
    let end = start;
    while (end < held.length && held[end]!.entry.pos === this.given + 1 + (end - start)) end++;
    const ready = held.slice(start, end);
    if (ready.length > 0) this.given = ready[ready.length - 1]!.entry.pos;
    if (end === held.length) this.held = null;
    else {
      held.splice(0, end);
      // What is left waits behind a new gap: its wait starts now.
      if (end > 0) this.since = now;
    }
    return ready;
  }
}

const NONE: Early[] = [];
