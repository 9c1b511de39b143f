import { EventFactory, type VipdEvent } from "../alert/events.js";
import { deepEqual } from "../config/diff.js";
import type { IpvsConfig, SyncDaemonConfig, VirtualServerConfig } from "../config/types.js";
import { describeError, VipdError } from "../errors.js";
import type { ApplyFailure, ApplyOptions, ApplyResult, IpvsSnapshot, SkippedEntry } from "../ipvs/client.js";
import {
  canonicalDestOptions,
  canonicalServiceOptions,
  type DaemonConfig,
  validateDestFor,
  validateService,
} from "../ipvs/codec.js";
import { type DiffResult, diff, type Op, SetDest, SetService } from "../ipvs/reconcile.js";
import {
  AF_INET6,
  canonicalDestKey,
  canonicalServiceKey,
  type Destination,
  type DestKey,
  destKeyString,
  type IpvsTable,
  type ServiceKey,
  type ServiceOptions,
  serviceKeyString,
} from "../ipvs/types.js";
import { childLogger, type Logger } from "../log.js";
import {
  desiredState,
  type HealthMap,
  healthKey,
  quorumEvent,
  type ServerHealth,
  sameHealth,
  serviceKeyOf,
  type VirtualServerState,
} from "./desired.js";

/**
 * The IPVS loop: keeps the kernel's table equal to desiredState(config, health).
 *
 * - start(): optionally FLUSH (`ipvs.flush_on_start`), start the sync daemon(s), then a full
 *   reconcile (read the kernel, diff, apply), then a resync every `ipvs.resync_interval`.
 * - resync() (the timer, or on demand): reads the table back. Whatever differs from what vipd
 *   last set (an owned entry deleted or changed by someone else) is logged as drift, naming the
 *   entry and the change, and repaired by the same diff.
 * - setHealth() and updateConfig() reconcile only the virtual servers they change, against
 *   vipd's own view of its services (the table as last read, plus every op the kernel
 *   acknowledged since): a change costs time in proportion to the change, not to the table.
 *   A failure that leaves that view in doubt (a timeout, say) makes the next reconcile read
 *   the kernel again.
 * - Ownership: vipd changes only the services its config declares (plus those a reload just
 *   removed, which it deletes). Any other service is left alone and logged once.
 * - A desired entry vipd's validation refuses is reported with the entry named and left out;
 *   everything else is still applied, and a refused service is never deleted for it.
 * - Reconciles never overlap: requests during a run are folded into one run after it.
 *
 * Sync daemon (`ipvs.sync_daemon`): onVrrpState("MASTER") runs the kernel's sync daemon as
 * master and stops the backup one; any other state the reverse. With no VRRP to follow
 * (`followVrrp: false`), both run.
 */

/** The part of IpvsClient the manager uses (a fake in unit tests). */
export interface IpvsBackend {
  snapshot(): Promise<IpvsSnapshot>;
  apply(ops: readonly Op[], opts?: ApplyOptions): Promise<ApplyResult>;
  flush(): Promise<void>;
  getDaemons(): Promise<DaemonConfig[]>;
  startDaemon(cfg: DaemonConfig): Promise<void>;
  stopDaemon(state: DaemonConfig["state"]): Promise<void>;
}

export type ReconcileTrigger = "start" | "resync" | "health" | "config" | "manual";

/** A desired entry vipd refused before sending anything. */
export interface InvalidEntry {
  service: string;
  dest?: string;
  error: VipdError;
}

/** An owned entry that differed from what vipd last set. */
export interface Drift {
  service: string;
  dest?: string;
  /** "missing …", "unexpected …", or "changed outside vipd: weight 1 → 5" (what vipd set → what it found). */
  change: string;
}

export interface ReconcileReport {
  trigger: ReconcileTrigger;
  /** The kernel's table was read (start, resync, or a view in doubt). */
  read: boolean;
  /** How many virtual servers were evaluated (all of them when the table was read). */
  evaluated: number;
  applied: Op[];
  failed: ApplyFailure[];
  invalid: InvalidEntry[];
  drift: Drift[];
  /** Services in the kernel that the config does not declare (left alone). */
  unowned: string[];
  /** Kernel entries vipd could not decode (left alone). */
  skipped: SkippedEntry[];
  /** Set when the reconcile could not run (reading the table failed). */
  error?: VipdError;
  durationMs: number;
  /** Where the time went: reading the kernel, desired state, diff, apply (with the view's upkeep). */
  phasesMs: { read: number; desired: number; diff: number; apply: number };
}

