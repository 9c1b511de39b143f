import { describe, expect, it } from "vitest";
import { formatHealth, type HealthStatus, latencySummary } from "../../../src/api/health-status.js";
import { Histogram, LAG_BUCKETS_MS, LATENCY_BUCKETS_MS } from "../../../src/health/stats.js";

function status(over: Partial<HealthStatus> = {}): HealthStatus {
  const latency = new Histogram(LATENCY_BUCKETS_MS);
  for (const ms of [2, 2, 2, 700]) latency.record(ms);
  const lag = new Histogram(LAG_BUCKETS_MS);
  lag.record(3);
  return {
    probes: 2,
    subscriptions: 3,
    dedupRatio: 1.5,
    inFlight: 0,
    worker: "running",
    results: {},
    latencyMs: latencySummary(latency.snapshot()),
    schedulerLagMs: { ...latencySummary(lag.snapshot()), max: 3.2 },
    transitions: {},
    guardHolds: 0,
    realServers: [
      {
        virtualServer: "web",
        realServer: "10.0.0.21:80",
        state: "up",
        reason: "ok",
        code: "ok",
        since: "2026-12-03T10:00:00.000Z",
        weight: 1,
        configuredWeight: 1,
        checks: [
          {
            probe: "http 10.0.0.21:80 #a",
            type: "http",
            health: "up",
            reason: "ok",
            last: { ok: true, code: "ok", reason: "ok", durationMs: 2.04, agoMs: 300 },
          },
        ],
      },
      {
        virtualServer: "web",
        realServer: "10.0.0.22:80",
        state: "down",
        reason: "tls: unknown CA",
        code: "tls",
        since: "2026-12-03T10:00:00.000Z",
        weight: null,
        configuredWeight: 5,
        checks: [],
      },
    ],
    ...over,
  };
}

describe("formatHealth", () => {
  it("summarises the checker and lists every real server with state, weight, last result and reason", () => {
    expect(formatHealth(status())).toEqual([
      "Health checks: 2 probes for 3 checks (dedup ×1.50), 0 in flight, worker running",
      "  latency p50 2.5 ms, p99 1000 ms; scheduler lag p99 5 ms (max 3 ms)",
      "  VIRTUAL  REAL          STATE  WEIGHT  LAST      REASON",
      "  web      10.0.0.21:80  up     1/1     ok 2.0ms  ok",
      "  web      10.0.0.22:80  down   -       -         tls: unknown CA",
    ]);
  });

  it("prints only the summary when no real server is checked", () => {
    expect(formatHealth(status({ realServers: [] }))).toHaveLength(2);
  });
});
