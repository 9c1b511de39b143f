import { describe, expect, it } from "vitest";
import type { HealthStatus } from "../../../src/api/health-status.js";
import { latencySummary } from "../../../src/api/health-status.js";
import {
  escapeLabelValue,
  formatValue,
  PROMETHEUS_CONTENT_TYPE,
  renderPrometheus,
} from "../../../src/api/metrics.js";
import { buildStatus } from "../../../src/api/status.js";
import { Histogram, LAG_BUCKETS_MS, LATENCY_BUCKETS_MS } from "../../../src/health/stats.js";
import { instance, sampleStatus, statusInput } from "./fixtures.js";

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: string;
}

/** A strict reader of the 0.0.4 text format: fails on any line it does not understand. */
function parse(text: string): { help: Map<string, string>; type: Map<string, string>; samples: Sample[] } {
  expect(text.endsWith("\n")).toBe(true);
  const help = new Map<string, string>();
  const type = new Map<string, string>();
  const samples: Sample[] = [];
  const families: string[] = [];
  const name = "[a-zA-Z_:][a-zA-Z0-9_:]*";
  const label = `[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*"`;
  const sampleRe = new RegExp(`^(${name})(?:\\{(${label}(?:,${label})*)\\})? (\\S+)$`);
  for (const line of text.slice(0, -1).split("\n")) {
    const h = /^# HELP (\S+) (.*)$/.exec(line);
    const t = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (h) {
      expect(help.has(h[1]!), `HELP ${h[1]} twice`).toBe(false);
      help.set(h[1]!, h[2]!);
      families.push(h[1]!);
      continue;
    }
    if (t) {
      expect(type.has(t[1]!), `TYPE ${t[1]} twice`).toBe(false);
      expect(families.at(-1), `TYPE ${t[1]} right after its HELP`).toBe(t[1]);
      type.set(t[1]!, t[2]!);
      continue;
    }
    const m = sampleRe.exec(line);
    expect(m, `not a sample line: ${line}`).not.toBeNull();
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m?.[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[k!] = v!.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
    }
    // Samples of a family follow its HELP/TYPE, without another family in between; a
    // histogram's are its _bucket, _sum and _count series.
    const family = families.at(-1) ?? "";
    const series =
      type.get(family) === "histogram" ? [`${family}_bucket`, `${family}_sum`, `${family}_count`] : [family];
    expect(series, `sample ${m?.[1]} outside its family`).toContain(m?.[1]);
    samples.push({ name: m?.[1] ?? "", labels, value: m?.[3] ?? "" });
  }
  // No two samples with the same name and labels.
  const ids = samples.map((s) => `${s.name}${JSON.stringify(s.labels)}`);
  expect(new Set(ids).size).toBe(ids.length);
  return { help, type, samples };
}

function value(samples: Sample[], name: string, labels: Record<string, string> = {}): string | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    ?.value;
}

