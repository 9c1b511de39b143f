/**
 * The health side of the daemon (docs/health.md): turns probe changes from the runner (the
 * health worker) into real server health for the IPVS manager, with events, logs, counters,
 * the operator's drain/disable, the mass-failure guard, slow start and persistence.
 *
 *   config ─plan─▶ probes ─▶ runner (worker thread: scheduler + checkers)
 *   runner ─changes─▶ probe views ─▶ per-server verdict ─▶ guard, admin, slow start ─▶ ServerHealth
 *   ServerHealth changes ─▶ onHealth (IpvsManager.setHealth) + real_server.up/down events
 *
 * Every director checks, master or backup, so a new master starts warm.
 */
import type { EventFactory, VipdEvent } from "../alert/events.js";
import { type HealthStatus, latencySummary, type RealServerHealthStatus } from "../api/health-status.js";
import { formatEndpoint } from "../config/net.js";
import type { HealthConfig, RealServerConfig, VirtualServerConfig } from "../config/types.js";
import { VipdError } from "../errors.js";
import {
  decodeHealth,
  encodeHealth,
  type PersistedHealth,
  STATE_FILE,
  seedsFrom,
} from "../health/persist.js";
import { healthKey, type ProbeDef, planProbes, type ServerChecks } from "../health/probes.js";
import type { ProbeRunner } from "../health/runner.js";
import type { ProbeChange, ProbeSeed } from "../health/scheduler.js";
import {
  type AdminState,
  type CheckVerdict,
  checkVerdict,
  guardHeld,
  type ProbeView,
  slowStartWeight,
} from "../health/server-health.js";
import { CheckStats } from "../health/stats.js";
import type { HealthWorkerStatus } from "../health/worker.js";
import { childLogger, type Logger } from "../log.js";
import { type ServerHealth, sameHealth } from "./desired.js";
import type { RealServerChange } from "./notify.js";

/** What a real server is, as status shows it. */
export type ServerState = "up" | "down" | "slow_start" | "drain" | "disabled" | "maint" | "guard";

export interface ServerRecord {
  checks: ServerChecks;
  vs: VirtualServerConfig;
  rs: RealServerConfig;
  verdict: CheckVerdict;
  state: ServerState;
  reason: string;
  code: string;
  health: ServerHealth;
  /** Wall-clock ms of the last change of `state`. */
  since: number;
  /** Monotonic ms when the checks last said down (for the guard's order). */
  downSince: number;
  /** Monotonic ms when a slow start began; undefined = not ramping. */
  rampFrom?: number;
  /** Added by this (re)load: its first state is not a transition. */
  fresh?: boolean;
}

export interface HealthClock {
  /** Monotonic ms. */
  now(): number;
  wallNow(): number;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
}