export type SyncRole = "master" | "backup" | "both";

export interface IpvsManagerOptions {
  client: IpvsBackend;
  virtualServers: readonly VirtualServerConfig[];
  ipvs: IpvsConfig;
  /**
   * Whether VRRP decides the sync daemon's role (onVrrpState). Default true; false (a config
   * without VRRP instances) runs master and backup together.
   */
  followVrrp?: boolean;
  /** Builds quorum events; default one for `node`. */
  events?: EventFactory;
  node?: string;
  /** Receives quorum.lost / quorum.gained. */
  onEvent?: (event: VipdEvent) => void;
  /** Receives every report (for the API, metrics, tests). */
  onReconcile?: (report: ReconcileReport) => void;
  log?: Logger;
  /** Real server health at start (restored or initial), so the first reconcile already uses it. */
  health?: HealthMap;
}

interface CachedService {
  key: ServiceKey;
  options: ServiceOptions;
  dests: Map<string, Destination>;
}

/** serviceKeyString, memoised per key object (ops of one service share their key object). */
const keyStrings = new WeakMap<ServiceKey, string>();
function ks(key: ServiceKey): string {
  let s = keyStrings.get(key);
  if (s === undefined) {
    s = serviceKeyString(key);
    keyStrings.set(key, s);
  }
  return s;
}

/** destKeyString of a canonical key (as ops carry them), without re-canonicalising it. */
function dks(key: Required<DestKey>): string {
  return key.af === AF_INET6 ? `[${key.address}]:${key.port}` : `${key.address}:${key.port}`;
}

/**
 * vipd's view of the services it owns: as read, plus every acknowledged op since. Ops are
 * folded in when the view is next looked at, so a big apply returns as soon as the kernel has
 * acknowledged it.
 */
class TableView {
  private readonly services = new Map<string, CachedService>();
  private pending: Op[][] = [];

  static of(table: IpvsTable, keep: (ks: string) => boolean): TableView {
    const v = new TableView();
    for (const e of table) {
      const ks = serviceKeyString(e.service.key);
      if (!keep(ks)) continue;
      const dests = new Map<string, Destination>();
      for (const d of e.destinations) dests.set(destKeyString(d.key), { key: d.key, options: d.options });
      v.services.set(ks, { key: e.service.key, options: e.service.options, dests });
    }
    return v;
  }

  /** Ops the kernel acknowledged, to fold in later. */
  record(ops: Op[]): void {
    if (ops.length > 0) this.pending.push(ops);
  }

  private settle(): void {
    const pending = this.pending;
    this.pending = [];
    for (const ops of pending) for (const op of ops) this.apply(op);
  }

  private apply(op: Op): void {
    switch (op.kind) {
      case "add_service":
      case "set_service": {
        const k = ks(op.key);
        const cur = this.services.get(k);
        if (cur) cur.options = op.options;
        else this.services.set(k, { key: op.key, options: op.options, dests: new Map() });
        return;
      }
      case "del_service":
        this.services.delete(ks(op.key));
        return;
      case "add_dest":
      case "set_dest":
        // The op has the key and options a Destination has: kept as it is, no copy.
        this.services.get(ks(op.service))?.dests.set(dks(op.key), op);
        return;
      case "del_dest":
        this.services.get(ks(op.service))?.dests.delete(dks(op.key));
        return;
    }
  }

  /** The services named (all when `only` is undefined), as a table. */
  table(only?: Iterable<string>): IpvsTable {
    this.settle();
    const pick =
      only === undefined
        ? this.services.values()
        : [...only].flatMap((ks) => {
            const s = this.services.get(ks);
            return s ? [s] : [];
          });
    return [...pick].map((s) => ({
      service: { key: s.key, options: s.options },
      destinations: [...s.dests.values()],
    }));
  }
}

/** The text after "<anchor>: " in a reconcile op description ("weight 1 → 5"). */
function changesOf(description: string, anchor: string): string {
  const i = description.indexOf(`${anchor}: `);
  return i === -1 ? description : description.slice(i + anchor.length + 2);
}

