/**
 * The daemon's status as the API serves it (`GET /status`, `vipd status`) and the metrics
 * render it: one JSON-safe `DaemonStatus` value.
 *
 * Pure: no I/O and no clock of its own. `collectStatus` gathers the parts from callbacks the
 * daemon passes (each may fail without failing the whole status: the failure is reported in
 * the part's `error`); `buildStatus` is the synchronous core; `formatStatus` is the human view.
 *
 * The input types are structural (`…Input`): the VRRP worker's `WorkerStatus`, the host's
 * `TransitionEvent`s, the IPVS manager's `status()` and `ReconcileReport`, a kernel
 * `IpvsSnapshot` and `Alerts.stats()` all fit them as they are.
 */

import { destKeyString, type IpvsTable, type ServiceKey, serviceKeyString } from "../ipvs/types.js";
import { DROP_REASONS } from "../vrrp/packet.js";
import { formatHealth, type HealthStatus } from "./health-status.js";
import { formatTable } from "./table.js";

// ---------------------------------------------------------------------------------------------
// The status
// ---------------------------------------------------------------------------------------------

export const VRRP_STATES = ["INIT", "BACKUP", "MASTER", "FAULT"] as const;
export type VrrpStateName = (typeof VRRP_STATES)[number];

export interface DaemonStatus {
  node: string;
  version: string;
  pid: number;
  /** ISO time the daemon started. */
  startedAt: string;
  /** Whole seconds since startedAt, at generatedAt. */
  uptimeSeconds: number;
  /** ISO time this status was produced (ages in `formatStatus` are relative to it). */
  generatedAt: string;
  config: { file: string; loadedAt: string };
  /** null: the config has no VRRP instances. */
  vrrp: VrrpStatus | null;
  /** null: the config has no virtual servers (or the IPVS manager did not start). */
  ipvs: IpvsStatus | null;
  /** null: no health checks run (no virtual servers). */
  health: HealthStatus | null;
  alerts: AlertStatus[];
}

export interface VrrpStatus {
  instances: VrrpInstanceStatus[];
  /** Reason of an active self-demote of the worker (main thread not answering), or null. */
  demoted: string | null;
  /** Milliseconds since the worker last heard from the main thread; null when unknown. */
  heartbeatAgeMs: number | null;
  /** Set when the worker could not be asked (it then has no instances listed). */
  error?: string;
}

export interface VrrpTransitionStatus {
  from: string;
  to: string;
  /** "master_down", "higher_priority: 10.0.0.2 (200)", … */
  reason: string;
  /** ISO time. */
  at: string;
}

export interface VrrpInstanceStatus {
  name: string;
  interface: string;
  vrid: number;
  family: 4 | 6;
  version: number;
  state: string;
  /** The configured priority. */
  priority: number;
  /** After tracking and self-demote: what the adverts carry. */
  effectivePriority: number;
  /** This router's own address (advert source), or null when the interface has none. */
  address: string | null;
  /** The current master's address when known: ours when MASTER, the accepted peer's when BACKUP. */
  master: string | null;
  /** VIPs this instance holds now (CIDR). */
  vips: string[];
  /** ISO time of the last transition, or null before the first. */
  since: string | null;
  lastTransition: VrrpTransitionStatus | null;
  fault: string | null;
  demoted: string | null;
  /** An operator resigned it (`vipd vrrp resign`): it stays out of MASTER until resumed. */
  resigned: boolean;
  transitions: number;
  advertsSent: number;
  advertsReceived: number;
  /** Received packets dropped, by reason (every reason listed, zeros included). */
  drops: Record<string, number>;
  errors: { send: number; vips: number; announce: number };
  /** Adverts accepted in a peer's non-standard form (old keepalived's unicast checksum). */
  compat: { groupChecksumOnUnicast: number };
}

export interface IpvsDestinationStatus {
  /** "10.0.0.21:80", "[2001:db8::21]:80". */
  key: string;
  address: string;
  port: number;
  forwarding: string;
  weight: number;
  healthy: boolean;
  activeConns: number;
  inactConns: number;
}

