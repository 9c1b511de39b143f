/**
 * Prometheus text exposition (format 0.0.4) of a `DaemonStatus`. Pure.
 *
 * Every family is written once, HELP then TYPE then its samples, families in a fixed order.
 * Counters (`_total`) are the daemon's own counts since the part that keeps them started: VRRP
 * counters restart with their instance, alert counters with the webhook set (a reload that
 * changes `alerts`); Prometheus's rate() handles such resets.
 */

import type { HistogramSnapshot } from "../health/stats.js";
import { DROP_REASONS } from "../vrrp/packet.js";
import type { HealthStatus } from "./health-status.js";
import { type DaemonStatus, VRRP_STATES } from "./status.js";

export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

type Labels = Readonly<Record<string, string>>;
type MetricType = "gauge" | "counter" | "histogram";

/** A label value as the format wants it: backslash, double quote and newline escaped. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

/** A sample value: integers as they are, NaN and infinities spelled as the format wants. */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Number.POSITIVE_INFINITY) return "+Inf";
  if (value === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(value);
}

function labelText(labels: Labels): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`);
  return parts.length === 0 ? "" : `{${parts.join(",")}}`;
}

class Exposition {
  private readonly lines: string[] = [];

  family(
    name: string,
    type: MetricType,
    help: string,
    samples: readonly (readonly [Labels, number])[],
  ): void {
    this.lines.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples)
      this.lines.push(`${name}${labelText(labels)} ${formatValue(value)}`);
  }

  /** A histogram family from fixed buckets (per-bucket counts, made cumulative here); ms → seconds. */
  histogram(name: string, help: string, h: HistogramSnapshot): void {
    this.lines.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} histogram`);
    let cumulative = 0;
    h.buckets.forEach((le, i) => {
      cumulative += h.counts[i] ?? 0;
      this.lines.push(`${name}_bucket{le="${formatValue(le / 1000)}"} ${cumulative}`);
    });
    this.lines.push(
      `${name}_bucket{le="+Inf"} ${h.count}`,
      `${name}_sum ${formatValue(h.sum / 1000)}`,
      `${name}_count ${h.count}`,
    );
  }

  text(): string {
    return `${this.lines.join("\n")}\n`;
  }
}

function seconds(isoTime: string | null): number {
  if (isoTime === null) return Number.NaN;
  const t = Date.parse(isoTime);
  return Number.isNaN(t) ? Number.NaN : t / 1000;
}