/** Drift from what vipd expects (`expected`) to what the kernel holds (`actual`). */
export function findDrift(expected: IpvsTable, actual: IpvsTable): Drift[] {
  const { ops } = diff(expected, actual, { owned: () => true });
  const out: Drift[] = [];
  // A missing service is one drift, not one more per destination it had.
  const missing = new Set<string>();
  for (const op of ops) {
    switch (op.kind) {
      case "add_service":
        missing.add(serviceKeyString(op.key));
        out.push({ service: serviceKeyString(op.key), change: "missing (deleted outside vipd)" });
        break;
      case "del_service":
        out.push({ service: serviceKeyString(op.key), change: "unexpected (added outside vipd)" });
        break;
      case "set_service": {
        const ks = serviceKeyString(op.key);
        const rev = new SetService(op.key, op.previous, op.options).describe();
        out.push({ service: ks, change: `changed outside vipd: ${changesOf(rev, ks)}` });
        break;
      }
      case "add_dest":
        if (missing.has(serviceKeyString(op.service))) break;
        out.push({
          service: serviceKeyString(op.service),
          dest: destKeyString(op.key),
          change: "missing (deleted outside vipd)",
        });
        break;
      case "del_dest":
        out.push({
          service: serviceKeyString(op.service),
          dest: destKeyString(op.key),
          change: "unexpected (added outside vipd)",
        });
        break;
      case "set_dest": {
        const ks = serviceKeyString(op.service);
        const rev = new SetDest(op.service, op.key, op.previous, op.options).describe();
        out.push({
          service: ks,
          dest: destKeyString(op.key),
          change: `changed outside vipd: ${changesOf(rev, ks)}`,
        });
        break;
      }
    }
  }
  return out;
}

function asVipdError(err: unknown, code = "IPVS_RECONCILE_FAILED"): VipdError {
  return err instanceof VipdError ? err : new VipdError(code, describeError(err), {}, { cause: err });
}

function isInvalidTable(err: unknown): boolean {
  return (
    err instanceof VipdError &&
    (err.code.startsWith("IPVS_INVALID_") || err.code.startsWith("IPVS_DUPLICATE_"))
  );
}

const LOG_EACH_OP_UP_TO = 100;

export class IpvsManager {
  private readonly client: IpvsBackend;
  private readonly log: Logger;
  private readonly events: EventFactory;
  private readonly onEvent: ((event: VipdEvent) => void) | undefined;
  private readonly onReconcile: ((report: ReconcileReport) => void) | undefined;
  private readonly followVrrp: boolean;

  private virtualServers: readonly VirtualServerConfig[];
  private ipvs: IpvsConfig;
  /** Declared service key string → virtual server name. */
  private declared = new Map<string, string>();
  /** Health key → virtual server name. */
  private healthIndexCache: Map<string, string> | undefined;
  /** Services a reload removed from the config: still owned until deleted. */
  private readonly retired = new Map<string, ServiceKey>();
  /** Virtual servers whose desired state may have changed since the last reconcile. */
  private dirty = new Set<string>();
  private health = new Map<string, boolean | ServerHealth>();
  private quorum = new Map<string, boolean>();
  private readonly states = new Map<string, VirtualServerState>();
  private view: TableView | undefined;

  private readonly reportedUnowned = new Set<string>();
  private readonly reportedSkipped = new Set<string>();
  private readonly reportedInvalid = new Set<string>();

  private busy = false;
  /** The last reconcile requested (what stop() waits for). */
  private tail: Promise<unknown> = Promise.resolve();
  private next:
    | {
        trigger: ReconcileTrigger;
        read: boolean;
        promise: Promise<ReconcileReport>;
        resolve: (r: ReconcileReport) => void;
      }
    | undefined;

  private timer: ReturnType<typeof setTimeout> | undefined;
  private started = false;
  private stopped = false;

  private role: SyncRole | undefined;
  private daemonQueue: Promise<unknown> = Promise.resolve();

  constructor(opts: IpvsManagerOptions) {
    this.client = opts.client;
    this.log = opts.log ?? childLogger("ipvs");
    this.events = opts.events ?? new EventFactory({ node: opts.node ?? "vipd" });
    this.onEvent = opts.onEvent;
    this.onReconcile = opts.onReconcile;
    this.followVrrp = opts.followVrrp ?? true;
    this.virtualServers = opts.virtualServers;
    this.ipvs = opts.ipvs;
    this.index(opts.virtualServers);
    if (opts.health) for (const [key, h] of opts.health) this.health.set(key, h);
  }

  private index(vss: readonly VirtualServerConfig[]): void {
    this.declared = new Map();
    this.healthIndexCache = undefined;
    for (const vs of vss) {
      try {
        this.declared.set(serviceKeyString(canonicalServiceKey(serviceKeyOf(vs))), vs.name);
      } catch {
        // An invalid identity is reported by the reconcile that evaluates it.
      }
    }
  }

