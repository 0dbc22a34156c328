/**
 * The in-memory store's dedup keys: (sender, msg_id) -> the position it was
 * stored at, remembered for `ttlMs` and at most `maxKeys` at a time.
 *
 * Two generations of maps: new keys go into the current one; once it holds
 * half the cap, or its first key is a TTL old, it becomes the previous one
 * and the old previous is dropped whole. Every operation is O(1), with no scan
 * and no timer; a key is remembered until its TTL, or until at least maxKeys/2
 * newer keys came after it. (Evicting the oldest key of one Map one at a time
 * is not O(1) in V8: `keys().next()` walks the holes deletes leave behind.)
 */
interface Seen {
  pos: number;
  expiresAt: number;
}

export class DedupWindow {
  private readonly ttlMs: number;
  private readonly generationMax: number;
  private current = new Map<string, Seen>();
  private previous = new Map<string, Seen>();
  /** When the current generation took its first key. */
  private currentSince = 0;
  /** When the current generation took its last key. */
  private currentLast = 0;
  /** Every key of the previous generation has expired by then. */
  private previousExpiresBy = 0;

  constructor(ttlMs: number, maxKeys: number) {
    this.ttlMs = ttlMs;
    this.generationMax = Math.max(1, Math.floor(maxKeys / 2));
  }

  get size(): number {
    return this.current.size + this.previous.size;
  }

  /** The position stored under `key`, or null when unknown or expired. */
  get(key: string, now: number): number | null {
    const seen = this.current.get(key) ?? this.previous.get(key);
    return seen !== undefined && seen.expiresAt > now ? seen.pos : null;
  }

  set(key: string, pos: number, now: number): void {
    this.sweep(now);
    if (this.current.size >= this.generationMax) this.rotate();
    if (this.current.size === 0) this.currentSince = now;
    this.currentLast = now;
    this.current.set(key, { pos, expiresAt: now + this.ttlMs });
  }

  /** Drops what has expired; called on every set and by the store's sweep. */
  sweep(now: number): void {
    if (this.previous.size > 0 && now >= this.previousExpiresBy) this.previous = new Map();
    // Everything in the previous generation is older still: it has expired too.
    if (this.current.size > 0 && now - this.currentSince >= this.ttlMs) this.rotate();
  }

  private rotate(): void {
    this.previous = this.current;
    this.previousExpiresBy = this.currentLast + this.ttlMs;
    this.current = new Map();
  }
}
