import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  CheckStats,
  Histogram,
  LAG_BUCKETS_MS,
  LATENCY_BUCKETS_MS,
  quantile,
} from "../../../src/health/stats.js";

describe("Histogram", () => {
  it("puts a value in the first bucket whose bound is ≥ it; the last bucket holds the rest", () => {
    const h = new Histogram([1, 10, 100]);
    for (const v of [0, 1, 1.5, 10, 11, 100, 101, 1e9]) h.record(v);
    expect(h.snapshot()).toEqual({
      buckets: [1, 10, 100],
      counts: [2, 2, 2, 2],
      sum: 1 + 1.5 + 10 + 11 + 100 + 101 + 1e9,
      count: 8,
    });
  });

  it("snapshots are copies", () => {
    const h = new Histogram([1]);
    const s = h.snapshot();
    h.record(5);
    expect(s.counts).toEqual([0, 0]);
  });
});

describe("quantile", () => {
  const of = (values: number[], buckets: readonly number[] = LATENCY_BUCKETS_MS) => {
    const h = new Histogram(buckets);
    for (const v of values) h.record(v);
    return h.snapshot();
  };

  it("is 0 for no observations", () => {
    expect(quantile(of([]), 0.5)).toBe(0);
  });

  it("is the bucket bound at or above the quantile", () => {
    const s = of([3, 3, 3, 3, 3, 3, 3, 3, 3, 700]);
    expect(quantile(s, 0.5)).toBe(5);
    expect(quantile(s, 0.9)).toBe(5);
    expect(quantile(s, 0.99)).toBe(1000);
    expect(quantile(s, 1)).toBe(1000);
  });

  it("is Infinity in the overflow bucket", () => {
    expect(quantile(of([1e6]), 0.5)).toBe(Number.POSITIVE_INFINITY);
  });

  it("q = 0 is the lowest bucket that holds something", () => {
    expect(quantile(of([40, 40]), 0)).toBe(50);
  });

  it("property: every quantile bounds that share of the observations", () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0, max: 20_000, noNaN: true }), { minLength: 1, maxLength: 200 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (values, q) => {
          const bound = quantile(of(values), q);
          const below = values.filter((v) => v <= bound).length;
          expect(below).toBeGreaterThanOrEqual(Math.ceil(q * values.length));
          expect(below).toBeGreaterThan(0);
        },
      ),
    );
  });
});

describe("CheckStats", () => {
  it("counts results by code, latencies and lag", () => {
    const s = new CheckStats();
    s.recordResult({ ok: true, code: "ok", reason: "ok", durationMs: 3 });
    s.recordResult({ ok: false, code: "timeout", reason: "timeout", durationMs: 500 });
    s.recordResult({ ok: true, code: "ok", reason: "ok", durationMs: 4 });
    s.recordLag(0);
    s.recordLag(-5); // a timer that fired early counts as no lag
    s.recordLag(120);
    const snap = s.snapshot();
    expect(snap.results).toEqual({ ok: 2, timeout: 1 });
    expect(snap.latency.count).toBe(3);
    expect(snap.latency.sum).toBe(507);
    expect(snap.lag.count).toBe(3);
    expect(snap.lag.buckets).toBe(LAG_BUCKETS_MS);
    expect(snap.lag.counts[0]).toBe(2);
    expect(snap.maxLagMs).toBe(120);
  });
});