  /** Health key → virtual server name; built when health first changes after a (re)load. */
  private get healthIndex(): Map<string, string> {
    if (!this.healthIndexCache) {
      const index = new Map<string, string>();
      for (const vs of this.virtualServers) {
        for (const rs of vs.realServers) index.set(healthKey(vs.name, rs), vs.name);
      }
      this.healthIndexCache = index;
    }
    return this.healthIndexCache;
  }

  /** Flush (if configured), sync daemons, first reconcile, periodic resync. */
  async start(): Promise<ReconcileReport> {
    if (this.started) throw new VipdError("IPVS_ALREADY_STARTED", "the IPVS manager is already started");
    this.started = true;
    if (this.ipvs.flushOnStart) {
      try {
        await this.client.flush();
        this.log.warn("flushed the IPVS table (ipvs.flush_on_start)");
      } catch (err) {
        this.log.error({ err }, `flushing the IPVS table failed: ${describeError(err)}`);
      }
    }
    if (this.ipvs.syncDaemon) await this.setRole(this.followVrrp ? "backup" : "both");
    const report = await this.request("start", true);
    this.arm();
    return report;
  }

  /**
   * Stops the periodic resync and the sync daemons vipd runs, after the reconcile under way
   * (if any) has finished; later requests do nothing. The IPVS table stays as it is.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    await this.tail;
    if (this.ipvs.syncDaemon && this.role !== undefined) {
      this.role = undefined;
      const sd = this.ipvs.syncDaemon;
      await this.queueDaemons(() => this.ensureDaemons(undefined, sd));
    }
  }

  /** Reads the kernel's table, reports drift and repairs it. */
  resync(): Promise<ReconcileReport> {
    return this.request("resync", true);
  }

  /** Reconciles what changed, against vipd's view (reading the kernel only when that view is in doubt). */
  reconcile(): Promise<ReconcileReport> {
    return this.request("manual", false);
  }

  /**
   * Real server health changes (see healthKey and ServerHealth), merged into what is known;
   * only the virtual servers concerned are reconciled. Servers never reported count as up.
   */
  setHealth(
    changes: HealthMap | Iterable<readonly [string, boolean | ServerHealth]>,
  ): Promise<ReconcileReport> {
    this.mergeHealth(changes);
    return this.request("health", false);
  }

  private mergeHealth(changes: Iterable<readonly [string, boolean | ServerHealth]>): void {
    for (const [key, h] of changes) {
      const before = this.health.get(key);
      this.health.set(key, h);
      const vs = this.healthIndex.get(key);
      if (vs !== undefined && !sameHealth(before, h)) this.dirty.add(vs);
    }
  }

  /** A reloaded config: services it no longer declares are deleted, new ones added, changes set. */
  updateConfig(cfg: {
    virtualServers: readonly VirtualServerConfig[];
    ipvs: IpvsConfig;
    /** Health for the new config's servers, applied in the same reconcile. */
    health?: HealthMap;
  }): Promise<ReconcileReport> {
    const oldByName = new Map(this.virtualServers.map((v) => [v.name, v]));
    const oldDeclared = this.declared;
    this.index(cfg.virtualServers);
    for (const vs of cfg.virtualServers) {
      const old = oldByName.get(vs.name);
      if (!old || !deepEqual(old, vs)) this.dirty.add(vs.name);
    }
    for (const [ks, name] of oldDeclared) {
      if (this.declared.has(ks)) continue;
      try {
        const old = oldByName.get(name);
        if (old) this.retired.set(ks, canonicalServiceKey(serviceKeyOf(old)));
      } catch {
        // It could not have been added either.
      }
    }
    for (const ks of this.declared.keys()) this.retired.delete(ks);
    const names = new Set(cfg.virtualServers.map((v) => v.name));
    for (const name of [...this.quorum.keys()]) if (!names.has(name)) this.quorum.delete(name);
    for (const name of [...this.states.keys()]) if (!names.has(name)) this.states.delete(name);
    if (this.health.size > 0) {
      // Forget the health of real servers the new config no longer has.
      const keep = new Set<string>();
      for (const vs of cfg.virtualServers) for (const rs of vs.realServers) keep.add(healthKey(vs.name, rs));
      for (const key of [...this.health.keys()]) if (!keep.has(key)) this.health.delete(key);
    }

    const oldIpvs = this.ipvs;
    this.virtualServers = cfg.virtualServers;
    this.ipvs = cfg.ipvs;
    if (cfg.health) this.mergeHealth(cfg.health);
    if (oldIpvs.resyncIntervalMs !== cfg.ipvs.resyncIntervalMs && this.started) this.arm();
    if (!deepEqual(oldIpvs.syncDaemon, cfg.ipvs.syncDaemon) && this.started && !this.stopped) {
      const role = cfg.ipvs.syncDaemon ? (this.role ?? (this.followVrrp ? "backup" : "both")) : undefined;
      this.role = role;
      const oldSd = oldIpvs.syncDaemon;
      const newSd = cfg.ipvs.syncDaemon;
      void this.queueDaemons(async () => {
        if (oldSd && (!newSd || !deepEqual(oldSd, newSd))) await this.ensureDaemons(undefined, oldSd);
        if (newSd) await this.ensureDaemons(role, newSd);
      });
    }
    return this.request("config", false);
  }

