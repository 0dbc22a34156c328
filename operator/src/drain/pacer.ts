/**
 * The fleet-wide reconnect budget: every drain of a fleet takes its closes
 * from one pacer, so two drains at once share `closesPerSecond` instead of
 * each closing at that rate (the surviving pods take the reconnects, and
 * they do not care which drain sent them).
 */
export class Pacer {
  private readonly spacingMs: number;
  /** When the next close may happen, milliseconds since the epoch. */
  private nextFree = 0;

  constructor(closesPerSecond: number) {
    if (!(closesPerSecond > 0)) throw new RangeError(`closesPerSecond must be positive, got ${closesPerSecond}`);
    this.spacingMs = 1000 / closesPerSecond;
  }

  get closesPerSecond(): number {
    return 1000 / this.spacingMs;
  }

  /** Waits for the next free slot and takes it. */
  async take(): Promise<void> {
    const now = Date.now();
    const at = Math.max(now, this.nextFree);
    this.nextFree = at + this.spacingMs;
    if (at > now) await new Promise((resolve) => setTimeout(resolve, at - now));
  }

  /** Counts closes already made beyond the slot taken (a user with several devices): later takers wait for them. */
  charge(closes: number): void {
    if (closes <= 0) return;
    this.nextFree = Math.max(this.nextFree, Date.now()) + closes * this.spacingMs;
  }
}