describe("renderPrometheus", () => {
  const { help, type, samples } = parse(renderPrometheus(sampleStatus()));

  it("is valid 0.0.4 text with HELP and TYPE for every family", () => {
    expect(PROMETHEUS_CONTENT_TYPE).toBe("text/plain; version=0.0.4; charset=utf-8");
    expect([...help.keys()]).toEqual([...type.keys()]);
    for (const [name, t] of type) {
      expect(name.endsWith("_total")).toBe(t === "counter");
    }
  });

  it("has the daemon's own gauges", () => {
    expect(value(samples, "vipd_up")).toBe("1");
    expect(value(samples, "vipd_build_info", { version: "0.1.0", node: "lb1" })).toBe("1");
    expect(value(samples, "vipd_start_time_seconds")).toBe(String(Date.parse("2025-03-01T10:00:00Z") / 1000));
  });

  it("has one state gauge per instance and state, 1 for the current one", () => {
    const web = samples.filter((s) => s.name === "vipd_vrrp_state" && s.labels.instance === "web");
    expect(web.map((s) => [s.labels.state, s.value])).toEqual([
      ["INIT", "0"],
      ["BACKUP", "0"],
      ["MASTER", "1"],
      ["FAULT", "0"],
    ]);
    expect(value(samples, "vipd_vrrp_state", { instance: "dns6", state: "BACKUP" })).toBe("1");
  });

  it("has priorities and VRRP counters", () => {
    expect(value(samples, "vipd_vrrp_priority", { instance: "dns6" })).toBe("100");
    expect(value(samples, "vipd_vrrp_effective_priority", { instance: "dns6" })).toBe("50");
    expect(value(samples, "vipd_vrrp_transitions_total", { instance: "web" })).toBe("2");
    expect(value(samples, "vipd_vrrp_adverts_sent_total", { instance: "web" })).toBe("1200");
    expect(value(samples, "vipd_vrrp_adverts_received_total", { instance: "dns6" })).toBe("900");
    expect(value(samples, "vipd_vrrp_drops_total", { instance: "web", reason: "vrid" })).toBe("7");
    expect(value(samples, "vipd_vrrp_drops_total", { instance: "dns6", reason: "checksum" })).toBe("2");
    // Every reason is there from the start, so rate() has a series before the first drop.
    expect(
      samples
        .filter((s) => s.name === "vipd_vrrp_drops_total" && s.labels.instance === "web")
        .map((s) => s.labels.reason),
    ).toEqual([
      "queue_overflow",
      "interface",
      "ip_header",
      "ttl",
      "length",
      "version",
      "checksum",
      "type",
      "address_count",
      "vrid",
      "auth_type",
      "auth",
      "advert_interval",
    ]);
  });

  it("has IPVS services, destinations, weights, health and reconcile counters", () => {
    const svc = { service: "tcp 10.0.0.100:80", virtual_server: "web" };
    expect(value(samples, "vipd_ipvs_services")).toBe("2");
    expect(value(samples, "vipd_ipvs_destinations", svc)).toBe("2");
    expect(value(samples, "vipd_ipvs_destination_weight", { ...svc, destination: "10.0.0.21:80" })).toBe("1");
    expect(value(samples, "vipd_ipvs_destination_weight", { ...svc, destination: "10.0.0.22:80" })).toBe("0");
    expect(value(samples, "vipd_ipvs_destination_healthy", { ...svc, destination: "10.0.0.22:80" })).toBe(
      "0",
    );
    expect(value(samples, "vipd_ipvs_destination_active_connections", { destination: "10.0.0.21:80" })).toBe(
      "4",
    );
    expect(value(samples, "vipd_ipvs_quorum", { virtual_server: "dns" })).toBe("0");
    expect(value(samples, "vipd_ipvs_reconcile_ops_total")).toBe("3");
    expect(value(samples, "vipd_ipvs_reconcile_failures_total")).toBe("0");
    expect(value(samples, "vipd_ipvs_unowned_services")).toBe("1");
  });

  it("has alert counters per webhook", () => {
    const hook = { webhook: "https://hooks.example.com" };
    expect(value(samples, "vipd_alert_delivered_total", hook)).toBe("12");
    expect(value(samples, "vipd_alert_failed_total", hook)).toBe("1");
    expect(value(samples, "vipd_alert_retries_total", hook)).toBe("3");
    expect(value(samples, "vipd_alert_dropped_total", { webhook: "https://hooks.example.com #2" })).toBe("1");
    expect(value(samples, "vipd_alert_queued", { webhook: "https://hooks.example.com #2" })).toBe("2");
  });

  it("writes no IPVS or VRRP samples when those parts are not running", () => {
    const p = parse(renderPrometheus(buildStatus(statusInput({ vrrp: null, ipvs: null, alerts: [] }))));
    expect(p.samples.map((s) => s.name)).toEqual([
      "vipd_up",
      "vipd_build_info",
      "vipd_start_time_seconds",
      "vipd_config_loaded_timestamp_seconds",
    ]);
    expect(p.type.has("vipd_ipvs_services")).toBe(false);
  });

  it("escapes label values", () => {
    const odd = 'we"b\\1\nx';
    const p = parse(
      renderPrometheus(
        buildStatus(
          statusInput({ vrrp: { instances: [instance({ name: odd })], demoted: null, heartbeatAgeMs: 0 } }),
        ),
      ),
    );
    expect(value(p.samples, "vipd_vrrp_priority", { instance: odd })).toBe("150");
    expect(escapeLabelValue(odd)).toBe('we\\"b\\\\1\\nx');
  });

  it("spells special values as the format wants", () => {
    expect([1, 0.5, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY].map(formatValue)).toEqual(
      ["1", "0.5", "NaN", "+Inf", "-Inf"],
    );
  });

  it("has per-real-server health, check results and the checker's own histograms", () => {
    const latency = new Histogram(LATENCY_BUCKETS_MS);
    for (const ms of [0.5, 3, 3, 40, 20_000]) latency.record(ms);
    const lag = new Histogram(LAG_BUCKETS_MS);
    lag.record(1.5);
    const health: HealthStatus = {
      probes: 2,
      subscriptions: 3,
      dedupRatio: 1.5,
      inFlight: 1,
      worker: "running",
      results: { ok: 4, status: 1 },
      latencyMs: latencySummary(latency.snapshot()),
      schedulerLagMs: { ...latencySummary(lag.snapshot()), max: 1.5 },
      transitions: { "down:status": 1, "up:ok": 2 },
      guardHolds: 3,
      realServers: [
        {
          virtualServer: "web",
          realServer: "10.0.0.21:80",
          state: "slow_start",
          reason: "ok",
          code: "ok",
          since: "2026-12-03T10:00:00.000Z",
          weight: 4,
          configuredWeight: 10,
          checks: [
            {
              probe: "http 10.0.0.21:80 #abc",
              type: "http",
              health: "up",
              reason: "ok",
              last: { ok: true, code: "ok", reason: "ok", durationMs: 2.5, agoMs: 100 },
            },
          ],
        },
        {
          virtualServer: "web",
          realServer: "10.0.0.22:80",
          state: "down",
          reason: "status 503",
          code: "status",
          since: "2026-12-03T10:00:00.000Z",
          weight: null,
          configuredWeight: 1,
          checks: [],
        },
      ],
    };
    const p = parse(renderPrometheus(buildStatus(statusInput({ health }))));
    const rs1 = { virtual_server: "web", real_server: "10.0.0.21:80" };
    expect(value(p.samples, "vipd_real_server_state", { ...rs1, state: "slow_start" })).toBe("1");
    expect(value(p.samples, "vipd_real_server_state", { ...rs1, state: "up" })).toBe("0");
    expect(value(p.samples, "vipd_real_server_weight", rs1)).toBe("4");
    expect(
      value(p.samples, "vipd_real_server_weight", { virtual_server: "web", real_server: "10.0.0.22:80" }),
    ).toBe("-1");
    expect(value(p.samples, "vipd_real_server_check_duration_seconds", rs1)).toBe("0.0025");
    expect(
      value(p.samples, "vipd_real_server_transitions_total", { direction: "down", code: "status" }),
    ).toBe("1");
    expect(value(p.samples, "vipd_health_checks_total", { result: "status" })).toBe("1");
    expect(value(p.samples, "vipd_health_guard_holds_total")).toBe("3");
    expect(value(p.samples, "vipd_health_dedup_ratio")).toBe("1.5");
    expect(value(p.samples, "vipd_health_checks_in_flight")).toBe("1");
    expect(p.type.get("vipd_health_check_duration_seconds")).toBe("histogram");
    // Cumulative buckets in seconds: ≤1 ms holds 0.5; ≤5 ms holds three; +Inf all five.
    expect(value(p.samples, "vipd_health_check_duration_seconds_bucket", { le: "0.001" })).toBe("1");
    expect(value(p.samples, "vipd_health_check_duration_seconds_bucket", { le: "0.005" })).toBe("3");
    expect(value(p.samples, "vipd_health_check_duration_seconds_bucket", { le: "10" })).toBe("4");
    expect(value(p.samples, "vipd_health_check_duration_seconds_bucket", { le: "+Inf" })).toBe("5");
    expect(value(p.samples, "vipd_health_check_duration_seconds_count")).toBe("5");
    expect(Number(value(p.samples, "vipd_health_check_duration_seconds_sum"))).toBeCloseTo(20.0465, 6);
    expect(value(p.samples, "vipd_health_scheduler_lag_seconds_bucket", { le: "0.002" })).toBe("1");
  });
});