  /** The state of each virtual server after its last evaluation, and the sync daemon role. */
  status(): { virtualServers: VirtualServerState[]; syncRole: SyncRole | undefined } {
    return {
      virtualServers: this.virtualServers.flatMap((v) => {
        const s = this.states.get(v.name);
        return s ? [s] : [];
      }),
      syncRole: this.role,
    };
  }

  // -------------------------------------------------------------------------
  // Sync daemon

  /**
   * A VRRP state change. MASTER → the sync daemon runs as master (the backup one is stopped);
   * any other state → backup. When `ipvs.sync_daemon.instance` names an instance, other
   * instances' changes are ignored.
   */
  async onVrrpState(state: string, instance?: string): Promise<void> {
    const sd = this.ipvs.syncDaemon;
    if (!sd || this.stopped) return;
    if (sd.instance !== undefined && instance !== undefined && instance !== sd.instance) return;
    await this.setRole(state.toUpperCase() === "MASTER" ? "master" : "backup");
  }

  private setRole(role: SyncRole): Promise<void> {
    this.role = role;
    const sd = this.ipvs.syncDaemon;
    return this.queueDaemons(() => this.ensureDaemons(role, sd));
  }

  private queueDaemons(fn: () => Promise<void>): Promise<void> {
    const run = this.daemonQueue.then(fn, fn);
    this.daemonQueue = run.catch(() => undefined);
    return run;
  }

  /** Makes the running sync daemons match `role` (undefined: none of ours). Logs, never throws. */
  private async ensureDaemons(role: SyncRole | undefined, sd: SyncDaemonConfig | undefined): Promise<void> {
    if (!sd) return;
    const want = new Set<DaemonConfig["state"]>(
      role === "both" ? ["master", "backup"] : role === undefined ? [] : [role],
    );
    let running: DaemonConfig[];
    try {
      running = await this.client.getDaemons();
    } catch (err) {
      this.log.error({ err }, `reading the IPVS sync daemons failed: ${describeError(err)}`);
      return;
    }
    const ours = (d: DaemonConfig) => d.interface === sd.interface && d.syncId === sd.syncId;
    for (const d of running) {
      if (want.has(d.state) && ours(d)) continue;
      // Stop ours that are not wanted, and any other in the way of one we want; leave the rest.
      if (!ours(d) && !want.has(d.state)) continue;
      try {
        await this.client.stopDaemon(d.state);
        this.log.info(
          { state: d.state, interface: d.interface, syncId: d.syncId },
          `stopped the IPVS ${d.state} sync daemon`,
        );
      } catch (err) {
        this.log.error(
          { err, state: d.state },
          `stopping the IPVS ${d.state} sync daemon failed: ${describeError(err)}`,
        );
      }
    }
    for (const state of want) {
      if (running.some((d) => d.state === state && ours(d))) continue;
      try {
        await this.client.startDaemon({ state, interface: sd.interface, syncId: sd.syncId });
        this.log.info(
          { state, interface: sd.interface, syncId: sd.syncId },
          `started the IPVS ${state} sync daemon`,
        );
      } catch (err) {
        this.log.error(
          { err, state },
          `starting the IPVS ${state} sync daemon failed: ${describeError(err)}`,
        );
      }
    }
  }

  // -------------------------------------------------------------------------
  // Reconcile loop

