/**
 * The in-memory store's dedup keys: (sender, msg_id) -> the position it was
 * stored at, remembered for at least `ttlMs` and at most `maxKeys` at a time.
 *
 * Two generations of maps: new keys go into the current one; once it holds
 * half the cap, or its first key is a TTL old, it becomes the previous
 * one and the old previous is dropped whole. Every operation is O(1), with no
 * scan and no timer. (Evicting the oldest key of one Map one at a time is not
 * O(1) in V8: `keys().next()` walks the holes deletes leave behind.)
 *
 * A generation expires as a whole, a TTL after its last key: a key is kept
 * for at least its TTL (at most two), or until at least maxKeys/2 newer keys
 * came.
 * Values are the bare positions (small integers, no object per key): what the
 * store retains per message is most of what its garbage collection costs.
 */
export class DedupWindow {
  private readonly ttlMs: number;
  private readonly generationMax: number;
  private current = new Map<string, number>();
  private previous = new Map<string, number>();
  /** When the current generation took its first key. */
  private currentSince = 0;
  /** When the current generation took its last key. */
  private currentLast = 0;
  /** When every key of the previous generation expires. */
  private previousExpiresAt = 0;

  constructor(ttlMs: number, maxKeys: number) {
    this.ttlMs = ttlMs;
    this.generationMax = Math.max(1, Math.floor(maxKeys / 2));
  }

  get size(): number {
    return this.current.size + this.previous.size;
  }

  /** The position stored under `key`, or null when unknown or expired. */
  get(key: string, now: number): number | null {
    if (now < this.currentLast + this.ttlMs) {
      const pos = this.current.get(key);
      if (pos !== undefined) return pos;
    }
    if (now < this.previousExpiresAt) return this.previous.get(key) ?? null;
    return null;
  }

  set(key: string, pos: number, now: number): void {
    this.sweep(now);
    if (this.current.size >= this.generationMax) this.rotate();
    if (this.current.size === 0) this.currentSince = now;
    this.currentLast = now;
    this.current.set(key, pos);
  }

  /** Drops what has expired and starts a new generation when one is due; called on every set and by the store's sweep. */
  sweep(now: number): void {
    if (this.previous.size > 0 && now >= this.previousExpiresAt) this.previous = new Map();
    // Everything in the previous generation is older than the current's first key: a TTL old too.
    if (this.current.size > 0 && now - this.currentSince >= this.ttlMs) this.rotate();
  }

  private rotate(): void {
    this.previous = this.current;
    this.previousExpiresAt = this.currentLast + this.ttlMs;
    this.current = new Map();
  }
}
