/**
 * Percentiles. `Histogram` records latencies in microseconds into log-linear
 * buckets (under 1% relative error, fixed size), so load workers can record
 * millions of samples and the orchestrator can merge them; `percentile` is the
 * exact version for short lists such as repeated fan-out sends.
 */

/** 64 sub-buckets per power of two: a value's bucket is within 1/64 of it. */
const SUB_BITS = 6;
const SUB = 1 << SUB_BITS;
/** Values up to 2^31 us (35 minutes); larger ones land in the last bucket. */
const BUCKETS = (31 - SUB_BITS) * SUB + 2 * SUB;

function bucketOf(us: number): number {
  const v = Math.max(0, Math.min(0x7fffffff, Math.round(us)));
  if (v < 2 * SUB) return v;
  const shift = 31 - Math.clz32(v) - SUB_BITS;
  return shift * SUB + (v >>> shift);
}

/** Midpoint of a bucket, in microseconds. */
function valueOf(bucket: number): number {
  if (bucket < 2 * SUB) return bucket;
  const shift = Math.floor(bucket / SUB) - 1;
  const mantissa = bucket - shift * SUB;
  return (mantissa << shift) + ((1 << shift) - 1) / 2;
}

/** Sparse form for IPC and JSON: [bucket, count] pairs plus exact min, max and sum. */
export interface HistogramData {
  counts: Array<[number, number]>;
  min: number;
  max: number;
  sumMs: number;
}

export class Histogram {
  private readonly counts = new Float64Array(BUCKETS);
  total = 0;
  private minMs = Infinity;
  private maxMs = 0;
  private sumMs = 0;

  record(ms: number): void {
    this.counts[bucketOf(ms * 1000)]!++;
    this.total++;
    if (ms < this.minMs) this.minMs = ms;
    if (ms > this.maxMs) this.maxMs = ms;
    this.sumMs += ms;
  }

  merge(data: HistogramData): void {
    for (const [bucket, count] of data.counts) {
      this.counts[bucket]! += count;
      this.total += count;
    }
    if (data.counts.length > 0) {
      this.minMs = Math.min(this.minMs, data.min);
      this.maxMs = Math.max(this.maxMs, data.max);
      this.sumMs += data.sumMs;
    }
  }

  /** The p-th percentile in milliseconds (0 < p <= 100); NaN when empty. */
  percentile(p: number): number {
    if (this.total === 0) return NaN;
    if (p >= 100) return this.maxMs;
    const rank = Math.max(1, Math.ceil((p / 100) * this.total));
    let seen = 0;
    for (let b = 0; b < BUCKETS; b++) {
      seen += this.counts[b]!;
      if (seen >= rank) return Math.min(this.maxMs, Math.max(this.minMs, valueOf(b) / 1000));
    }
    return this.maxMs;
  }

  get mean(): number {
    return this.total === 0 ? NaN : this.sumMs / this.total;
  }

  get max(): number {
    return this.total === 0 ? NaN : this.maxMs;
  }

  toData(): HistogramData {
    const counts: Array<[number, number]> = [];
    for (let b = 0; b < BUCKETS; b++) if (this.counts[b]! > 0) counts.push([b, this.counts[b]!]);
    return { counts, min: this.minMs, max: this.maxMs, sumMs: this.sumMs };
  }

  /** p50/p99/p999/max in ms, rounded for reports. */
  summary(): LatencySummary {
    return {
      count: this.total,
      p50: round(this.percentile(50)),
      p99: round(this.percentile(99)),
      p999: round(this.percentile(99.9)),
      max: round(this.max),
      mean: round(this.mean),
    };
  }
}

export interface LatencySummary {
  count: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

/** Exact percentile (nearest rank) of a list; NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1]!;
}

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/** Rounds for reports: two decimals are enough for ms and KB figures. */
export function round(value: number, digits = 2): number {
  if (!Number.isFinite(value)) return value;
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
