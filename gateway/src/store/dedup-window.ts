/**
 * The in-memory store's dedup keys: (scope, id) -> the position it was stored
 * at, remembered for at least `ttlMs` and at most `maxKeys` at a time. The
 * scope is the sender (or `push:` and the sender), the id the client's msg_id.
 *
 * Two generations: new keys go into the current one; once it holds half the
 * cap, or its first key is a TTL old, it becomes the previous one and the old
 * previous is dropped whole. Every operation is O(1), with no scan and no
 * timer. (Evicting the oldest key of one Map one at a time is not O(1) in V8:
 * `keys().next()` walks the holes deletes leave behind.)
 *
 * A generation expires as a whole, a TTL after its last key: a key is kept
 * for at least its TTL (at most two), or until at least maxKeys/2 newer keys
 * came.
 *
 * A generation is a map per scope of ids: no key string is built per message
 * (a `scope:id` string costs a concatenation, its flattening and hashing on
 * every send, and ~70 bytes held per key), and the id is the string the
 * message already holds. Values are bare positions (small integers, no object
 * per key): what the store retains per message is most of what its garbage
 * collection costs.
 */
type Generation = Map<string, Map<string, number>>;

export class DedupWindow {
  private readonly ttlMs: number;
  private readonly generationMax: number;
  private current: Generation = new Map();
  private previous: Generation = new Map();
  private currentSize = 0;
  private previousSize = 0;
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
    return this.currentSize + this.previousSize;
  }

  /** The position stored under (scope, id), or null when unknown or expired. */
  get(scope: string, id: string, now: number): number | null {
    if (now < this.currentLast + this.ttlMs) {
      const pos = this.current.get(scope)?.get(id);
      if (pos !== undefined) return pos;
    }
    if (now < this.previousExpiresAt) return this.previous.get(scope)?.get(id) ?? null;
    return null;
  }

  set(scope: string, id: string, pos: number, now: number): void {
    this.sweep(now);
    if (this.currentSize >= this.generationMax) this.rotate();
    if (this.currentSize === 0) this.currentSince = now;
    this.currentLast = now;
    let ids = this.current.get(scope);
    if (ids === undefined) {
      ids = new Map();
      this.current.set(scope, ids);
    }
    const before = ids.size;
    ids.set(id, pos);
    this.currentSize += ids.size - before;
  }

  /** Drops what has expired and starts a new generation when one is due; called on every set and by the store's sweep. */
  sweep(now: number): void {
    if (this.previousSize > 0 && now >= this.previousExpiresAt) {
      this.previous = new Map();
      this.previousSize = 0;
    }
    // Everything in the previous generation is older than the current's first key: a TTL old too.
    if (this.currentSize > 0 && now - this.currentSince >= this.ttlMs) this.rotate();
  }

  private rotate(): void {
    this.previous = this.current;
    this.previousSize = this.currentSize;
    this.previousExpiresAt = this.currentLast + this.ttlMs;
    this.current = new Map();
    this.currentSize = 0;
  }
}
