/**
 * Heartbeat timeouts for every socket on one timer. A socket sits in the slot
 * of its deadline; activity only updates `lastSeen`. When a slot comes due,
 * sockets seen since are moved to their new slot and the rest expire. Cost:
 * one interval for the process, O(1) per frame, amortised O(1) per socket per
 * timeout period.
 */

export interface Tracked {
  lastSeen: number;
  wheelSlot: number;
}

export class HeartbeatWheel<T extends Tracked> {
  private readonly timeoutMs: number;
  private readonly tickMs: number;
  private readonly slots: Array<Set<T>>;
  private readonly onExpire: (item: T) => void;
  private lastTick: number;
  private timer: NodeJS.Timeout | null = null;

  constructor(timeoutMs: number, onExpire: (item: T) => void, now: number = Date.now()) {
    this.timeoutMs = timeoutMs;
    // About a hundred slots per timeout keeps expiry within 1% of the timeout.
    this.tickMs = Math.max(10, Math.min(1000, Math.ceil(timeoutMs / 100)));
    this.slots = Array.from({ length: Math.ceil(timeoutMs / this.tickMs) + 2 }, () => new Set<T>());
    this.onExpire = onExpire;
    this.lastTick = Math.floor(now / this.tickMs);
  }

  start(): void {
    if (this.timer !== null) return;
    this.timer = setInterval(() => this.advance(Date.now()), this.tickMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  add(item: T): void {
    this.place(item, this.dueTick(item));
  }

  remove(item: T): void {
    if (item.wheelSlot >= 0) this.slots[item.wheelSlot]!.delete(item);
    item.wheelSlot = -1;
  }

  /** Processes every tick up to `now`; exposed so tests can drive time. */
  advance(now: number): void {
    const target = Math.floor(now / this.tickMs);
    for (let tick = this.lastTick + 1; tick <= target; tick++) {
      const slot = this.slots[tick % this.slots.length]!;
      if (slot.size === 0) continue;
      for (const item of slot) {
        const due = this.dueTick(item);
        if (due > tick) {
          this.place(item, due);
        } else {
          this.remove(item);
          this.onExpire(item);
        }
      }
    }
    this.lastTick = target;
  }

  /** The first tick at or after the item's deadline: its slot comes due only once the deadline has passed. */
  private dueTick(item: T): number {
    return Math.ceil((item.lastSeen + this.timeoutMs) / this.tickMs);
  }

  private place(item: T, due: number): void {
    // A deadline is at most one timeout ahead, so it never wraps onto a live slot.
    const index = due % this.slots.length;
    if (item.wheelSlot >= 0 && item.wheelSlot !== index) this.slots[item.wheelSlot]!.delete(item);
    item.wheelSlot = index;
    this.slots[index]!.add(item);
  }
}