export interface IpvsServiceStatus {
  /** "tcp 10.0.0.100:80", "fwmark 66 (inet)": the identity, as ipvsadm would show it. */
  key: string;
  /** The virtual server's name in the config; null for a kernel service vipd does not know. */
  name: string | null;
  scheduler: string;
  /** The forwarding method of its destinations ("mixed" when they differ; null with none). */
  forwarding: string | null;
  /** Persistence timeout in seconds; null when not persistent. */
  persistence: number | null;
  /** From the last evaluation of the virtual server; null when unknown. */
  realServers: number | null;
  healthyRealServers: number | null;
  quorum: boolean | null;
  sorryServer: boolean | null;
  /** Whether the kernel's table, read for this status, has the service; null when it was not read. */
  inKernel: boolean | null;
  /** As the kernel has them (empty when the kernel table could not be read). */
  destinations: IpvsDestinationStatus[];
}

export interface ReconcileSummary {
  /** ISO time the reconcile finished. */
  at: string;
  trigger: string;
  /** Ops applied. */
  ops: number;
  /** Ops the kernel (or validation) refused. */
  failures: number;
  drift: number;
  invalid: number;
  durationMs: number;
  /** Set when the reconcile could not run at all. */
  error?: string;
}

export interface IpvsStatus {
  services: IpvsServiceStatus[];
  lastReconcile: ReconcileSummary | null;
  totals: { reconciles: number; ops: number; failures: number };
  /** Kernel services the config does not declare (left alone), as of the last table read. */
  unowned: string[];
  syncRole: string | null;
  /** Set when the kernel table could not be read for this status. */
  error?: string;
}

export interface AlertStatus {
  /** The webhook as logs may show it: scheme and host only. */
  name: string;
  queued: number;
  delivered: number;
  failed: number;
  dropped: number;
  retries: number;
  lastError: string | null;
  lastErrorAt: string | null;
  lastDeliveredAt: string | null;
}

// ---------------------------------------------------------------------------------------------
// Inputs (structural, so the engine's own types fit)
// ---------------------------------------------------------------------------------------------

/** What `VrrpInstance.status()` returns (src/vrrp/instance.ts). Times are wall-clock ms. */
export interface InstanceStatusInput {
  name: string;
  interface: string;
  family: "inet" | "inet6" | 4 | 6;
  vrid: number;
  version: number;
  state: string;
  since: number | null;
  configuredPriority: number;
  effectivePriority: number;
  primaryIp: string | null;
  master: { ip: string; priority: number } | null;
  fault: string | null;
  demoted: string | null;
  resigned?: boolean;
  vips: readonly string[];
  counters: {
    advertsSent: number;
    advertsReceived: number;
    transitions: number;
    sendErrors?: number;
    vipErrors?: number;
    announceErrors?: number;
    groupChecksumOnUnicast?: number;
  };
  drops: Readonly<Record<string, number>>;
}

/** The VRRP worker's status (`VrrpHost.status()`). */
export interface WorkerStatusInput {
  instances: readonly InstanceStatusInput[];
  demoted: string | null;
  heartbeatAgeMs: number;
}

/** `VrrpHost.lastTransitions()` entries. `at` is wall-clock ms. */
export interface TransitionInput {
  instance: string;
  from: string;
  to: string;
  reason: string;
  detail?: string;
  at: number;
}

/** One entry of `IpvsManager.status().virtualServers`. */
export interface VirtualServerStateInput {
  name: string;
  service: ServiceKey;
  realServers: number;
  healthy: number;
  quorum: boolean;
  sorryServer: boolean;
}

/** `IpvsManager.status()`. */
export interface IpvsManagerStatusInput {
  virtualServers: readonly VirtualServerStateInput[];
  syncRole?: string | undefined;
}

/** The parts of a `ReconcileReport` (src/engine/ipvs-manager.ts) the status keeps. */
export interface ReconcileReportInput {
  trigger: string;
  read: boolean;
  applied: readonly unknown[];
  failed: readonly unknown[];
  drift: readonly unknown[];
  invalid: readonly unknown[];
  unowned: readonly string[];
  error?: { message: string; code?: string } | undefined;
  durationMs: number;
}

