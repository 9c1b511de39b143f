/**
 * The VRRP worker thread (README, Architecture). It owns everything failover needs:
 * the raw VRRP sockets, the instances' timers, the VIPs (rtnetlink), GARP / NA, and interface
 * tracking (rtnetlink link and address events). It never waits for the main thread.
 *
 * Protocol (structured-clone messages; types below):
 *   main → worker: init {config} · heartbeat · reload {config} · status {id} · shutdown
 *   worker → main: ready · init_failed {error} · transition {event} · demote {active, reason}
 *                  · status {id, ...} · reloaded {id, ok, error?} · stopped
 *
 * Self-demote: the main thread sends a heartbeat every few hundred ms. When none has arrived
 * for longer than `vrrp.heartbeat_timeout`, the worker logs why and feeds `demote` to every
 * instance (a master resigns with a priority-0 advert; priorities drop to 1), so no VIP is held
 * while nobody minds the services behind it. The next heartbeat feeds `demote_cleared`.
 *
 * Started by src/engine/vrrp-host.ts as `new Worker(<this file>, { workerData: { vipd: "vrrp" } })`.
 */
import { writeFileSync } from "node:fs";
import { isMainThread, type MessagePort, parentPort, workerData } from "node:worker_threads";
import { instanceNeedsRestart } from "../config/diff.js";
import type { LogLevel, SyncGroupConfig, VrrpConfig, VrrpInstanceConfig } from "../config/types.js";
import { describeError, hasCode, VipdError } from "../errors.js";
import { childLogger, type Logger, rootLogger, setLogLevel } from "../log.js";
import type { Address, Link, RouteEvent } from "../netlink/route.js";
import { IFA_F_SECONDARY, IFA_F_TENTATIVE } from "../netlink/route.js";
import { Announcer } from "../sys/announce.js";
import { Rtnetlink, type RtnetlinkSubscription } from "../sys/rtnetlink.js";
import { VrrpSocket } from "../sys/vrrp-socket.js";
import { parseMac } from "./arp.js";
import { HeartbeatMonitor, type WatchdogDecision } from "./heartbeat.js";
import {
  familyOf,
  type InstanceIo,
  type InstanceStatus,
  type TransitionEvent,
  VrrpInstance,
  vipCidr,
} from "./instance.js";
import { type IpFamily, normalizeIp } from "./packet.js";
import { SyncGroup } from "./sync-group.js";
import { Tracker, type TrackingResult } from "./tracking.js";

// ---------------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------------

export interface WorkerConfig {
  node: string;
  logLevel: LogLevel;
  vrrp: VrrpConfig;
  /** The tracked scripts' and files' states when the worker starts (later ones come as `tracked`). */
  tracked?: TrackedStates;
}

export interface TrackedStates {
  /** By script name: true = up. */
  scripts: Record<string, boolean>;
  /** By file name: the integer it holds. */
  files: Record<string, number>;
}

export type MainToWorker =
  | { type: "init"; config: WorkerConfig }
  | { type: "heartbeat" }
  | { type: "reload"; id: number; config: WorkerConfig }
  | { type: "status"; id: number }
  /** `vipd vrrp resign|resume INSTANCE`. */
  | { type: "operator"; id: number; action: OperatorAction; instance: string }
  /** Every tracked script's state (true = up) and tracked file's value, from the main thread. */
  | ({ type: "tracked" } & TrackedStates)
  | { type: "shutdown" };

export type OperatorAction = "resign" | "resume";

export interface WorkerStatus {
  instances: InstanceStatus[];
  /** Reason of an active self-demote, or null. */
  demoted: string | null;
  /** Milliseconds since the last heartbeat from the main thread. */
  heartbeatAgeMs: number;
}

export interface SerializedError {
  code: string;
  message: string;
}

