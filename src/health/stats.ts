/**
 * The checker's own figures: results by code, a check latency histogram and a scheduler lag
 * histogram (start − due). Fixed buckets, so that a status query or a metrics scrape costs the
 * same with 20 probes or 20,000, and quantiles are read from the buckets.
 */
import type { CheckResult } from "./types.js";

/** Upper bounds in ms; a last bucket holds everything above. */
export const LATENCY_BUCKETS_MS = [1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000] as const;
export const LAG_BUCKETS_MS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000] as const;

export interface HistogramSnapshot {
  buckets: readonly number[];
  /** counts[i] = observations ≤ buckets[i] and > buckets[i-1]; the last entry is the overflow. */
  counts: number[];
  sum: number;
  count: number;
}

export class Histogram {
  private readonly counts: number[];
  private sum = 0;
  private count = 0;

  constructor(private readonly buckets: readonly number[]) {
    this.counts = new Array(buckets.length + 1).fill(0);
  }

  record(value: number): void {
    let i = 0;
    while (i < this.buckets.length && value > (this.buckets[i] as number)) i++;
    this.counts[i] = (this.counts[i] as number) + 1;
    this.sum += value;
    this.count++;
  }

  snapshot(): HistogramSnapshot {
    return { buckets: this.buckets, counts: [...this.counts], sum: this.sum, count: this.count };
  }
}

/** The bucket bound at or above quantile q (0..1) of a snapshot; Infinity in the overflow. */
export function quantile(h: HistogramSnapshot, q: number): number {
  if (h.count === 0) return 0;
  // At least one observation: q = 0 is the lowest bucket that holds something, not the first bucket.
  const rank = Math.max(1, Math.ceil(q * h.count));
  let seen = 0;
  for (let i = 0; i < h.counts.length; i++) {
    seen += h.counts[i] as number;
    if (seen >= rank) return i < h.buckets.length ? (h.buckets[i] as number) : Number.POSITIVE_INFINITY;
  }
  return Number.POSITIVE_INFINITY;
}

export interface CheckStatsSnapshot {
  results: Record<string, number>;
  latency: HistogramSnapshot;
  lag: HistogramSnapshot;
  maxLagMs: number;
}

export class CheckStats {
  private readonly results = new Map<string, number>();
  private readonly latency = new Histogram(LATENCY_BUCKETS_MS);
  private readonly lag = new Histogram(LAG_BUCKETS_MS);
  private maxLagMs = 0;

  recordResult(result: CheckResult): void {
    this.results.set(result.code, (this.results.get(result.code) ?? 0) + 1);
    this.latency.record(result.durationMs);
  }

  recordLag(ms: number): void {
    const lag = Math.max(0, ms);
    this.lag.record(lag);
    if (lag > this.maxLagMs) this.maxLagMs = lag;
  }

  snapshot(): CheckStatsSnapshot {
    return {
      results: Object.fromEntries(this.results),
      latency: this.latency.snapshot(),
      lag: this.lag.snapshot(),
      maxLagMs: this.maxLagMs,
    };
  }
}