/** One entry of `Alerts.stats()`. */
export interface AlertStatsInput {
  name: string;
  queued: number;
  delivered: number;
  failed: number;
  dropped: number;
  retries: number;
  lastError?: string | undefined;
  lastErrorAt?: string | undefined;
  lastDeliveredAt?: string | undefined;
}

// ---------------------------------------------------------------------------------------------
// Reconcile bookkeeping
// ---------------------------------------------------------------------------------------------

/**
 * Keeps the last IPVS reconcile and running totals (for `lastReconcile` and the
 * `vipd_ipvs_reconcile_*_total` counters). Give `record` to the IPVS manager as `onReconcile`.
 * It outlives manager restarts (reloads), so the totals only ever grow.
 */
export class ReconcileTracker {
  private last: ReconcileSummary | null = null;
  private unowned: string[] = [];
  private readonly totals = { reconciles: 0, ops: 0, failures: 0 };

  /** `at`: wall-clock ms of the end of the reconcile (default now). */
  record(report: ReconcileReportInput, at: number = Date.now()): void {
    const summary: ReconcileSummary = {
      at: new Date(at).toISOString(),
      trigger: report.trigger,
      ops: report.applied.length,
      failures: report.failed.length,
      drift: report.drift.length,
      invalid: report.invalid.length,
      durationMs: Math.round(report.durationMs * 1000) / 1000,
    };
    if (report.error !== undefined) summary.error = errorText(report.error);
    this.last = summary;
    this.totals.reconciles += 1;
    this.totals.ops += summary.ops;
    this.totals.failures += summary.failures + (report.error !== undefined ? 1 : 0);
    // Only a reconcile that read the kernel's table knows which services are not ours.
    if (report.read && report.error === undefined) this.unowned = [...report.unowned];
  }

  snapshot(): { lastReconcile: ReconcileSummary | null; totals: IpvsStatus["totals"]; unowned: string[] } {
    return {
      lastReconcile: this.last === null ? null : { ...this.last },
      totals: { ...this.totals },
      unowned: [...this.unowned],
    };
  }
}

// ---------------------------------------------------------------------------------------------
// Building
// ---------------------------------------------------------------------------------------------

export interface IpvsInput {
  /** The kernel's table (a fresh snapshot); null/undefined when it was not or could not be read. */
  table?: IpvsTable | null;
  /** Why the table could not be read. */
  tableError?: unknown;
  manager?: IpvsManagerStatusInput | null;
  reconciles?: ReconcileTracker | null;
  /**
   * Health of a destination of a named virtual server (`dest` as "10.0.0.21:80"); undefined
   * = not known, and then a destination is healthy when its weight is above 0.
   */
  healthy?: (virtualServer: string, dest: string) => boolean | undefined;
}

export interface StatusInput {
  node: string;
  version: string;
  pid: number;
  /** Wall-clock ms or a Date. */
  startedAt: number | Date;
  configFile: string;
  configLoadedAt: number | Date;
  /** Wall-clock ms of this status; default Date.now(). */
  now?: number;
  /** null/undefined: no VRRP. An Error (or anything thrown): the worker could not be asked. */
  vrrp?: WorkerStatusInput | Error | null;
  transitions?: readonly TransitionInput[];
  ipvs?: IpvsInput | null;
  health?: HealthStatus | null;
  alerts?: readonly AlertStatsInput[];
}

function ms(t: number | Date): number {
  return typeof t === "number" ? t : t.getTime();
}

function iso(t: number | Date | null | undefined): string | null {
  if (t === null || t === undefined) return null;
  const d = new Date(ms(t));
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

function errorText(err: unknown): string {
  if (err !== null && typeof err === "object" && "message" in err) {
    const code = (err as { code?: unknown }).code;
    const message = String((err as { message: unknown }).message);
    return typeof code === "string" ? `${code}: ${message}` : message;
  }
  return String(err);
}

/** scheme://host of a URL (paths and queries often carry tokens); anything else as it is. */
export function redactName(name: string): string {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(name)) return name;
  try {
    const u = new URL(name);
    return `${u.protocol}//${u.host}`;
  } catch {
    return "<invalid url>";
  }
}