/** The whole exposition for one status. */
export function renderPrometheus(status: DaemonStatus): string {
  const e = new Exposition();
  const instances = status.vrrp?.instances ?? [];
  const services = status.ipvs?.services ?? [];
  const inst = (name: string) => ({ instance: name });

  e.family("vipd_up", "gauge", "1 while the vipd daemon answers.", [[{}, 1]]);
  e.family("vipd_build_info", "gauge", "vipd's version (always 1).", [
    [{ version: status.version, node: status.node }, 1],
  ]);
  e.family("vipd_start_time_seconds", "gauge", "When the daemon started, in seconds since the epoch.", [
    [{}, seconds(status.startedAt)],
  ]);
  e.family(
    "vipd_config_loaded_timestamp_seconds",
    "gauge",
    "When the running config was loaded (start or last reload), in seconds since the epoch.",
    [[{}, seconds(status.config.loadedAt)]],
  );

  // VRRP
  e.family(
    "vipd_vrrp_state",
    "gauge",
    "VRRP state of an instance: 1 for the current state, 0 for the others.",
    instances.flatMap((i) => {
      const states: string[] = [...VRRP_STATES];
      if (!states.includes(i.state)) states.push(i.state);
      return states.map((s) => [{ instance: i.name, state: s }, s === i.state ? 1 : 0] as const);
    }),
  );
  e.family(
    "vipd_vrrp_priority",
    "gauge",
    "Configured VRRP priority of an instance.",
    instances.map((i) => [inst(i.name), i.priority]),
  );
  e.family(
    "vipd_vrrp_effective_priority",
    "gauge",
    "VRRP priority an instance advertises (after tracking and self-demote).",
    instances.map((i) => [inst(i.name), i.effectivePriority]),
  );
  e.family(
    "vipd_vrrp_vips",
    "gauge",
    "Virtual IPs an instance holds now.",
    instances.map((i) => [inst(i.name), i.vips.length]),
  );
  e.family(
    "vipd_vrrp_transitions_total",
    "counter",
    "VRRP state transitions of an instance.",
    instances.map((i) => [inst(i.name), i.transitions]),
  );
  e.family(
    "vipd_vrrp_drops_total",
    "counter",
    "Received VRRP packets an instance dropped, by reason.",
    instances.flatMap((i) => {
      const reasons: string[] = [...DROP_REASONS];
      for (const r of Object.keys(i.drops)) if (!reasons.includes(r)) reasons.push(r);
      return reasons.map((r) => [{ instance: i.name, reason: r }, i.drops[r] ?? 0] as const);
    }),
  );
  e.family(
    "vipd_vrrp_adverts_sent_total",
    "counter",
    "VRRP adverts an instance sent.",
    instances.map((i) => [inst(i.name), i.advertsSent]),
  );
  e.family(
    "vipd_vrrp_adverts_received_total",
    "counter",
    "Valid VRRP adverts an instance received.",
    instances.map((i) => [inst(i.name), i.advertsReceived]),
  );
  e.family(
    "vipd_vrrp_errors_total",
    "counter",
    "Failed VRRP operations of an instance, by kind (send, vips, announce).",
    instances.flatMap((i) =>
      Object.entries(i.errors).map(([kind, n]) => [{ instance: i.name, kind }, n] as const),
    ),
  );
  e.family(
    "vipd_vrrp_compat_adverts_total",
    "counter",
    "Adverts an instance accepted in a peer's non-standard form, by kind (group_checksum_on_unicast: keepalived before 1.3.6).",
    instances.map((i) => [
      { instance: i.name, kind: "group_checksum_on_unicast" },
      i.compat.groupChecksumOnUnicast,
    ]),
  );
  e.family(
    "vipd_vrrp_resigned",
    "gauge",
    "1 while an operator has resigned the instance (vipd vrrp resign).",
    instances.map((i) => [inst(i.name), i.resigned ? 1 : 0]),
  );
  e.family(
    "vipd_vrrp_last_transition_timestamp_seconds",
    "gauge",
    "When an instance last changed state, in seconds since the epoch.",
    instances.filter((i) => i.since !== null).map((i) => [inst(i.name), seconds(i.since)]),
  );
  if (status.vrrp !== null) {
    e.family("vipd_vrrp_self_demoted", "gauge", "1 while the VRRP worker has demoted itself.", [
      [{}, status.vrrp.demoted !== null ? 1 : 0],
    ]);
  }

  // IPVS
  if (status.ipvs !== null) {
    const ipvs = status.ipvs;
    const svc = (s: (typeof services)[number]) => ({ service: s.key, virtual_server: s.name ?? "" });
    const dests = services.flatMap((s) => s.destinations.map((d) => ({ s, d })));
    const dst = ({ s, d }: (typeof dests)[number]) => ({ ...svc(s), destination: d.key });
    e.family("vipd_ipvs_services", "gauge", "IPVS services vipd manages.", [[{}, services.length]]);
    e.family(
      "vipd_ipvs_destinations",
      "gauge",
      "Destinations of an IPVS service in the kernel.",
      services.map((s) => [svc(s), s.destinations.length]),
    );
    e.family(
      "vipd_ipvs_destination_weight",
      "gauge",
      "Weight of an IPVS destination in the kernel (0 = quiesced).",
      dests.map((x) => [dst(x), x.d.weight]),
    );
    e.family(
      "vipd_ipvs_destination_healthy",
      "gauge",
      "1 when an IPVS destination is healthy.",
      dests.map((x) => [dst(x), x.d.healthy ? 1 : 0]),
    );
    e.family(
      "vipd_ipvs_destination_active_connections",
      "gauge",
      "Active connections of an IPVS destination.",
      dests.map((x) => [dst(x), x.d.activeConns]),
    );
    e.family(
      "vipd_ipvs_destination_inactive_connections",
      "gauge",
      "Inactive connections of an IPVS destination.",
      dests.map((x) => [dst(x), x.d.inactConns]),
    );
    e.family(
      "vipd_ipvs_quorum",
      "gauge",
      "1 while a virtual server has quorum.",
      services.filter((s) => s.quorum !== null).map((s) => [svc(s), s.quorum ? 1 : 0]),
    );
    e.family(
      "vipd_ipvs_sorry_server",
      "gauge",
      "1 while a virtual server's sorry server is in use.",
      services.filter((s) => s.sorryServer !== null).map((s) => [svc(s), s.sorryServer ? 1 : 0]),
    );
    e.family("vipd_ipvs_reconciles_total", "counter", "IPVS reconciles run.", [[{}, ipvs.totals.reconciles]]);
    e.family("vipd_ipvs_reconcile_ops_total", "counter", "IPVS changes applied by reconciles.", [
      [{}, ipvs.totals.ops],
    ]);
    e.family(
      "vipd_ipvs_reconcile_failures_total",
      "counter",
      "IPVS changes refused, plus reconciles that could not run.",
      [[{}, ipvs.totals.failures]],
    );
    e.family(
      "vipd_ipvs_last_reconcile_timestamp_seconds",
      "gauge",
      "When the last IPVS reconcile finished, in seconds since the epoch.",
      ipvs.lastReconcile === null ? [] : [[{}, seconds(ipvs.lastReconcile.at)]],
    );
    e.family("vipd_ipvs_unowned_services", "gauge", "IPVS services in the kernel vipd does not manage.", [
      [{}, ipvs.unowned.length],
    ]);
  }

  if (status.health) healthFamilies(e, status.health);

  // Alerts
  const hooks = status.alerts;
  const hook = (name: string) => ({ webhook: name });
  e.family(
    "vipd_alert_delivered_total",
    "counter",
    "Alert events a webhook delivered.",
    hooks.map((a) => [hook(a.name), a.delivered]),
  );
  e.family(
    "vipd_alert_failed_total",
    "counter",
    "Alert events a webhook gave up on (refused, or retries exhausted).",
    hooks.map((a) => [hook(a.name), a.failed]),
  );
  e.family(
    "vipd_alert_dropped_total",
    "counter",
    "Alert events dropped before delivery (queue full, or cut off by a stop).",
    hooks.map((a) => [hook(a.name), a.dropped]),
  );
  e.family(
    "vipd_alert_retries_total",
    "counter",
    "Webhook delivery attempts beyond the first.",
    hooks.map((a) => [hook(a.name), a.retries]),
  );
  e.family(
    "vipd_alert_queued",
    "gauge",
    "Alert events waiting to be sent to a webhook.",
    hooks.map((a) => [hook(a.name), a.queued]),
  );
  return e.text();
}