export type WorkerToMain =
  | { type: "ready"; status: WorkerStatus }
  | { type: "init_failed"; error: SerializedError }
  /** With the instance's status (state, priority, counters, drops) right after it. */
  | { type: "transition"; event: TransitionEvent; status: InstanceStatus }
  | { type: "demote"; active: boolean; reason: string }
  | ({ type: "status"; id: number } & WorkerStatus)
  | { type: "reloaded"; id: number; ok: boolean; errors: SerializedError[] }
  /** The instance's status after the action, or why it was refused. */
  | { type: "operator_done"; id: number; status?: InstanceStatus; error?: SerializedError }
  | { type: "stopped" };

export const WORKER_DATA_TAG = "vrrp";

export function serializeError(err: unknown): SerializedError {
  const raw = err instanceof Error ? (err as { code?: unknown }).code : undefined;
  const code = typeof raw === "string" ? raw : "VRRP_WORKER_ERROR";
  // The code travels apart: a message that repeated it would read "CODE: CODE: …" downstream.
  return { code, message: err instanceof Error ? err.message : describeError(err) };
}

// ---------------------------------------------------------------------------------------------
// The runtime
// ---------------------------------------------------------------------------------------------

interface Managed {
  config: VrrpInstanceConfig;
  instance: VrrpInstance;
  tracker: Tracker;
  group: SyncGroup | undefined;
}

interface SocketEntry {
  socket: VrrpSocket;
  users: Set<string>;
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function isLinkLocal(address: string): boolean {
  return /^fe[89ab][0-9a-f]:/i.test(address);
}

function canonical(address: string): string {
  try {
    return normalizeIp(address);
  } catch {
    return address;
  }
}

export class VrrpRuntime {
  private config: WorkerConfig | undefined;
  private rt: Rtnetlink | undefined;
  private sub: RtnetlinkSubscription | undefined;
  private readonly links = new Map<number, Link>();
  private addresses: Address[] = [];
  private readonly sockets = new Map<string, SocketEntry>();
  private readonly announcers = new Map<string, Announcer>();
  private readonly managed = new Map<string, Managed>();
  /** Instances an operator resigned (`vipd vrrp resign`), by name. */
  private readonly resigned = new Set<string>();
  private trackedScripts: ReadonlyMap<string, boolean> = new Map();
  private trackedFiles: ReadonlyMap<string, number> = new Map();
  private groups: SyncGroup[] = [];
  private readonly heartbeats = new HeartbeatMonitor(
    {
      now: () => performance.now(),
      setInterval: (fn, ms) => setInterval(fn, ms),
      clearInterval: (handle) => clearInterval(handle as NodeJS.Timeout),
    },
    (decision) => this.onHeartbeatDecision(decision),
  );
  private stopping = false;
  private readonly log: Logger;
  private readonly promoted = new Set<string>();
  /** Why the (interface, family) socket could not be opened, by socket key. */
  private readonly socketErrors = new Map<string, string>();

  constructor(private readonly post: (msg: WorkerToMain) => void) {
    this.log = childLogger("vrrp.worker");
  }

  // ------------------------------------------------------------------ lifecycle

  async init(config: WorkerConfig): Promise<void> {
    this.config = config;
    setLogLevel(config.logLevel);
    if (config.tracked !== undefined) this.tracked(config.tracked);
    this.rt = await Rtnetlink.open();
    this.sub = await this.rt.subscribe(["link", "ipv4-addr", "ipv6-addr"]);
    this.sub.on("event", (ev) => this.onRouteEvent(ev));
    this.sub.on("overrun", () => {
      this.log.warn("rtnetlink notifications were lost: re-reading links and addresses");
      void this.refresh();
    });
    this.sub.on("error", (err) => this.log.warn({ err }, "rtnetlink subscription error"));
    await this.refreshTables();
    this.heartbeats.beat();
    this.armWatchdog();
    for (const ic of config.vrrp.instances) this.createManaged(ic);
    this.rebuildGroups();
    await Promise.all([...this.managed.values()].map((m) => m.instance.start()));
    this.log.info(
      {
        event: "vrrp.worker_ready",
        instances: config.vrrp.instances.map((i) => i.name),
        heartbeatTimeoutMs: config.vrrp.heartbeatTimeoutMs,
      },
      `VRRP worker running ${config.vrrp.instances.length} instance(s)`,
    );
  }