function family(f: InstanceStatusInput["family"]): 4 | 6 {
  return f === 6 || f === "inet6" ? 6 : 4;
}

export function vrrpInstanceStatus(s: InstanceStatusInput, last?: TransitionInput): VrrpInstanceStatus {
  const drops: Record<string, number> = {};
  for (const r of DROP_REASONS) drops[r] = 0;
  for (const [r, n] of Object.entries(s.drops)) drops[r] = n;
  const master = s.state === "MASTER" ? s.primaryIp : s.state === "BACKUP" ? (s.master?.ip ?? null) : null;
  return {
    name: s.name,
    interface: s.interface,
    vrid: s.vrid,
    family: family(s.family),
    version: s.version,
    state: s.state,
    priority: s.configuredPriority,
    effectivePriority: s.effectivePriority,
    address: s.primaryIp,
    master,
    vips: [...s.vips],
    since: iso(s.since),
    lastTransition:
      last === undefined
        ? null
        : {
            from: last.from,
            to: last.to,
            reason: last.detail !== undefined ? `${last.reason}: ${last.detail}` : last.reason,
            at: iso(last.at) ?? "",
          },
    fault: s.fault,
    demoted: s.demoted,
    resigned: s.resigned ?? false,
    transitions: s.counters.transitions,
    advertsSent: s.counters.advertsSent,
    advertsReceived: s.counters.advertsReceived,
    drops,
    errors: {
      send: s.counters.sendErrors ?? 0,
      vips: s.counters.vipErrors ?? 0,
      announce: s.counters.announceErrors ?? 0,
    },
    compat: { groupChecksumOnUnicast: s.counters.groupChecksumOnUnicast ?? 0 },
  };
}

export function vrrpStatus(
  worker: WorkerStatusInput | Error,
  transitions: readonly TransitionInput[] = [],
): VrrpStatus {
  if (worker instanceof Error) {
    return { instances: [], demoted: null, heartbeatAgeMs: null, error: errorText(worker) };
  }
  const last = new Map<string, TransitionInput>();
  for (const t of transitions) {
    const seen = last.get(t.instance);
    if (seen === undefined || t.at >= seen.at) last.set(t.instance, t);
  }
  return {
    instances: worker.instances.map((i) => vrrpInstanceStatus(i, last.get(i.name))),
    demoted: worker.demoted,
    heartbeatAgeMs: worker.heartbeatAgeMs,
  };
}

export function ipvsStatus(input: IpvsInput): IpvsStatus {
  const states = new Map<string, VirtualServerStateInput>();
  for (const v of input.manager?.virtualServers ?? []) states.set(serviceKeyString(v.service), v);
  const tracked = input.reconciles?.snapshot() ?? {
    lastReconcile: null,
    totals: { reconciles: 0, ops: 0, failures: 0 },
    unowned: [],
  };
  const managed = input.manager !== undefined && input.manager !== null;
  // A fresh table says which services are not vipd's; without one, the last reconcile that read it.
  const unowned = new Set(input.table && managed ? [] : tracked.unowned);
  const services: IpvsServiceStatus[] = [];
  const listed = new Set<string>();
  for (const entry of input.table ?? []) {
    const key = serviceKeyString(entry.service.key);
    const state = states.get(key);
    // Only the services vipd manages; the others are listed by key in `unowned`.
    if (state === undefined && managed) {
      unowned.add(key);
      continue;
    }
    listed.add(key);
    const name = state?.name ?? null;
    const destinations = entry.destinations.map((d): IpvsDestinationStatus => {
      const dk = destKeyString(d.key);
      const known = name !== null ? input.healthy?.(name, dk) : undefined;
      return {
        key: dk,
        address: d.key.address,
        port: d.key.port,
        forwarding: d.options.forwarding,
        weight: d.options.weight,
        healthy: known ?? d.options.weight > 0,
        activeConns: d.activeConns ?? 0,
        inactConns: d.inactConns ?? 0,
      };
    });
    services.push(serviceStatus(key, entry.service.options, state, destinations, true));
  }
  // Declared services the kernel table does not show (not read, or missing from it).
  for (const [key, state] of states) {
    if (!listed.has(key)) {
      services.push(serviceStatus(key, undefined, state, [], input.table ? false : null));
    }
  }
  const out: IpvsStatus = {
    services,
    lastReconcile: tracked.lastReconcile,
    totals: tracked.totals,
    unowned: [...unowned].sort(),
    syncRole: input.manager?.syncRole ?? null,
  };
  if (input.tableError !== undefined) out.error = errorText(input.tableError);
  return out;
}