  private arm(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const ms = this.ipvs.resyncIntervalMs;
    if (this.stopped || !(ms > 0)) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.request("resync", true).then(() => this.arm());
    }, ms);
    this.timer.unref?.();
  }

  private request(trigger: ReconcileTrigger, read: boolean): Promise<ReconcileReport> {
    if (this.stopped) return Promise.resolve(this.stoppedReport(trigger));
    if (!this.busy) {
      this.busy = true;
      const p = this.reconcileNow(trigger, read);
      this.tail = p;
      void p.then(() => this.afterRun());
      return p;
    }
    if (this.next) {
      this.next.read ||= read;
      return this.next.promise;
    }
    let resolve!: (r: ReconcileReport) => void;
    const promise = new Promise<ReconcileReport>((r) => {
      resolve = r;
    });
    this.next = { trigger, read, promise, resolve };
    this.tail = promise;
    return promise;
  }

  private stoppedReport(trigger: ReconcileTrigger): ReconcileReport {
    return {
      ...emptyReport(trigger),
      error: new VipdError("IPVS_STOPPED", "the IPVS manager is stopped", { trigger }),
    };
  }

  private afterRun(): void {
    const n = this.next;
    this.next = undefined;
    if (!n) {
      this.busy = false;
      return;
    }
    if (this.stopped) {
      n.resolve(this.stoppedReport(n.trigger));
      this.busy = false;
      return;
    }
    void this.reconcileNow(n.trigger, n.read).then((r) => {
      n.resolve(r);
      this.afterRun();
    });
  }

  private owned(ks: string): boolean {
    return this.declared.has(ks) || this.retired.has(ks);
  }

  /** Never rejects. */
  private async reconcileNow(trigger: ReconcileTrigger, read: boolean): Promise<ReconcileReport> {
    const t0 = performance.now();
    const report = emptyReport(trigger);
    try {
      await this.reconcileInto(report, read || this.view === undefined);
    } catch (err) {
      report.error = asVipdError(err);
      this.view = undefined;
      this.log.error({ err, trigger }, `IPVS reconcile failed: ${describeError(err)}`);
    }
    report.durationMs = performance.now() - t0;
    try {
      this.onReconcile?.(report);
    } catch (err) {
      this.log.error({ err }, "IPVS reconcile listener threw");
    }
    return report;
  }

  private async reconcileInto(report: ReconcileReport, read: boolean): Promise<void> {
    // What to evaluate, and against what.
    let actual: IpvsTable;
    let vss: readonly VirtualServerConfig[];
    const dirty = this.dirty;
    this.dirty = new Set();
    const phases = report.phasesMs;
    let t = performance.now();
    const lap = (): number => {
      const now = performance.now();
      const ms = now - t;
      t = now;
      return ms;
    };
    if (read) {
      const snap = await this.client.snapshot();
      report.read = true;
      actual = snap.table;
      report.skipped = snap.skipped;
      this.reportSkipped(snap.skipped);
      if (this.view) {
        const ownedActual = actual.filter((e) => this.owned(serviceKeyString(e.service.key)));
        report.drift = findDrift(this.view.table(), ownedActual);
        for (const d of report.drift) {
          this.log.warn(
            { drift: d },
            `IPVS drift: ${d.dest ? `destination ${d.dest} of ` : "service "}${d.service} ${d.change}; repairing`,
          );
        }
      }
      this.view = TableView.of(actual, (ks) => this.owned(ks));
      vss = this.virtualServers;
    } else {
      const view = this.view as TableView;
      vss = this.virtualServers.filter((v) => dirty.has(v.name));
      const keys = new Set<string>(this.retired.keys());
      for (const vs of vss) {
        try {
          keys.add(serviceKeyString(canonicalServiceKey(serviceKeyOf(vs))));
        } catch {
          // Reported below, when the entry is validated.
        }
      }
      actual = view.table(keys);
    }
    report.evaluated = vss.length;
    phases.read = lap();
    if (vss.length === 0 && this.retired.size === 0 && !read) return;

    // Desired state; quorum transitions become events.
    const desired = desiredState(vss, this.health, this.quorum);
    for (const [name, q] of desired.quorum) this.quorum.set(name, q);
    for (const s of desired.virtualServers) this.states.set(s.name, s);
    for (const t of desired.transitions) {
      const msg = `virtual server ${t.virtualServer}: ${t.event === "quorum.lost" ? "quorum lost" : "quorum gained"} (healthy weight ${t.weight}, quorum ${t.quorum})`;
      if (t.event === "quorum.lost") this.log.warn({ event: t.event, transition: t }, msg);
      else this.log.info({ event: t.event, transition: t }, msg);
      try {
        this.onEvent?.(quorumEvent(this.events, t));
      } catch (err) {
        this.log.error({ err }, "IPVS event listener threw");
      }
    }

    phases.desired = lap();

    // Diff. An invalid entry makes diff refuse the whole table; then go entry by entry, so
    // that only what is invalid is left out.
    let result: DiffResult;
    let refused = new Set<string>();
    try {
      result = diff(desired.table, actual, { owned: (key) => this.owned(serviceKeyString(key)) });
    } catch (err) {
      if (!isInvalidTable(err)) throw err;
      const filtered = this.validEntries(desired.table, actual, report);
      refused = filtered.refused;
      result = diff(filtered.table, actual, {
        owned: (key) => {
          const ks = serviceKeyString(key);
          return this.owned(ks) && !refused.has(ks);
        },
      });
    }
    this.reportInvalid(report.invalid);
    report.unowned = result.unowned.filter((k) => !refused.has(serviceKeyString(k))).map(serviceKeyString);
    if (read) this.reportUnowned(report.unowned);

    const { ops } = result;
    phases.diff = lap();
    if (ops.length === 0) return;
    const applied = await this.client.apply(ops, { validated: true });
    report.applied = applied.applied;
    report.failed = applied.failed;
    (this.view as TableView).record(applied.applied);
    if (this.retired.size > 0) {
      for (const op of applied.applied) {
        if (op.kind === "del_service") this.retired.delete(serviceKeyString(op.key));
      }
    }
    if (applied.failed.some((f) => f.error.code.startsWith("NETLINK_"))) this.view = undefined;
    phases.apply = lap();
    this.logApplied(report);
  }

  /** The entries that pass validation; the others are reported and left as the kernel has them. */
  private validEntries(
    table: IpvsTable,
    actual: IpvsTable,
    report: ReconcileReport,
  ): { table: IpvsTable; refused: Set<string> } {
    const actualDests = new Map<string, Map<string, Destination>>();
    for (const e of actual) {
      actualDests.set(
        serviceKeyString(e.service.key),
        new Map(e.destinations.map((d) => [destKeyString(d.key), d])),
      );
    }
    const refused = new Set<string>();
    const seen = new Set<string>();
    const out: IpvsTable = [];
    for (const e of table) {
      const ks = serviceKeyString(e.service.key);
      try {
        canonicalServiceKey(e.service.key);
        validateService(e.service.key, e.service.options);
        canonicalServiceOptions(e.service.key.af, e.service.options);
        if (seen.has(ks)) {
          throw new VipdError("IPVS_DUPLICATE_SERVICE", `service ${ks} is declared twice`, { service: ks });
        }
      } catch (err) {
        refused.add(ks);
        report.invalid.push({ service: ks, error: asVipdError(err) });
        continue;
      }
      seen.add(ks);
      const dests: Destination[] = [];
      const seenDests = new Set<string>();
      for (const d of e.destinations) {
        const ds = destKeyString(d.key);
        try {
          validateDestFor(e.service.key, d.key, d.options);
          canonicalDestKey(d.key);
          canonicalDestOptions(d.options);
          if (seenDests.has(ds)) {
            throw new VipdError("IPVS_DUPLICATE_DEST", `destination ${ds} of ${ks} is declared twice`, {
              service: ks,
              dest: ds,
            });
          }
          seenDests.add(ds);
          dests.push(d);
        } catch (err) {
          report.invalid.push({ service: ks, dest: ds, error: asVipdError(err) });
          // Leave whatever the kernel has under that key as it is.
          const existing = actualDests.get(ks)?.get(ds);
          if (existing && !seenDests.has(ds)) {
            seenDests.add(ds);
            dests.push({ key: existing.key, options: existing.options });
          }
        }
      }
      out.push({ service: e.service, destinations: dests });
    }
    return { table: out, refused };
  }

  private logApplied(report: ReconcileReport): void {
    const { applied, failed, trigger } = report;
    if (applied.length <= LOG_EACH_OP_UP_TO) {
      for (const op of applied) this.log.info({ op: op.kind, trigger }, op.describe());
    } else {
      const byKind: Record<string, number> = {};
      for (const op of applied) byKind[op.kind] = (byKind[op.kind] ?? 0) + 1;
      this.log.info({ trigger, ops: byKind }, `applied ${applied.length} IPVS changes`);
      if (this.log.isLevelEnabled("debug")) {
        for (const op of applied) this.log.debug({ op: op.kind, trigger }, op.describe());
      }
    }
    for (const f of failed) {
      this.log.error(
        { code: f.error.code, ...f.error.context, trigger },
        `IPVS change failed: ${f.error.message}`,
      );
    }
  }

  private reportUnowned(unowned: string[]): void {
    const now = new Set(unowned);
    for (const ks of now) {
      if (this.reportedUnowned.has(ks)) continue;
      this.reportedUnowned.add(ks);
      this.log.warn(
        { service: ks },
        `IPVS service ${ks} is not declared in the config: vipd leaves it alone`,
      );
    }
    for (const ks of [...this.reportedUnowned]) if (!now.has(ks)) this.reportedUnowned.delete(ks);
  }

  private reportSkipped(skipped: SkippedEntry[]): void {
    for (const s of skipped) {
      const id = `${s.kind} ${s.service ?? "?"} ${s.dest ?? ""}`;
      if (this.reportedSkipped.has(id)) continue;
      this.reportedSkipped.add(id);
      this.log.warn(
        { kind: s.kind, service: s.service, dest: s.dest, code: s.error.code },
        `IPVS ${s.kind} ${s.dest ?? s.service ?? ""} cannot be decoded; vipd leaves it alone: ${s.error.message}`,
      );
    }
  }

  private reportInvalid(invalid: InvalidEntry[]): void {
    for (const i of invalid) {
      const id = `${i.service} ${i.dest ?? ""} ${i.error.message}`;
      if (this.reportedInvalid.has(id)) continue;
      this.reportedInvalid.add(id);
      this.log.error(
        { service: i.service, dest: i.dest, code: i.error.code },
        `IPVS ${i.dest ? `destination ${i.dest} of ` : "service "}${i.service} refused: ${i.error.message}`,
      );
    }
  }
}

