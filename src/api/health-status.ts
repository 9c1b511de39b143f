/**
 * The health part of `vipd status` (GET /status → `health`) and its human view, pure: built
 * from what the health manager and its worker report.
 */
import { type HistogramSnapshot, quantile } from "../health/stats.js";
import { formatTable } from "./table.js";

export interface ProbeResultStatus {
  ok: boolean;
  code: string;
  reason: string;
  durationMs: number;
  /** How long ago, at the time of the status. */
  agoMs: number;
}

export interface CheckStatus {
  probe: string;
  type: string;
  health: "up" | "down";
  reason: string;
  last: ProbeResultStatus | null;
}

export interface RealServerHealthStatus {
  virtualServer: string;
  realServer: string;
  /** up, down, slow_start, drain, disabled, maint (agent), guard (kept in by max_down). */
  state: string;
  reason: string;
  code: string;
  /** ISO time of the last state change. */
  since: string;
  /** The weight vipd gives it now; null when it is out of the table. */
  weight: number | null;
  configuredWeight: number;
  checks: CheckStatus[];
}

export interface LatencySummary {
  p50: number;
  p99: number;
  count: number;
  histogram: HistogramSnapshot;
}

export interface HealthStatus {
  /** Probes after deduplication, and real-server checks before it. */
  probes: number;
  subscriptions: number;
  /** subscriptions / probes (1 = nothing shared). */
  dedupRatio: number;
  inFlight: number;
  /** "running", or why the worker could not be asked. */
  worker: string;
  results: Record<string, number>;
  latencyMs: LatencySummary;
  schedulerLagMs: LatencySummary & { max: number };
  /** Real server transitions by "up:<code>" / "down:<code>". */
  transitions: Record<string, number>;
  guardHolds: number;
  realServers: RealServerHealthStatus[];
}

export function latencySummary(h: HistogramSnapshot): LatencySummary {
  return { p50: quantile(h, 0.5), p99: quantile(h, 0.99), count: h.count, histogram: h };
}

/** The human view: one line per real server, then the checker's own figures. */
export function formatHealth(h: HealthStatus): string[] {
  const lines = [
    `Health checks: ${h.probes} probes for ${h.subscriptions} checks (dedup ×${h.dedupRatio.toFixed(2)}), ${h.inFlight} in flight, worker ${h.worker}`,
    `  latency p50 ${h.latencyMs.p50} ms, p99 ${h.latencyMs.p99} ms; scheduler lag p99 ${h.schedulerLagMs.p99} ms (max ${Math.round(h.schedulerLagMs.max)} ms)`,
  ];
  if (h.realServers.length === 0) return lines;
  const rows = [["VIRTUAL", "REAL", "STATE", "WEIGHT", "LAST", "REASON"]];
  for (const rs of h.realServers) {
    const last = rs.checks.find((c) => c.last !== null)?.last;
    rows.push([
      rs.virtualServer,
      rs.realServer,
      rs.state,
      rs.weight === null ? "-" : `${rs.weight}/${rs.configuredWeight}`,
      last ? `${last.code} ${last.durationMs.toFixed(1)}ms` : "-",
      rs.reason,
    ]);
  }
  return [...lines, ...formatTable(rows)];
}