const realClock: HealthClock = {
  now: () => performance.now(),
  wallNow: () => Date.now(),
  setTimer: (fn, ms) => setTimeout(fn, ms),
  clearTimer: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface StateStore {
  read(): Promise<string | undefined>;
  write(text: string): Promise<void>;
}

export interface HealthManagerOptions {
  runner: ProbeRunner;
  virtualServers: readonly VirtualServerConfig[];
  health: HealthConfig;
  /** Where the last known health is kept; default a file under health.stateDir. */
  store?: StateStore;
  /** Receives every change of real server health (IpvsManager.setHealth). */
  onHealth: (changes: Map<string, ServerHealth>) => void;
  events: () => EventFactory;
  onEvent: (event: VipdEvent) => void;
  /** A real server started or stopped serving (its notify hooks). */
  onServingChange?: (change: RealServerChange) => void;
  clock?: HealthClock;
  log?: Logger;
}

/** Persist at most this often while something changed, and at least this often anyway. */
const PERSIST_MIN_MS = 1000;
const PERSIST_REFRESH_MS = 5000;

export interface HealthCounters {
  transitions: Map<string, number>;
  guardHolds: number;
}

export class HealthManager {
  private readonly runner: ProbeRunner;
  private readonly log: Logger;
  private readonly clock: HealthClock;
  private readonly store: StateStore;
  private readonly opts: HealthManagerOptions;
  private health: HealthConfig;
  private virtualServers: readonly VirtualServerConfig[];
  private probes: ProbeDef[] = [];
  private subscriptions = 0;
  private readonly views = new Map<string, ProbeView>();
  private servers = new Map<string, ServerRecord>();
  /** The same records by virtual server, in the same order: a probe's change re-evaluates its services only. */
  private serversByVs = new Map<string, ServerRecord[]>();
  /** Probe id → health keys of the servers it decides. */
  private fanOut = new Map<string, string[]>();
  private admin = new Map<string, Exclude<AdminState, "enabled">>();
  private rampTimer: unknown;
  private persistTimer: unknown;
  private lastPersist = 0;
  private dirty = false;
  private stopped = false;
  readonly counters: HealthCounters = { transitions: new Map(), guardHolds: 0 };

  constructor(opts: HealthManagerOptions) {
    this.opts = opts;
    this.runner = opts.runner;
    this.health = opts.health;
    this.virtualServers = opts.virtualServers;
    this.clock = opts.clock ?? realClock;
    this.log = opts.log ?? childLogger("health");
    this.store = opts.store ?? fileStore(`${opts.health.stateDir}/${STATE_FILE}`);
    this.runner.onChanges((changes) => this.onChanges(changes));
  }

  /** Restores what is recent, starts the probes; returns the health the IPVS table starts from. */
  async start(): Promise<Map<string, ServerHealth>> {
    const persisted = await this.readPersisted();
    for (const [key, a] of Object.entries(persisted?.admin ?? {})) this.admin.set(key, a);
    this.apply(this.virtualServers, persisted, true);
    this.schedulePersist();
    return this.healthMap();
  }

  /** A reloaded config: unchanged probes keep their state; returns the full health for the new config. */
  reload(virtualServers: readonly VirtualServerConfig[], health: HealthConfig): Map<string, ServerHealth> {
    this.virtualServers = virtualServers;
    this.health = health;
    this.apply(virtualServers, undefined, false);
    return this.healthMap();
  }

  private apply(
    vss: readonly VirtualServerConfig[],
    persisted: PersistedHealth | undefined,
    starting: boolean,
  ): void {
    const plan = planProbes(vss);
    const seeds: Map<string, ProbeSeed> = persisted
      ? seedsFrom(persisted, plan.probes, this.clock.wallNow())
      : new Map();
    const ids = new Set(plan.probes.map((p) => p.id));
    for (const id of [...this.views.keys()]) if (!ids.has(id)) this.views.delete(id);
    for (const p of plan.probes) {
      if (this.views.has(p.id)) continue;
      const seed = seeds.get(p.id);
      this.views.set(p.id, {
        health: seed?.health ?? p.spec.initial,
        code: seed ? "restored" : "initial",
        reason: seed?.reason ?? "not checked yet",
        ...(seed?.agent ? { agent: seed.agent } : {}),
        ...(seed?.weight !== undefined ? { weight: seed.weight } : {}),
      });
    }
    this.probes = plan.probes;
    this.subscriptions = plan.subscriptions;
    this.fanOut = new Map();
    const old = this.servers;
    this.servers = new Map();
    this.serversByVs = new Map();
    // Every real server by health key, once: finding each one by a scan would cost a reload
    // time in the square of the service's size.
    const configured = new Map<string, { vs: VirtualServerConfig; rs: RealServerConfig }>();
    for (const vs of vss) for (const rs of vs.realServers) configured.set(healthKey(vs.name, rs), { vs, rs });
    for (const checks of plan.servers) {
      const { vs, rs } = configured.get(checks.key) as { vs: VirtualServerConfig; rs: RealServerConfig };
      for (const id of [...checks.probes, ...checks.agents]) {
        const list = this.fanOut.get(id);
        if (list) list.push(checks.key);
        else this.fanOut.set(id, [checks.key]);
      }
      const prev = old.get(checks.key);
      this.addRecord({
        checks,
        vs,
        rs,
        verdict: prev?.verdict ?? { up: true, code: "initial", reason: "", weight: rs.weight, maint: false },
        state: prev?.state ?? "up",
        reason: prev?.reason ?? "",
        code: prev?.code ?? "initial",
        health: prev?.health ?? { up: true },
        since: prev?.since ?? this.clock.wallNow(),
        downSince: prev?.downSince ?? this.clock.now(),
        ...(prev?.rampFrom !== undefined ? { rampFrom: prev.rampFrom } : {}),
        ...(prev === undefined ? { fresh: true } : {}),
      });
    }
    // Admin state of servers the config no longer has is forgotten. A server without checks
    // that the operator drained or disabled keeps its record (as setAdmin made it), and so its
    // admin state, across reloads and restarts.
    for (const key of [...this.admin.keys()]) {
      if (this.servers.has(key)) continue;
      const found = configured.get(key);
      if (!found) {
        this.admin.delete(key);
        continue;
      }
      const { vs, rs } = found;
      const prev = old.get(key);
      this.addRecord(prev ? { ...prev, vs, rs } : { ...this.uncheckedRecord(vs, rs, key), fresh: true });
    }
    this.runner.configure(plan.probes, seeds, {
      concurrency: this.health.concurrency,
      tlsConcurrency: this.health.tlsConcurrency,
    });
    this.evaluate(new Set(vss.map((v) => v.name)), starting ? "start" : "reload");
  }

  private addRecord(record: ServerRecord): void {
    this.servers.set(record.checks.key, record);
    const list = this.serversByVs.get(record.vs.name);
    if (list) list.push(record);
    else this.serversByVs.set(record.vs.name, [record]);
  }

  private onChanges(changes: readonly ProbeChange[]): void {
    if (this.stopped) return;
    const touched = new Set<string>();
    for (const c of changes) {
      const view = this.views.get(c.id);
      if (!view) continue;
      const next: ProbeView = {
        health: c.health,
        code: c.code,
        reason: c.reason,
        ...(c.agent ? { agent: c.agent } : {}),
        ...(c.weight !== undefined ? { weight: c.weight } : {}),
      };
      if (c.transition) {
        this.log.info(
          {
            event: "probe.transition",
            probe: c.id,
            from: c.transition.from,
            to: c.transition.to,
            code: c.transition.code,
          },
          `probe ${c.id}: ${c.transition.from} → ${c.transition.to} (${c.transition.reason})`,
        );
      }
      this.views.set(c.id, next);
      for (const key of this.fanOut.get(c.id) ?? []) {
        const vs = this.servers.get(key)?.vs.name;
        if (vs !== undefined) touched.add(vs);
      }
    }
    this.dirty = true;
    if (touched.size > 0) this.evaluate(touched, "check");
  }

  /** Recomputes the servers of these virtual servers; reports and applies what changed. */
  private evaluate(
    vsNames: ReadonlySet<string>,
    cause: "start" | "reload" | "check" | "admin" | "ramp",
  ): void {
    const now = this.clock.now();
    const changes = new Map<string, ServerHealth>();
    for (const name of vsNames) {
      const records = this.serversByVs.get(name);
      if (records === undefined) continue;
      const vs = (records[0] as ServerRecord).vs;
      for (const r of records) {
        const verdict = checkVerdict(r.checks, (id) => this.views.get(id), r.rs.weight);
        if (r.verdict.up && !verdict.up) r.downSince = now;
        r.verdict = verdict;
      }
      const held = guardHeld(
        records
          .filter((r) => this.admin.get(r.checks.key) !== "disabled")
          .map((r) => ({
            key: r.checks.key,
            // A server never checked yet is out because nothing is known, not because its
            // checks failed: the guard neither holds it nor counts it.
            down: !r.verdict.up && r.verdict.code !== "initial",
            downSince: r.downSince,
            removed: r.state === "down" || r.state === "maint",
          })),
        vs.maxDown,
        vs.realServers.length,
      );
      for (const r of records) {
        const before = { state: r.state, health: r.health };
        this.decide(r, held.has(r.checks.key), now, cause);
        if (!sameHealth(before.health, r.health) || cause === "start" || cause === "reload")
          changes.set(r.checks.key, r.health);
        if (before.state !== r.state && !r.fresh) this.report(r, before.state);
        delete r.fresh;
      }
    }
    this.armRamp();
    if (changes.size > 0 && cause !== "start" && cause !== "reload") this.opts.onHealth(changes);
  }

  private decide(r: ServerRecord, held: boolean, now: number, cause: string): void {
    const admin = this.admin.get(r.checks.key) ?? "enabled";
    const wasServing = isServing(r.state);
    let state: ServerState;
    let reason = r.verdict.reason;
    let code = r.verdict.code;
    if (admin === "disabled") {
      state = "disabled";
      reason = "disabled by operator";
      code = "admin";
      r.health = { up: false, disabled: true };
    } else if (r.verdict.maint) {
      state = "maint";
      r.health = { up: false, disabled: true };
    } else if (!r.verdict.up && !held) {
      state = "down";
      r.health = { up: false };
    } else {
      // A server coming back ramps up; one that was up at start (restored) does not.
      if (!wasServing && r.rs.weight > 0 && r.vs.slowStartMs > 0 && cause !== "start" && cause !== "reload")
        r.rampFrom = now;
      let weight = held ? r.rs.weight : r.verdict.weight;
      if (r.rampFrom !== undefined) {
        const elapsed = now - r.rampFrom;
        if (elapsed >= r.vs.slowStartMs) delete r.rampFrom;
        else weight = Math.min(weight, slowStartWeight(weight, elapsed, r.vs.slowStartMs));
      }
      if (admin === "drain") weight = 0;
      state = held
        ? "guard"
        : admin === "drain" || (weight === 0 && r.rs.weight > 0)
          ? "drain"
          : r.rampFrom !== undefined
            ? "slow_start"
            : "up";
      if (held) {
        reason = `guard: kept in although ${r.verdict.reason} (max_down reached)`;
        code = "guard";
      } else if (admin === "drain") {
        reason = "drained by operator";
        code = "admin";
      }
      r.health = weight === r.rs.weight ? { up: true } : { up: true, weight };
    }
    if (state !== r.state) r.since = this.clock.wallNow();
    if (state === "guard" && r.state !== "guard") this.counters.guardHolds++;
    r.state = state;
    r.reason = reason;
    r.code = code;
  }

  private report(r: ServerRecord, from: ServerState): void {
    const serving = isServing(r.state);
    const fields = {
      virtual_server: r.vs.name,
      real_server: r.checks.realServer,
      reason: r.reason,
      code: r.code,
    };
    const key = `${serving ? "up" : "down"}:${r.code}`;
    this.counters.transitions.set(key, (this.counters.transitions.get(key) ?? 0) + 1);
    const log = {
      event: "real_server.state",
      virtualServer: r.vs.name,
      realServer: r.checks.realServer,
      from,
      to: r.state,
      code: r.code,
    };
    const message = `real server ${r.checks.realServer} of ${r.vs.name}: ${from} → ${r.state} (${r.reason})`;
    if (r.state === "guard") this.log.warn(log, message);
    else if (serving) this.log.info(log, message);
    else this.log.warn(log, message);
    if (serving !== isServing(from)) {
      const events = this.opts.events();
      this.opts.onEvent(serving ? events.realServerUp(fields) : events.realServerDown(fields));
      this.opts.onServingChange?.({
        virtualServer: r.vs.name,
        realServer: r.checks.realServer,
        address: r.rs.address,
        port: r.rs.port,
        serving,
        reason: r.reason,
      });
    }
  }

  // ------------------------------------------------------------------ operator

  /** `vipd server drain|disable|enable VS RS`. */
  setAdmin(virtualServer: string, realServer: string, action: "drain" | "disable" | "enable"): ServerRecord {
    const key = `${virtualServer}/${realServer}`;
    let record = this.servers.get(key);
    if (!record) {
      // A server with no checks is not in `servers` yet: the operator may still drain it.
      const vs = this.virtualServers.find((v) => v.name === virtualServer);
      if (!vs)
        throw new VipdError("HEALTH_UNKNOWN_VIRTUAL_SERVER", `no virtual server named '${virtualServer}'`, {
          virtualServer,
        });
      const rs = vs.realServers.find((r) => healthKey(vs.name, r) === key);
      if (!rs)
        throw new VipdError(
          "HEALTH_UNKNOWN_REAL_SERVER",
          `virtual server '${virtualServer}' has no real server ${realServer}`,
          {
            virtualServer,
            realServer,
          },
        );
      record = this.uncheckedRecord(vs, rs, key);
      this.addRecord(record);
    }
    if (action === "enable") this.admin.delete(key);
    else this.admin.set(key, action === "drain" ? "drain" : "disabled");
    this.log.info(
      { event: "real_server.admin", virtualServer, realServer, action },
      `operator: ${action} ${realServer} of ${virtualServer}`,
    );
    this.opts.onEvent(
      this.opts.events().realServerAdmin({ virtual_server: virtualServer, real_server: realServer, action }),
    );
    this.dirty = true;
    this.evaluate(new Set([virtualServer]), "admin");
    void this.persist();
    return record;
  }

  /** The record of a real server without checks: always up, as far as checks go. */
  private uncheckedRecord(vs: VirtualServerConfig, rs: RealServerConfig, key: string): ServerRecord {
    return {
      checks: {
        key,
        virtualServer: vs.name,
        realServer: formatEndpoint(rs.address, rs.port),
        probes: [],
        agents: [],
      },
      vs,
      rs,
      verdict: { up: true, code: "ok", reason: "not checked", weight: rs.weight, maint: false },
      state: "up",
      reason: "not checked",
      code: "ok",
      health: { up: true },
      since: this.clock.wallNow(),
      downSince: this.clock.now(),
    };
  }

  // ------------------------------------------------------------------ slow start

  private armRamp(): void {
    if (this.rampTimer !== undefined || this.stopped) return;
    let step = Number.POSITIVE_INFINITY;
    for (const r of this.servers.values()) {
      if (r.rampFrom !== undefined)
        step = Math.min(step, Math.max(250, r.vs.slowStartMs / Math.min(20, Math.max(1, r.rs.weight))));
    }
    if (!Number.isFinite(step)) return;
    this.rampTimer = this.clock.setTimer(() => {
      this.rampTimer = undefined;
      const vss = new Set<string>();
      for (const r of this.servers.values()) if (r.rampFrom !== undefined) vss.add(r.vs.name);
      if (vss.size > 0) this.evaluate(vss, "ramp");
    }, step);
  }

  // ------------------------------------------------------------------ persistence

  private async readPersisted(): Promise<PersistedHealth | undefined> {
    try {
      const text = await this.store.read();
      if (text === undefined) return undefined;
      const decoded = decodeHealth(text);
      if ("error" in decoded) {
        this.log.warn(
          { event: "health.state_ignored", error: decoded.error },
          `saved health ignored: ${decoded.error}`,
        );
        return undefined;
      }
      return decoded;
    } catch (err) {
      this.log.warn(
        { err, event: "health.state_ignored" },
        `saved health ignored: ${(err as Error).message}`,
      );
      return undefined;
    }
  }

  private snapshotState(): PersistedHealth {
    const probes: PersistedHealth["probes"] = {};
    for (const [id, v] of this.views) {
      // A probe never checked has nothing worth restoring.
      if (v.code === "initial") continue;
      probes[id] = {
        health: v.health,
        code: v.code,
        reason: v.reason,
        ...(v.agent ? { agent: v.agent } : {}),
        ...(v.weight !== undefined ? { weight: v.weight } : {}),
      };
    }
    return { version: 1, savedAt: this.clock.wallNow(), probes, admin: Object.fromEntries(this.admin) };
  }

  private schedulePersist(): void {
    if (this.stopped) return;
    this.persistTimer = this.clock.setTimer(() => {
      const due = this.dirty || this.clock.now() - this.lastPersist >= PERSIST_REFRESH_MS;
      void (due ? this.persist() : Promise.resolve()).finally(() => this.schedulePersist());
    }, PERSIST_MIN_MS);
  }

  /** Writes the state now; failures are logged (health keeps working without the file). */
  async persist(): Promise<void> {
    this.dirty = false;
    this.lastPersist = this.clock.now();
    try {
      await this.store.write(encodeHealth(this.snapshotState()));
    } catch (err) {
      this.log.error(
        { err, event: "health.state_write_failed" },
        `cannot save health: ${(err as Error).message}`,
      );
    }
  }

  // ------------------------------------------------------------------ status

  healthMap(): Map<string, ServerHealth> {
    const map = new Map<string, ServerHealth>();
    for (const [key, r] of this.servers) map.set(key, r.health);
    return map;
  }

  /** Whether a real server gets traffic by the checks and the operator; undefined = not checked. */
  serving(virtualServer: string, realServer: string): boolean | undefined {
    const r = this.servers.get(`${virtualServer}/${realServer}`);
    return r === undefined ? undefined : isServing(r.state) && r.health.weight !== 0;
  }

  records(): IterableIterator<ServerRecord> {
    return this.servers.values();
  }

  probeView(id: string): ProbeView | undefined {
    return this.views.get(id);
  }

  /** Probes after deduplication, and real-server checks before it. */
  dedup(): { probes: number; subscriptions: number } {
    return { probes: this.probes.length, subscriptions: this.subscriptions };
  }

  /** The `health` part of GET /status. */
  async status(): Promise<HealthStatus> {
    let worker = "running";
    let runner: HealthWorkerStatus | undefined;
    try {
      runner = await this.runner.status();
    } catch (err) {
      worker = `not answering: ${(err as Error).message}`;
    }
    const probeStatus = new Map((runner?.probes ?? []).map((p) => [p.id, p]));
    const stats = runner?.stats ?? new CheckStats().snapshot();
    const realServers: RealServerHealthStatus[] = [];
    for (const r of this.servers.values()) {
      realServers.push({
        virtualServer: r.vs.name,
        realServer: r.checks.realServer,
        state: r.state,
        reason: r.reason,
        code: r.code,
        since: new Date(r.since).toISOString(),
        weight:
          r.health.disabled || (!r.health.up && r.vs.onFailure === "remove")
            ? null
            : r.health.up
              ? (r.health.weight ?? r.rs.weight)
              : 0,
        configuredWeight: r.rs.weight,
        checks: [...r.checks.probes, ...r.checks.agents].map((id) => {
          const view = this.views.get(id);
          const p = probeStatus.get(id);
          return {
            probe: id,
            type: id.slice(0, id.indexOf(" ")),
            health: view?.health ?? "down",
            reason: view?.reason ?? "",
            last: p?.last ?? null,
          };
        }),
      });
    }
    const { probes, subscriptions } = this.dedup();
    return {
      probes,
      subscriptions,
      dedupRatio: probes === 0 ? 1 : subscriptions / probes,
      inFlight: runner?.inFlight ?? 0,
      worker,
      results: stats.results,
      latencyMs: latencySummary(stats.latency),
      schedulerLagMs: { ...latencySummary(stats.lag), max: stats.maxLagMs },
      transitions: Object.fromEntries(this.counters.transitions),
      guardHolds: this.counters.guardHolds,
      realServers,
    };
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.rampTimer !== undefined) this.clock.clearTimer(this.rampTimer);
    if (this.persistTimer !== undefined) this.clock.clearTimer(this.persistTimer);
    await this.runner.stop();
    await this.persist();
  }
}

function isServing(state: ServerState): boolean {
  return state === "up" || state === "slow_start" || state === "drain" || state === "guard";
}

function fileStore(path: string): StateStore {
  return {
    read: async () => (await import("../sys/state-file.js")).readFileIfExists(path),
    write: async (text) => (await import("../sys/state-file.js")).writeFileAtomic(path, text),
  };
}