  /** Graceful: masters send priority 0 and remove their VIPs; everything is closed. */
  async shutdown(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.heartbeats.disarm();
    await Promise.all(
      [...this.managed.values()].map((m) =>
        m.instance
          .stop()
          .catch((err: unknown) => this.log.error({ err, instance: m.config.name }, "stop failed")),
      ),
    );
    for (const entry of this.sockets.values()) entry.socket.close();
    this.sockets.clear();
    for (const a of this.announcers.values()) a.close();
    this.announcers.clear();
    this.sub?.close();
    this.rt?.close();
    this.log.info({ event: "vrrp.worker_stopped" }, "VRRP worker stopped");
  }

  heartbeat(): void {
    this.heartbeats.beat();
  }

  /**
   * An operator's resign or resume. The resigned set outlives the instance objects: a reload
   * that restarts an instance resigns the new one again. Throws VRRP_UNKNOWN_INSTANCE.
   */
  operator(action: OperatorAction, name: string): InstanceStatus {
    const m = this.managed.get(name);
    if (m === undefined) {
      const known = [...this.managed.keys()];
      throw new VipdError(
        "VRRP_UNKNOWN_INSTANCE",
        `no VRRP instance '${name}'${known.length > 0 ? ` (instances: ${known.join(", ")})` : ""}`,
        { instance: name },
      );
    }
    const was = this.resigned.has(name);
    if (action === "resign") this.resigned.add(name);
    else this.resigned.delete(name);
    this.log.warn(
      {
        event: "vrrp.operator",
        instance: name,
        action,
        state: m.instance.state,
        changed: was !== (action === "resign"),
      },
      action === "resign"
        ? `operator: resign ${name} (${m.instance.state}): it stays BACKUP until resumed`
        : `operator: resume ${name} (${m.instance.state})`,
    );
    m.instance.input({ type: action });
    return m.instance.status();
  }

  /** The main thread's tracked scripts and files changed: every instance re-evaluates. */
  tracked(states: TrackedStates): void {
    this.trackedScripts = new Map(Object.entries(states.scripts));
    this.trackedFiles = new Map(Object.entries(states.files));
    for (const m of this.managed.values()) m.tracker.setTracked(this.trackedScripts, this.trackedFiles);
    this.applyHealthToAll();
    this.reconcileGroups();
  }

  status(): WorkerStatus {
    return {
      instances: [...this.managed.values()].map((m) => m.instance.status()),
      demoted: this.heartbeats.demoted,
      heartbeatAgeMs: Math.round(this.heartbeats.ageMs()),
    };
  }