function serviceStatus(
  key: string,
  options: IpvsTable[number]["service"]["options"] | undefined,
  state: VirtualServerStateInput | undefined,
  destinations: IpvsDestinationStatus[],
  inKernel: boolean | null,
): IpvsServiceStatus {
  const fwd = new Set(destinations.map((d) => d.forwarding));
  const persistent = options?.flags?.persistent === true;
  return {
    key,
    name: state?.name ?? null,
    scheduler: options?.scheduler ?? "",
    forwarding: fwd.size === 0 ? null : fwd.size === 1 ? [...fwd][0]! : "mixed",
    persistence: persistent ? (options?.timeout ?? 300) : null,
    realServers: state?.realServers ?? null,
    healthyRealServers: state?.healthy ?? null,
    quorum: state?.quorum ?? null,
    sorryServer: state?.sorryServer ?? null,
    inKernel,
    destinations,
  };
}

export function alertStatus(a: AlertStatsInput): AlertStatus {
  return {
    name: redactName(a.name),
    queued: a.queued,
    delivered: a.delivered,
    failed: a.failed,
    dropped: a.dropped,
    retries: a.retries,
    lastError: a.lastError ?? null,
    lastErrorAt: a.lastErrorAt ?? null,
    lastDeliveredAt: a.lastDeliveredAt ?? null,
  };
}

/** The status from already gathered parts. */
export function buildStatus(input: StatusInput): DaemonStatus {
  const now = input.now ?? Date.now();
  const started = ms(input.startedAt);
  return {
    node: input.node,
    version: input.version,
    pid: input.pid,
    startedAt: iso(started) ?? "",
    uptimeSeconds: Math.max(0, Math.floor((now - started) / 1000)),
    generatedAt: iso(now) ?? "",
    config: { file: input.configFile, loadedAt: iso(input.configLoadedAt) ?? "" },
    vrrp: input.vrrp === undefined || input.vrrp === null ? null : vrrpStatus(input.vrrp, input.transitions),
    ipvs: input.ipvs === undefined || input.ipvs === null ? null : ipvsStatus(input.ipvs),
    health: input.health ?? null,
    alerts: uniqueNames((input.alerts ?? []).map(alertStatus)),
  };
}

/** Two webhooks on one host redact to the same name: number the later ones ("… #2"). */
function uniqueNames(alerts: AlertStatus[]): AlertStatus[] {
  const seen = new Map<string, number>();
  for (const a of alerts) {
    const n = (seen.get(a.name) ?? 0) + 1;
    seen.set(a.name, n);
    if (n > 1) a.name = `${a.name} #${n}`;
  }
  return alerts;
}