const SERVER_STATES = ["up", "down", "slow_start", "drain", "disabled", "maint", "guard"] as const;

function healthFamilies(e: Exposition, h: HealthStatus): void {
  const rs = (r: HealthStatus["realServers"][number]) => ({
    virtual_server: r.virtualServer,
    real_server: r.realServer,
  });
  e.family(
    "vipd_real_server_state",
    "gauge",
    "State of a real server as the health checks and the operator decide it: 1 for the current state.",
    h.realServers.flatMap((r) =>
      SERVER_STATES.map((s) => [{ ...rs(r), state: s }, s === r.state ? 1 : 0] as const),
    ),
  );
  e.family(
    "vipd_real_server_weight",
    "gauge",
    "Weight vipd gives a real server now (-1 when it is out of the table).",
    h.realServers.map((r) => [rs(r), r.weight ?? -1]),
  );
  e.family(
    "vipd_real_server_check_duration_seconds",
    "gauge",
    "Duration of a real server's last check.",
    h.realServers.flatMap((r) =>
      r.checks.flatMap((c) =>
        c.last ? [[{ ...rs(r), probe: c.probe }, c.last.durationMs / 1000] as const] : [],
      ),
    ),
  );
  e.family(
    "vipd_real_server_transitions_total",
    "counter",
    "Real server transitions, by direction and reason code.",
    Object.entries(h.transitions).map(([key, n]) => {
      const [direction = "", code = ""] = key.split(":");
      return [{ direction, code }, n] as const;
    }),
  );
  e.family(
    "vipd_health_guard_holds_total",
    "counter",
    "Times the mass-failure guard (max_down) kept a failing real server in.",
    [[{}, h.guardHolds]],
  );
  e.family(
    "vipd_health_checks_total",
    "counter",
    "Checks run, by result code.",
    Object.entries(h.results).map(([code, n]) => [{ result: code }, n] as const),
  );
  e.histogram("vipd_health_check_duration_seconds", "Check latency, every probe.", h.latencyMs.histogram);
  e.histogram(
    "vipd_health_scheduler_lag_seconds",
    "How late checks start: start time minus due time.",
    h.schedulerLagMs.histogram,
  );
  e.family("vipd_health_checks_in_flight", "gauge", "Checks running now.", [[{}, h.inFlight]]);
  e.family("vipd_health_probes", "gauge", "Probes after deduplication.", [[{}, h.probes]]);
  e.family("vipd_health_dedup_ratio", "gauge", "Real-server checks per probe (1 = nothing shared).", [
    [{}, h.dedupRatio],
  ]);
}