  /** Applies a new config: instances added, removed, restarted or changed in place. */
  async reload(config: WorkerConfig): Promise<SerializedError[]> {
    const errors: SerializedError[] = [];
    const old = this.config;
    this.config = config;
    setLogLevel(config.logLevel);
    if (!old || old.vrrp.heartbeatTimeoutMs !== config.vrrp.heartbeatTimeoutMs) this.armWatchdog();
    const wanted = new Map(config.vrrp.instances.map((i) => [i.name, i]));
    for (const name of this.resigned) if (!wanted.has(name)) this.resigned.delete(name);
    const stops: Promise<void>[] = [];
    for (const [name, m] of this.managed) {
      if (!wanted.has(name)) {
        this.log.info(
          { event: "vrrp.instance_removed", instance: name },
          `instance ${name} removed by reload`,
        );
        stops.push(this.disposeManaged(m));
      }
    }
    await Promise.all(stops);
    const starts: VrrpInstance[] = [];
    for (const ic of config.vrrp.instances) {
      const m = this.managed.get(ic.name);
      try {
        if (!m) {
          this.log.info(
            { event: "vrrp.instance_added", instance: ic.name },
            `instance ${ic.name} added by reload`,
          );
          starts.push(this.createManaged(ic).instance);
          continue;
        }
        if (sameJson(m.config, ic)) continue;
        const restart = instanceNeedsRestart(m.config, ic);
        if (restart) {
          this.log.info(
            { event: "vrrp.instance_restart", instance: ic.name },
            `instance ${ic.name} restarts to apply the reload`,
          );
          await this.disposeManaged(m);
          starts.push(this.createManaged(ic).instance);
        } else {
          m.instance.reconfigure(ic);
          m.tracker.reconfigure(ic);
          m.config = ic;
          // Health is applied by rebuildGroups below, once the tracker knows whether the
          // instance is (still) in a group: applying it now could use the old group's rule.
          this.log.info(
            { event: "vrrp.instance_updated", instance: ic.name },
            `instance ${ic.name} updated in place`,
          );
        }
      } catch (err) {
        errors.push(serializeError(err));
        this.log.error({ err, instance: ic.name }, `reload of instance ${ic.name} failed`);
      }
    }
    this.rebuildGroups();
    await Promise.all(starts.map((i) => i.start()));
    return errors;
  }

  // ------------------------------------------------------------------ instances

  private createManaged(ic: VrrpInstanceConfig): Managed {
    const tracker = new Tracker(ic);
    tracker.setTracked(this.trackedScripts, this.trackedFiles);
    tracker.setLinks(this.links.values());
    const io = this.instanceIo(ic.name);
    const instance = new VrrpInstance({ config: ic, primaryIp: this.primaryFor(ic), io });
    const m: Managed = { config: ic, instance, tracker, group: undefined };
    this.managed.set(ic.name, m);
    if (familyOf(ic) === "inet") this.promoteSecondaries(ic.interface);
    this.ensureSocket(m);
    this.applyHealth(m);
    const demoted = this.heartbeats.demoted;
    if (demoted !== null) instance.input({ type: "demote", reason: demoted });
    if (this.resigned.has(ic.name)) instance.input({ type: "resign" });
    instance.on("transition", (event) => {
      this.post({ type: "transition", event, status: instance.status() });
      m.group?.onTransition(instance, event);
    });
    instance.on("want_master", () => m.group?.onWantMaster(instance));
    return m;
  }

  private async disposeManaged(m: Managed): Promise<void> {
    // Stopped while still registered: its I/O (priority-0 advert, VIP removal) looks it up by name.
    await m.instance.stop();
    m.group = undefined;
    if (this.managed.get(m.config.name) === m) this.managed.delete(m.config.name);
    m.instance.removeAllListeners();
    const key = this.socketKey(m.config.interface, familyOf(m.config));
    const entry = this.sockets.get(key);
    if (entry) {
      entry.users.delete(m.config.name);
      if (entry.users.size === 0) {
        entry.socket.close();
        this.sockets.delete(key);
      } else {
        this.refilter(entry);
      }
    }
  }

  /**
   * Tracking's verdict, plus a fault while the instance has no socket to speak VRRP on (an
   * instance that cannot send must not become master by timeout).
   */
  /**
   * After an event that several instances see (a link change, a reload, new tracking results):
   * every tracker is updated first, then every instance acts. Acting one by one would let a sync
   * group judge a member whose tracker has not seen the event yet (a member's fault clears, the
   * group still sees the other's stale fault and sends it back to FAULT: a flap).
   */
  private applyHealthToAll(): void {
    const results = [...this.managed.values()].map((m) => ({ m, r: this.healthOf(m) }));
    for (const { m, r } of results) m.instance.stageHealth(r);
    for (const { m, r } of results) m.instance.updateHealth(r);
  }

  private applyHealth(m: Managed): void {
    m.instance.updateHealth(this.healthOf(m));
  }