/** Where `collectStatus` gets each part; absent = that part is not running. */
export interface StatusSources {
  node: string;
  version: string;
  pid?: number;
  startedAt: number | Date;
  configFile: string;
  configLoadedAt: number | Date;
  now?: () => number;
  vrrp?: {
    status: () => Promise<WorkerStatusInput> | WorkerStatusInput;
    transitions?: () => readonly TransitionInput[];
  };
  ipvs?: {
    manager?: () => IpvsManagerStatusInput;
    /** Reads the kernel's table (IpvsClient.snapshot). */
    snapshot?: () => Promise<{ table: IpvsTable }>;
    reconciles?: ReconcileTracker;
    healthy?: IpvsInput["healthy"];
  };
  health?: () => Promise<HealthStatus>;
  alerts?: () => readonly AlertStatsInput[];
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/** Asks every part at once; a part that fails is reported in its `error`, never thrown. */
export async function collectStatus(src: StatusSources): Promise<DaemonStatus> {
  const vrrpP: Promise<WorkerStatusInput | Error | null> = src.vrrp
    ? Promise.resolve()
        .then(() => src.vrrp?.status() as WorkerStatusInput)
        .catch(asError)
    : Promise.resolve(null);
  const snapP: Promise<{ table: IpvsTable | null; error?: unknown }> = src.ipvs?.snapshot
    ? Promise.resolve()
        .then(() => src.ipvs?.snapshot?.() as Promise<{ table: IpvsTable }>)
        .then(
          (s) => ({ table: s.table }),
          (error: unknown) => ({ table: null, error }),
        )
    : Promise.resolve({ table: null });
  const healthP: Promise<HealthStatus | null> = src.health
    ? src.health().catch(() => null)
    : Promise.resolve(null);
  const [vrrp, snap, health] = await Promise.all([vrrpP, snapP, healthP]);
  let ipvs: IpvsInput | null = null;
  if (src.ipvs) {
    ipvs = { table: snap.table, manager: src.ipvs.manager?.() ?? null };
    if (snap.error !== undefined) ipvs.tableError = snap.error;
    if (src.ipvs.reconciles) ipvs.reconciles = src.ipvs.reconciles;
    if (src.ipvs.healthy) ipvs.healthy = src.ipvs.healthy;
  }
  return buildStatus({
    node: src.node,
    version: src.version,
    pid: src.pid ?? process.pid,
    startedAt: src.startedAt,
    configFile: src.configFile,
    configLoadedAt: src.configLoadedAt,
    now: src.now?.() ?? Date.now(),
    vrrp,
    transitions: src.vrrp?.transitions?.() ?? [],
    ipvs,
    health,
    alerts: src.alerts?.() ?? [],
  });
}

// ---------------------------------------------------------------------------------------------
// The human view
// ---------------------------------------------------------------------------------------------

export { formatTable };

/** "3d 4h", "2h 5m", "4m 10s", "12s". */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${sec}s`;
  return `${sec}s`;
}

function ago(at: string | null, now: number): string {
  if (at === null) return "-";
  const t = Date.parse(at);
  if (Number.isNaN(t)) return at;
  return `${at} (${formatDuration((now - t) / 1000)} ago)`;
}

function priorityText(i: VrrpInstanceStatus): string {
  return i.effectivePriority === i.priority ? `${i.priority}` : `${i.effectivePriority} (${i.priority})`;
}

function dropsText(drops: Record<string, number>): string {
  return Object.entries(drops)
    .filter(([, n]) => n > 0)
    .map(([r, n]) => `${r} ${n}`)
    .join(", ");
}

function vrrpLines(v: VrrpStatus, now: number): string[] {
  const lines = ["VRRP"];
  if (v.error !== undefined) lines.push(`  the VRRP worker did not answer: ${v.error}`);
  if (v.demoted !== null) lines.push(`  self-demoted: ${v.demoted}`);
  if (v.instances.length === 0) {
    if (v.error === undefined) lines.push("  no instances");
    return lines;
  }
  const rows = [["INSTANCE", "STATE", "PRIORITY", "VRID", "INTERFACE", "MASTER", "VIPS"]];
  for (const i of v.instances) {
    rows.push([
      i.name,
      i.resigned ? `${i.state} (resigned)` : i.state,
      priorityText(i),
      `${i.vrid}${i.version === 2 ? " (v2)" : ""}`,
      i.interface,
      i.master ?? "-",
      i.vips.length > 0 ? i.vips.join(" ") : "-",
    ]);
  }
  lines.push(...formatTable(rows));
  for (const i of v.instances) {
    const notes: string[] = [];
    notes.push(`${i.state} since ${ago(i.since, now)}`);
    if (i.lastTransition) {
      const t = i.lastTransition;
      notes.push(`last transition ${t.from} → ${t.to} (${t.reason})`);
    }
    if (i.fault !== null) notes.push(`fault: ${i.fault}`);
    if (i.demoted !== null) notes.push(`demoted: ${i.demoted}`);
    if (i.resigned) notes.push("resigned by the operator (vipd vrrp resume to undo)");
    notes.push(`adverts sent ${i.advertsSent}, received ${i.advertsReceived}`);
    const drops = dropsText(i.drops);
    if (drops !== "") notes.push(`dropped: ${drops}`);
    const errors = Object.entries(i.errors).filter(([, n]) => n > 0);
    if (errors.length > 0) notes.push(`errors: ${errors.map(([k, n]) => `${k} ${n}`).join(", ")}`);
    lines.push(`  ${i.name}: ${notes.join("; ")}`);
  }
  return lines;
}

function ipvsLines(p: IpvsStatus): string[] {
  const lines = ["IPVS"];
  if (p.error !== undefined) lines.push(`  the kernel table could not be read: ${p.error}`);
  if (p.services.length === 0) lines.push("  no services");
  for (const s of p.services) {
    const head = [s.key];
    if (s.name !== null) head.push(`(${s.name})`);
    if (s.scheduler !== "") head.push(s.scheduler);
    if (s.forwarding !== null) head.push(s.forwarding);
    if (s.persistence !== null) head.push(`persistent ${s.persistence}s`);
    const facts: string[] = [];
    if (s.healthyRealServers !== null && s.realServers !== null) {
      facts.push(`${s.healthyRealServers}/${s.realServers} real servers up`);
    }
    if (s.quorum === false) facts.push("QUORUM LOST");
    if (s.sorryServer === true) facts.push("sorry server on");
    lines.push(`  ${head.join(" ")}${facts.length > 0 ? `: ${facts.join(", ")}` : ""}`);
    if (s.inKernel !== true) {
      lines.push(s.inKernel === null ? "    (kernel table not read)" : "    MISSING from the kernel table");
      continue;
    }
    if (s.destinations.length === 0) {
      lines.push("    no destinations");
      continue;
    }
    const rows = [["DESTINATION", "WEIGHT", "HEALTH", "FORWARD", "ACTIVE", "INACTIVE"]];
    for (const d of s.destinations) {
      rows.push([
        d.key,
        `${d.weight}`,
        d.healthy ? "up" : "down",
        d.forwarding,
        `${d.activeConns}`,
        `${d.inactConns}`,
      ]);
    }
    lines.push(...formatTable(rows, "    "));
  }
  const r = p.lastReconcile;
  if (r !== null) {
    const err = r.error !== undefined ? `, error: ${r.error}` : "";
    lines.push(
      `  last reconcile ${r.at} (${r.trigger}): ${r.ops} ops, ${r.failures} failed, ${r.drift} drift${err}`,
    );
  } else {
    lines.push("  no reconcile yet");
  }
  if (p.syncRole !== null) lines.push(`  sync daemon: ${p.syncRole}`);
  if (p.unowned.length > 0) lines.push(`  not managed by vipd: ${p.unowned.join(", ")}`);
  return lines;
}

function alertLines(alerts: readonly AlertStatus[]): string[] {
  const rows = [["WEBHOOK", "QUEUED", "DELIVERED", "FAILED", "DROPPED", "RETRIES", "LAST ERROR"]];
  for (const a of alerts) {
    rows.push([
      a.name,
      `${a.queued}`,
      `${a.delivered}`,
      `${a.failed}`,
      `${a.dropped}`,
      `${a.retries}`,
      a.lastError ?? "-",
    ]);
  }
  return ["ALERTS", ...formatTable(rows)];
}

/** The text `vipd status` prints. */
export function formatStatus(status: DaemonStatus): string {
  const parsed = Date.parse(status.generatedAt);
  const now = Number.isNaN(parsed) ? Date.parse(status.startedAt) : parsed;
  const lines = [
    `vipd ${status.version} on ${status.node} (pid ${status.pid}), up ${formatDuration(status.uptimeSeconds)}`,
    `config ${status.config.file}, loaded ${ago(status.config.loadedAt, now)}`,
  ];
  if (status.vrrp !== null) lines.push("", ...vrrpLines(status.vrrp, now));
  if (status.ipvs !== null) lines.push("", ...ipvsLines(status.ipvs));
  if (status.health) lines.push("", ...formatHealth(status.health));
  if (status.alerts.length > 0) lines.push("", ...alertLines(status.alerts));
  return `${lines.join("\n")}\n`;
}