/** A JSON-friendly summary of a report (for logs, the API and tests). */
export function summarizeReport(r: ReconcileReport): {
  trigger: ReconcileTrigger;
  read: boolean;
  evaluated: number;
  applied: string[];
  failed: Array<{ op: string; code: string; message: string; service?: unknown; dest?: unknown }>;
  invalid: Array<{ service: string; dest?: string; code: string; message: string }>;
  drift: Drift[];
  unowned: string[];
  skipped: Array<{ kind: string; service?: string; dest?: string; message: string }>;
  error?: { code: string; message: string };
  durationMs: number;
  phasesMs: ReconcileReport["phasesMs"];
} {
  return {
    trigger: r.trigger,
    read: r.read,
    evaluated: r.evaluated,
    applied: r.applied.map((op) => op.describe()),
    failed: r.failed.map((f) => ({
      op: f.op.describe(),
      code: f.error.code,
      message: f.error.message,
      service: f.error.context.service,
      ...(f.error.context.dest !== undefined ? { dest: f.error.context.dest } : {}),
    })),
    invalid: r.invalid.map((i) => ({
      service: i.service,
      ...(i.dest !== undefined ? { dest: i.dest } : {}),
      code: i.error.code,
      message: i.error.message,
    })),
    drift: r.drift,
    unowned: r.unowned,
    skipped: r.skipped.map((s) => ({
      kind: s.kind,
      ...(s.service !== undefined ? { service: s.service } : {}),
      ...(s.dest !== undefined ? { dest: s.dest } : {}),
      message: s.error.message,
    })),
    ...(r.error ? { error: { code: r.error.code, message: r.error.message } } : {}),
    durationMs: Math.round(r.durationMs * 10) / 10,
    phasesMs: {
      read: Math.round(r.phasesMs.read * 10) / 10,
      desired: Math.round(r.phasesMs.desired * 10) / 10,
      diff: Math.round(r.phasesMs.diff * 10) / 10,
      apply: Math.round(r.phasesMs.apply * 10) / 10,
    },
  };
}

/** A report of a reconcile that has done nothing yet. */
function emptyReport(trigger: ReconcileTrigger): ReconcileReport {
  return {
    trigger,
    read: false,
    evaluated: 0,
    applied: [],
    failed: [],
    invalid: [],
    drift: [],
    unowned: [],
    skipped: [],
    durationMs: 0,
    phasesMs: { read: 0, desired: 0, diff: 0, apply: 0 },
  };
}