  private healthOf(m: Managed): TrackingResult {
    const r = m.tracker.result();
    if (r.fault === null) {
      const key = this.socketKey(m.config.interface, familyOf(m.config));
      if (!this.sockets.has(key)) {
        r.fault = `no VRRP socket on ${m.config.interface}: ${this.socketErrors.get(key) ?? "not open"}`;
      }
    }
    return r;
  }

  private rebuildGroups(): void {
    const memberships = (this.config?.vrrp.syncGroups ?? []).map((config) => ({
      config,
      members: config.instances.map((n) => this.managed.get(n)).filter((m): m is Managed => m !== undefined),
    }));
    /** The group of each instance that is in a real group (two members or more). */
    const groupOf = new Map<string, SyncGroupConfig>();
    for (const { config, members } of memberships) {
      if (members.length > 1) for (const m of members) groupOf.set(m.config.name, config);
    }
    for (const m of this.managed.values()) {
      m.group = undefined;
      // Members that stay in a group keep their wish for MASTER (SyncGroup sets the flag again).
      if (!groupOf.has(m.config.name)) m.instance.input({ type: "sync_member", member: false });
    }
    this.groups = memberships.map(({ config, members }) => {
      const group = new SyncGroup(
        config.name,
        members.map((m) => m.instance),
      );
      for (const m of members) m.group = group;
      return group;
    });
    for (const m of this.managed.values()) {
      const g = groupOf.get(m.config.name);
      m.tracker.reconfigure({ ...m.config, weightsAreFaults: g !== undefined && !g.trackingWeight });
    }
    this.applyHealthToAll();
    this.reconcileGroups();
  }

  private reconcileGroups(): void {
    for (const g of this.groups) g.reconcile();
  }

  private instanceIo(name: string): InstanceIo {
    const current = (): Managed => {
      const m = this.managed.get(name);
      if (!m) throw new VipdError("VRRP_NO_INSTANCE", `instance ${name} is gone`, { instance: name });
      return m;
    };
    return {
      sendAdvert: (advert, source) => {
        const m = current();
        const entry = this.sockets.get(this.socketKey(m.config.interface, familyOf(m.config)));
        if (!entry) {
          throw new VipdError("VRRP_NO_SOCKET", `no VRRP socket on ${m.config.interface}`, {
            interface: m.config.interface,
          });
        }
        entry.socket.sendAdvert(advert, source, {
          peers: m.config.unicastPeers,
          checksumMode: m.config.checksumMode,
          unicastTtl: m.config.unicastTtl.send,
        });
      },
      addVips: async (vips) => {
        const m = current();
        const rt = this.rtnl();
        const failures: string[] = [];
        // The cached ifindex spares a link lookup round trip on the takeover path.
        const link = this.linkByName(m.config.interface)?.ifindex ?? m.config.interface;
        for (const v of vips) {
          try {
            await rt.addAddress(link, vipCidr(v), { noDad: v.family === 6 });
          } catch (err) {
            if (hasCode(err, "EEXIST")) continue;
            failures.push(`${vipCidr(v)}: ${describeError(err)}`);
          }
        }
        if (failures.length > 0) {
          throw new VipdError("VRRP_VIP_ADD_FAILED", `could not add ${failures.join("; ")}`, {
            instance: name,
            interface: m.config.interface,
          });
        }
      },
      delVips: async (vips) => {
        const m = current();
        const rt = this.rtnl();
        const removed: (typeof vips)[number][] = [];
        const failures: string[] = [];
        // Reverse order of adding: a VIP that became the primary of its subnet goes last.
        const link = this.linkByName(m.config.interface)?.ifindex ?? m.config.interface;
        for (const v of [...vips].reverse()) {
          try {
            await rt.deleteAddress(link, vipCidr(v));
            removed.push(v);
          } catch (err) {
            if (hasCode(err, "EADDRNOTAVAIL") || hasCode(err, "ENODEV") || hasCode(err, "ESRCH")) continue;
            failures.push(`${vipCidr(v)}: ${describeError(err)}`);
          }
        }
        if (failures.length > 0) {
          throw new VipdError("VRRP_VIP_DEL_FAILED", `could not remove ${failures.join("; ")}`, {
            instance: name,
            interface: m.config.interface,
          });
        }
        return removed.reverse();
      },
      announce: (vips, count) => {
        const m = current();
        const announcer = this.announcer(m.config.interface);
        if (!announcer) {
          throw new VipdError("VRRP_ANNOUNCE_FAILED", `interface ${m.config.interface} has no MAC address`, {
            interface: m.config.interface,
          });
        }
        for (const v of vips) {
          if (v.family === 4) announcer.garp(v.address, count);
          else announcer.na(v.address, count);
        }
      },
    };
  }

  private rtnl(): Rtnetlink {
    if (!this.rt) throw new VipdError("VRRP_NOT_STARTED", "the VRRP worker has not started", {});
    return this.rt;
  }

  private socketKey(ifname: string, family: IpFamily): string {
    return `${ifname}|${family}`;
  }

  private linkByName(name: string): Link | undefined {
    for (const l of this.links.values()) if (l.name === name) return l;
    return undefined;
  }

  /** Opens the (interface, family) socket when the interface exists and it is not open yet. */
  /** The socket's kernel filter lets through exactly the VRIDs of the instances using it. */
  private refilter(entry: SocketEntry): void {
    const vrids = [...entry.users].flatMap((u) => {
      const vrid = this.managed.get(u)?.config.vrid;
      return vrid === undefined ? [] : [vrid];
    });
    if (vrids.length > 0) entry.socket.setVrids(vrids);
  }

  private ensureSocket(m: Managed): void {
    const family = familyOf(m.config);
    const key = this.socketKey(m.config.interface, family);
    const existing = this.sockets.get(key);
    if (existing) {
      existing.users.add(m.config.name);
      this.refilter(existing);
      return;
    }
    const link = this.linkByName(m.config.interface);
    if (!link) return; // tracking holds the instance in FAULT; retried on the link's arrival
    try {
      const socket = new VrrpSocket({ ifname: link.name, ifindex: link.ifindex, family });
      const entry: SocketEntry = { socket, users: new Set([m.config.name]) };
      for (const other of this.managed.values()) {
        if (other.config.interface === link.name && familyOf(other.config) === family) {
          entry.users.add(other.config.name);
        }
      }
      socket.on("packet", (pkt) => {
        for (const user of entry.users) this.managed.get(user)?.instance.receive(pkt);
      });
      socket.on("drop", (reason, detail, count) => {
        for (const user of entry.users)
          this.managed.get(user)?.instance.countDrop(reason, detail, undefined, count);
      });
      socket.on("error", () => {
        // Logged by the socket; the socket keeps working.
      });
      this.sockets.set(key, entry);
      this.socketErrors.delete(key);
      this.refilter(entry);
    } catch (err) {
      this.socketErrors.set(key, describeError(err));
      this.log.error(
        { err, interface: m.config.interface, family },
        `cannot open the VRRP socket on ${m.config.interface}: ${describeError(err)}`,
      );
    }
  }

  private announcer(ifname: string): Announcer | undefined {
    const link = this.linkByName(ifname);
    const existing = this.announcers.get(ifname);
    if (existing && link && existing.ifindex === link.ifindex) return existing;
    existing?.close();
    this.announcers.delete(ifname);
    if (!link?.mac) return undefined;
    const a = new Announcer({ ifname, ifindex: link.ifindex, mac: parseMac(link.mac) });
    this.announcers.set(ifname, a);
    return a;
  }

  /** net.ipv4.conf.<if>.promote_secondaries=1: removing a VIP never takes other addresses with it. */
  private promoteSecondaries(ifname: string): void {
    if (this.promoted.has(ifname)) return;
    try {
      writeFileSync(`/proc/sys/net/ipv4/conf/${ifname}/promote_secondaries`, "1\n");
      this.promoted.add(ifname);
    } catch (err) {
      this.log.debug(
        { err, interface: ifname },
        "could not set promote_secondaries (VIPs are removed in reverse order)",
      );
    }
  }

  /** The advert source: configured, else the interface's primary non-VIP address (IPv6: its link-local). */
  private primaryFor(ic: VrrpInstanceConfig): string | null {
    if (ic.sourceAddress !== undefined) return ic.sourceAddress;
    const link = this.linkByName(ic.interface);
    if (!link) return null;
    const family = familyOf(ic);
    const vips = new Set<string>();
    for (const i of this.config?.vrrp.instances ?? [])
      for (const v of i.virtualIps) vips.add(canonical(v.address));
    const candidates = this.addresses.filter(
      (a) =>
        a.ifindex === link.ifindex &&
        a.family === family &&
        !vips.has(canonical(a.address)) &&
        (a.flags & IFA_F_TENTATIVE) === 0,
    );
    if (family === "inet6") return candidates.find((a) => isLinkLocal(a.address))?.address ?? null;
    const primary = candidates.find((a) => (a.flags & IFA_F_SECONDARY) === 0) ?? candidates[0];
    return primary?.address ?? null;
  }

  // ------------------------------------------------------------------ kernel events

  private async refreshTables(): Promise<void> {
    const rt = this.rtnl();
    // One dump at a time per netlink socket (a second one gets EBUSY).
    const links = await rt.listLinks();
    const addresses = await rt.listAddresses();
    this.links.clear();
    for (const l of links) this.links.set(l.ifindex, l);
    this.addresses = addresses;
  }

  private async refresh(): Promise<void> {
    try {
      await this.refreshTables();
    } catch (err) {
      this.log.error({ err }, "could not re-read links and addresses");
      return;
    }
    for (const m of this.managed.values()) {
      m.tracker.setLinks(this.links.values());
      this.ensureSocket(m);
    }
    this.applyHealthToAll();
    for (const m of this.managed.values()) m.instance.setPrimaryIp(this.primaryFor(m.config));
    this.reconcileGroups();
  }

  private onRouteEvent(ev: RouteEvent): void {
    if (this.stopping) return;
    if (ev.kind === "link") {
      const prev = this.links.get(ev.link.ifindex);
      if (ev.action === "del") this.links.delete(ev.link.ifindex);
      else this.links.set(ev.link.ifindex, ev.link);
      if (prev && prev.name !== ev.link.name) this.dropSocketsOf(prev.name);
      if (ev.action === "del") this.dropSocketsOf(ev.link.name);
      if (ev.link.mac && ev.action === "new") {
        const a = this.announcers.get(ev.link.name);
        if (a && a.ifindex === ev.link.ifindex) a.setMac(parseMac(ev.link.mac));
      }
      for (const m of this.managed.values()) {
        m.tracker.onLink(ev.action, ev.link);
        if (ev.action === "new" && ev.link.name === m.config.interface) this.ensureSocket(m);
      }
      this.applyHealthToAll();
      for (const m of this.managed.values()) m.instance.setPrimaryIp(this.primaryFor(m.config));
      this.reconcileGroups();
      return;
    }
    const a = ev.address;
    const same = (b: Address) =>
      b.ifindex === a.ifindex && b.family === a.family && canonical(b.address) === canonical(a.address);
    this.addresses = this.addresses.filter((b) => !same(b));
    if (ev.action === "new") this.addresses.push(a);
    for (const m of this.managed.values()) m.instance.setPrimaryIp(this.primaryFor(m.config));
    this.reconcileGroups();
  }

  /** The interface went away (or was renamed): its sockets are bound to a dead ifindex. */
  private dropSocketsOf(ifname: string): void {
    for (const [key, entry] of this.sockets) {
      if (entry.socket.ifname === ifname) {
        entry.socket.close();
        this.sockets.delete(key);
      }
    }
    this.announcers.get(ifname)?.close();
    this.announcers.delete(ifname);
  }

  // ------------------------------------------------------------------ heartbeat watchdog

  private armWatchdog(): void {
    this.heartbeats.arm(this.config?.vrrp.heartbeatTimeoutMs ?? 2000);
  }

  private onHeartbeatDecision(decision: NonNullable<WatchdogDecision>): void {
    if (decision.type === "clear") {
      const { reason } = decision;
      this.log.info(
        { event: "vrrp.demote_cleared", was: reason },
        "main thread answers again: self-demote lifted, priorities restored",
      );
      this.post({ type: "demote", active: false, reason });
      for (const m of this.managed.values()) m.instance.input({ type: "demote_cleared" });
      return;
    }
    if (this.stopping || !this.config) return;
    const { reason } = decision;
    this.log.warn(
      {
        event: "vrrp.demote",
        reason,
        heartbeatAgeMs: Math.round(decision.ageMs),
        heartbeatTimeoutMs: this.config.vrrp.heartbeatTimeoutMs,
      },
      `self-demote: ${reason}`,
    );
    this.post({ type: "demote", active: true, reason });
    for (const m of this.managed.values()) m.instance.input({ type: "demote", reason });
  }
}

// ---------------------------------------------------------------------------------------------
// Thread entry
// ---------------------------------------------------------------------------------------------

function runWorker(port: MessagePort): void {
  const post = (msg: WorkerToMain) => port.postMessage(msg);
  const runtime = new VrrpRuntime(post);
  const log = childLogger("vrrp.worker");
  // Config changes and shutdown run one after another; heartbeats and status never wait.
  let chain: Promise<void> = Promise.resolve();
  const serial = (fn: () => Promise<void>) => {
    chain = chain.then(fn, fn);
  };
  port.on("message", (msg: MainToWorker) => {
    switch (msg.type) {
      case "heartbeat":
        runtime.heartbeat();
        return;
      case "status":
        post({ type: "status", id: msg.id, ...runtime.status() });
        return;
      case "tracked":
        // Not serialised behind a reload: tracking is a fact about now, and instances that a
        // reload creates read the latest one.
        runtime.tracked(msg);
        return;
      case "init":
        serial(async () => {
          try {
            await runtime.init(msg.config);
            post({ type: "ready", status: runtime.status() });
          } catch (err) {
            log.error({ err }, "VRRP worker failed to start");
            await runtime.shutdown().catch(() => undefined);
            post({ type: "init_failed", error: serializeError(err) });
            finish(port);
          }
        });
        return;
      case "reload":
        serial(async () => {
          try {
            const errors = await runtime.reload(msg.config);
            post({ type: "reloaded", id: msg.id, ok: errors.length === 0, errors });
          } catch (err) {
            post({ type: "reloaded", id: msg.id, ok: false, errors: [serializeError(err)] });
          }
        });
        return;
      case "operator":
        serial(async () => {
          try {
            post({ type: "operator_done", id: msg.id, status: runtime.operator(msg.action, msg.instance) });
          } catch (err) {
            post({ type: "operator_done", id: msg.id, error: serializeError(err) });
          }
        });
        return;
      case "shutdown":
        serial(async () => {
          await runtime.shutdown();
          post({ type: "stopped" });
          finish(port);
        });
        return;
    }
  });
}

/** Flushes this thread's log output, then lets the thread end. */
function finish(port: MessagePort): void {
  const done = () => {
    port.close();
  };
  try {
    rootLogger().flush(() => done());
  } catch {
    done();
  }
}

if (!isMainThread && parentPort && (workerData as { vipd?: unknown } | null)?.vipd === WORKER_DATA_TAG) {
  runWorker(parentPort);
}
