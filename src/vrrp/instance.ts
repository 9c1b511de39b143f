/**
 * The driver of one VRRP instance: it holds the state machine's state (src/vrrp/fsm.ts), feeds
 * it inputs (received adverts, its timer, tracking, sync group, self-demote), runs the actions
 * it returns, and arms exactly one timer for `nextDeadline`.
 *
 * Everything that touches the outside world is injected — a `Clock` (monotonic ms + one timer)
 * and an `InstanceIo` (send an advert, add/remove VIPs, announce them) — so the driver runs
 * under unit tests with a fake clock and fake I/O. The worker (src/vrrp/worker.ts) wires it to
 * real sockets and rtnetlink.
 *
 * Ordering: adverts go out synchronously inside the step that asks for them (a takeover's
 * first advert is never queued behind netlink). VIP changes and announcements run one at a
 * time through a per-instance queue, in the order the state machine emitted them (add, then
 * announce, then a later delete), so a GARP/NA never precedes the address it announces.
 *
 * Every state change is logged here, once, as `FROM → TO (reason[: detail])` with the fields
 * { event: "vrrp.transition", instance, from, to, reason, detail, priority } on the child
 * logger { module: "vrrp", instance }, and emitted as a `transition` event.
 */
import { EventEmitter } from "node:events";
import type { IpPrefix, VrrpInstanceConfig } from "../config/types.js";
import { VipdError } from "../errors.js";
import { childLogger, type Logger } from "../log.js";
import type { ReceivedPacket } from "../sys/vrrp-socket.js";
import { passwordAuthData } from "./auth.js";
import {
  type Action,
  createInstance,
  type FsmConfig,
  type FsmInput,
  type InstanceState,
  masterDownIntervalMs,
  nextDeadline,
  PRIORITY_OWNER,
  type StepResult,
  step,
  type TransitionReason,
  type VrrpState,
} from "./fsm.js";
import {
  DropCounters,
  type DropReason,
  type IpFamily,
  type ReceivedAdvert,
  type ValidateExpect,
  type VrrpAdvert,
  validateAdvert,
  validateIpv4Packet,
} from "./packet.js";
import type { TrackingResult } from "./tracking.js";

// ---------------------------------------------------------------------------------------------
// Injected dependencies
// ---------------------------------------------------------------------------------------------

export type TimerHandle = unknown;

/** Monotonic time in ms and a one-shot timer. */
export interface Clock {
  now(): number;
  setTimer(delayMs: number, fn: () => void): TimerHandle;
  clearTimer(handle: TimerHandle): void;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  setTimer: (delayMs, fn) => setTimeout(fn, delayMs),
  clearTimer: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** The instance's view of the network. */
export interface InstanceIo {
  /** Sends one advert (to the group, or to each unicast peer) from `source`. Throws on failure. */
  sendAdvert(advert: VrrpAdvert, source: string): void;
  /** Adds the VIPs to the instance's interface (an address already there is not an error). */
  addVips(vips: readonly IpPrefix[]): Promise<void>;
  /** Removes those of the VIPs that are present; resolves with the ones it removed. */
  delVips(vips: readonly IpPrefix[]): Promise<IpPrefix[]>;
  /** Sends `count` gratuitous ARPs / unsolicited NAs for each VIP. */
  announce(vips: readonly IpPrefix[], count: number): Promise<void> | void;
}

export interface InstanceOptions {
  config: VrrpInstanceConfig;
  /** Source of our adverts and the tie-break address; null = none yet (the instance stays in FAULT). */
  primaryIp: string | null;
  io: InstanceIo;
  clock?: Clock;
  /** Wall-clock ms for event timestamps; default Date.now. */
  wallClock?: () => number;
  log?: Logger;
}

export interface TransitionEvent {
  instance: string;
  from: VrrpState;
  to: VrrpState;
  reason: TransitionReason;
  detail?: string;
  /** Effective priority after the transition. */
  priority: number;
  /** Wall-clock ms. */
  at: number;
}

export interface InstanceCounters {
  advertsSent: number;
  advertsReceived: number;
  sendErrors: number;
  vipErrors: number;
  announceErrors: number;
  transitions: number;
  becameMaster: number;
  /** Unicast adverts accepted in old keepalived's checksum form (see ReceivedAdvert). */
  groupChecksumOnUnicast: number;
  /** Adverts from a non-owner whose address list differs from ours (or is empty). */
  addressListMismatch: number;
}

export interface InstanceStatus {
  name: string;
  interface: string;
  family: IpFamily;
  vrid: number;
  version: 2 | 3;
  state: VrrpState;
  /** Wall-clock ms of the last transition, or null. */
  since: number | null;
  configuredPriority: number;
  effectivePriority: number;
  primaryIp: string | null;
  /** BACKUP: the master whose adverts we accept. */
  master: { ip: string; priority: number } | null;
  fault: string | null;
  demoted: string | null;
  /** An operator resigned it (`vipd vrrp resign`): it stays out of MASTER until resumed. */
  resigned: boolean;
  /** VIPs currently added by this instance (CIDR). */
  vips: string[];
  counters: InstanceCounters;
  drops: Record<DropReason, number>;
}

export interface InstanceEvents {
  transition: [event: TransitionEvent];
  /** A sync member's master-down timer expired; its group decides (SyncGroup.onWantMaster). */
  want_master: [];
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

export function familyOf(config: Pick<VrrpInstanceConfig, "family">): IpFamily {
  return config.family === 4 ? "inet" : "inet6";
}

export function vipCidr(v: IpPrefix): string {
  return `${v.address}/${v.prefixLength}`;
}

/** The state machine's config for an instance config and a primary address. */
export function toFsmConfig(config: VrrpInstanceConfig, primaryIp: string): FsmConfig {
  return {
    vrid: config.vrid,
    version: config.version,
    family: familyOf(config),
    priority: config.priority,
    advertIntervalCs: Math.round(config.advertIntervalMs / 10),
    preempt: config.preempt,
    preemptDelayMs: config.preemptDelayMs,
    primaryIp,
    garp: { repeat: config.garp.repeat, delayMs: config.garp.delayMs, refreshMs: config.garp.refreshMs },
  };
}

/** A placeholder tie-break address while the interface has none (the instance is in FAULT then). */
function placeholderIp(family: IpFamily): string {
  return family === "inet" ? "0.0.0.0" : "::";
}

const DROP_LOG_INTERVAL_MS = 1000;
/** One-time warnings (per peer and kind) kept per instance. */
const MAX_ONCE_WARNINGS = 256;
const WARNINGS_FULL = "\u0000full";

// ---------------------------------------------------------------------------------------------
// The driver
// ---------------------------------------------------------------------------------------------

export class VrrpInstance extends EventEmitter<InstanceEvents> {
  private cfg: VrrpInstanceConfig;
  /** The password's 8 auth-data bytes (v2 with authentication), derived from cfg. */
  private authData: Buffer | undefined;
  private fsm: InstanceState;
  private primary: string | null;
  private readonly io: InstanceIo;
  private readonly clock: Clock;
  private readonly wall: () => number;
  private readonly log: Logger;

  private timer: TimerHandle | undefined;
  private armedAt: number | null = null;
  private queue: Promise<void> = Promise.resolve();
  private started = false;
  private stopped = false;
  private sinceWall: number | null = null;
  /** VIPs this instance has asked to be added and not yet removed. */
  private held: IpPrefix[] = [];
  /** The fault the fsm was last told about (tracking, or no source address). */
  private fedFault: string | null = null;
  private health: TrackingResult;
  /** BACKUP: the master resigned (priority 0) and nothing else was heard since. */
  private resignedBy: string | null = null;
  private readonly lastDropLog = new Map<DropReason, number>();
  private readonly suppressedDrops = new Map<DropReason, number>();
  private lastSendErrorLog = -Infinity;

  readonly drops = new DropCounters();
  readonly counters: InstanceCounters = {
    advertsSent: 0,
    advertsReceived: 0,
    sendErrors: 0,
    vipErrors: 0,
    announceErrors: 0,
    transitions: 0,
    becameMaster: 0,
    groupChecksumOnUnicast: 0,
    addressListMismatch: 0,
  };
  /** Keys of the one-time warnings already given (per peer and kind). */
  private readonly warned = new Set<string>();

  constructor(opts: InstanceOptions) {
    super();
    this.cfg = opts.config;
    this.authData = authDataOf(opts.config);
    this.primary = opts.primaryIp;
    this.io = opts.io;
    this.clock = opts.clock ?? systemClock;
    this.wall = opts.wallClock ?? Date.now;
    this.log = opts.log ?? childLogger("vrrp", { instance: opts.config.name });
    this.fsm = createInstance(
      toFsmConfig(opts.config, opts.primaryIp ?? placeholderIp(familyOf(opts.config))),
    );
    this.health = { fault: null, priority: opts.config.priority };
    this.syncFault();
  }

  get name(): string {
    return this.cfg.name;
  }

  get config(): VrrpInstanceConfig {
    return this.cfg;
  }

  get family(): IpFamily {
    return familyOf(this.cfg);
  }

  get state(): VrrpState {
    return this.fsm.state;
  }

  /** The state machine's full state (read-only; for tests and status). */
  get fsmState(): InstanceState {
    return this.fsm;
  }

  get primaryIp(): string | null {
    return this.primary;
  }

  /** BACKUP in a sync group: its master-down timer expired and no master was heard since. */
  get wantsMaster(): boolean {
    return this.fsm.wantMaster;
  }

  /**
   * The instance's own fault (interface, weight-0 track, no address), as opposed to a sync
   * group's: the latest known, including health staged but not acted on yet (stageHealth), so a
   * group judging its members in the middle of one event sees every member's news.
   */
  get ownFault(): string | null {
    return this.combinedFault();
  }

  /** Master_Down_Interval in ms as things stand. */
  masterDownIntervalMs(): number {
    return masterDownIntervalMs(this.fsm);
  }

  /**
   * Removes configured VIPs left over from an earlier run (a crash leaves them behind), then
   * joins: BACKUP, FAULT when faulted, MASTER at once for an address owner.
   */
  async start(): Promise<void> {
    if (this.started || this.stopped) return;
    this.started = true;
    try {
      const removed = await this.io.delVips(this.cfg.virtualIps);
      if (removed.length > 0) {
        this.log.warn(
          { event: "vrrp.leftover_vips", vips: removed.map(vipCidr) },
          `removed VIPs left over from an earlier run: ${removed.map(vipCidr).join(", ")}`,
        );
      }
    } catch (err) {
      this.counters.vipErrors += 1;
      this.log.error({ err }, "could not remove leftover VIPs at startup");
    }
    if (this.stopped) return;
    this.input({ type: "startup" });
  }

  /**
   * Graceful stop: a master sends a priority-0 advert and removes its VIPs. Resolves when the
   * VIP changes are done. The instance ignores everything afterwards.
   */
  async stop(): Promise<void> {
    if (this.stopped) {
      await this.queue;
      return;
    }
    if (this.started) this.apply(step(this.fsm, { type: "shutdown" }, this.clock.now()));
    this.stopped = true;
    this.disarm();
    await this.queue;
    const st = this.status();
    this.log.info(
      { event: "vrrp.stats", counters: st.counters, drops: st.drops },
      `stopped: ${st.counters.advertsSent} adverts sent, ${st.counters.advertsReceived} received, ${this.drops.total()} dropped`,
    );
  }

  /** Resolves when queued VIP changes and announcements are done. */
  idle(): Promise<void> {
    return this.queue;
  }

  /** Feeds one input to the state machine (sync group, demote, ...). */
  input(input: FsmInput): void {
    if (this.stopped) return;
    this.apply(step(this.fsm, input, this.clock.now()));
  }

  /** Records the latest tracking result without acting on it yet (see ownFault); updateHealth acts. */
  stageHealth(result: TrackingResult): void {
    this.health = result;
  }

  /** Tracking changed: feeds fault / fault_cleared / priority when they differ from what the fsm has. */
  updateHealth(result: TrackingResult): void {
    this.health = result;
    if (this.stopped) return;
    this.syncFault();
    if (result.priority !== this.fsm.trackedPriority) {
      this.input({ type: "priority", effectivePriority: result.priority });
    }
  }

  /** The interface's primary address changed (or appeared / went away). */
  setPrimaryIp(ip: string | null): void {
    if (ip === this.primary) return;
    const before = this.primary;
    this.primary = ip;
    if (ip !== null) this.replaceFsmConfig(this.cfg, ip);
    this.log.info({ event: "vrrp.source", from: before, to: ip }, `advert source address ${before} → ${ip}`);
    this.syncFault();
  }

  /**
   * Applies a changed config in place (priority, interval, preempt, VIPs, peers, tracking,
   * GARP, checksum mode). The caller restarts the instance for changes of interface, VRID,
   * version, family, source address or address ownership (priority 255 on either side).
   */
  reconfigure(config: VrrpInstanceConfig): void {
    const old = this.cfg;
    if ((old.priority === 255) !== (config.priority === 255)) {
      throw new VipdError(
        "VRRP_RECONFIGURE_NEEDS_RESTART",
        "address ownership changed: restart the instance",
        {
          instance: config.name,
        },
      );
    }
    this.replaceFsmConfig(config, this.primary ?? placeholderIp(familyOf(config)));
    this.cfg = config;
    this.authData = authDataOf(config);
    if (this.fsm.state === "MASTER") {
      const want = new Set(config.virtualIps.map(vipCidr));
      const have = new Set(this.held.map(vipCidr));
      const removed = this.held.filter((v) => !want.has(vipCidr(v)));
      const added = config.virtualIps.filter((v) => !have.has(vipCidr(v)));
      if (removed.length > 0) this.enqueueDel(removed);
      if (added.length > 0) {
        this.enqueueAdd(added);
        this.enqueueAnnounce(added, config.garp.repeat);
      }
    }
    this.rearm();
  }

  /** Validates a received packet against this instance and feeds it to the state machine. */
  receive(pkt: ReceivedPacket): void {
    if (this.stopped) return;
    const expect: ValidateExpect = {
      version: this.cfg.version,
      vrid: this.cfg.vrid,
      family: this.family,
      advertIntervalCs: Math.round(this.cfg.advertIntervalMs / 10),
      unicast: this.cfg.unicastPeers.length > 0,
      ...(this.cfg.unicastTtl.require !== undefined ? { unicastTtl: this.cfg.unicastTtl.require } : {}),
      ...(this.authData === undefined ? {} : { authData: this.authData }),
    };
    if (pkt.family !== this.family) return;
    const result =
      pkt.family === "inet"
        ? validateIpv4Packet(pkt.packet, expect)
        : validateAdvert(
            {
              family: "inet6",
              ttlOrHopLimit: pkt.hopLimit,
              src: pkt.src,
              dst: pkt.dst,
              payload: pkt.payload,
            },
            expect,
          );
    if (!result.ok) {
      this.countDrop(result.reason, result.detail, pkt.family === "inet6" ? pkt.src : undefined);
      return;
    }
    const advert = result.advert;
    this.counters.advertsReceived += 1;
    if (advert.groupChecksumOnUnicast) this.countLegacyChecksum(advert.src);
    this.noteMisconfiguration(advert);
    if (this.fsm.state === "BACKUP") {
      if (advert.priority === 0) {
        this.resignedBy = advert.src;
        this.log.info(
          { event: "vrrp.master_resigned", src: advert.src },
          `master ${advert.src} resigned (priority 0 advert)`,
        );
      } else {
        this.resignedBy = null;
      }
    }
    this.input({ type: "advert", advert, src: advert.src });
  }

  status(): InstanceStatus {
    return {
      name: this.cfg.name,
      interface: this.cfg.interface,
      family: this.family,
      vrid: this.cfg.vrid,
      version: this.cfg.version,
      state: this.fsm.state,
      since: this.sinceWall,
      configuredPriority: this.cfg.priority,
      effectivePriority: this.fsm.effectivePriority,
      primaryIp: this.primary,
      master: this.fsm.master ? { ...this.fsm.master } : null,
      fault: this.fsm.fault,
      demoted: this.fsm.demoted,
      resigned: this.fsm.resigned,
      vips: this.held.map(vipCidr),
      counters: { ...this.counters },
      drops: this.drops.snapshot(),
    };
  }

  // -------------------------------------------------------------------------------------------

  private replaceFsmConfig(config: VrrpInstanceConfig, primaryIp: string): void {
    // createInstance validates; only its resolved config is grafted onto the running state.
    const fresh = createInstance(toFsmConfig(config, primaryIp));
    this.fsm = { ...this.fsm, config: fresh.config };
  }

  private combinedFault(): string | null {
    if (this.health.fault !== null) return this.health.fault;
    if (this.primary === null) {
      return `no ${this.family === "inet" ? "IPv4" : "IPv6 link-local"} address on ${this.cfg.interface} to send adverts from`;
    }
    return null;
  }

  private syncFault(): void {
    const fault = this.combinedFault();
    if (fault === this.fedFault) return;
    this.fedFault = fault;
    if (this.stopped) return;
    this.apply(
      step(
        this.fsm,
        fault === null ? { type: "fault_cleared" } : { type: "fault", reason: fault },
        this.clock.now(),
      ),
    );
  }

  private apply(result: StepResult): void {
    const before = this.fsm;
    this.fsm = result.state;
    const events: TransitionEvent[] = [];
    for (const action of result.actions) this.run(action, before, events);
    this.rearm();
    for (const e of events) this.emit("transition", e);
    if (result.actions.some((a) => a.type === "want_master")) this.emit("want_master");
  }

  private run(action: Action, before: InstanceState, events: TransitionEvent[]): void {
    switch (action.type) {
      case "transition": {
        let detail = action.detail;
        if (action.from === "BACKUP" && action.to === "MASTER" && action.reason === "master_down") {
          if (this.resignedBy !== null) detail = `master ${this.resignedBy} resigned (priority 0)`;
          else if (before.master)
            detail = `no advert from master ${before.master.ip} for Master_Down_Interval`;
          else detail = "no master heard for Master_Down_Interval";
        }
        if (action.to !== "BACKUP") this.resignedBy = null;
        const e: TransitionEvent = {
          instance: this.cfg.name,
          from: action.from,
          to: action.to,
          reason: action.reason,
          ...(detail !== undefined ? { detail } : {}),
          priority: this.fsm.effectivePriority,
          at: this.wall(),
        };
        this.sinceWall = e.at;
        this.counters.transitions += 1;
        if (action.to === "MASTER") this.counters.becameMaster += 1;
        const fields = {
          event: "vrrp.transition",
          from: e.from,
          to: e.to,
          reason: e.reason,
          ...(detail !== undefined ? { detail } : {}),
          priority: e.priority,
        };
        const msg = `${e.from} → ${e.to} (${e.reason}${detail !== undefined ? `: ${detail}` : ""})`;
        if (action.to === "FAULT") this.log.warn(fields, msg);
        else this.log.info(fields, msg);
        events.push(e);
        return;
      }
      case "send_advert":
        this.sendAdvert(action.priority);
        return;
      case "add_vips":
        this.enqueueAdd(this.cfg.virtualIps);
        return;
      case "del_vips":
        this.enqueueDel(this.held.length > 0 ? this.held : this.cfg.virtualIps);
        return;
      case "garp":
        if (action.count > 0) this.enqueueAnnounce(this.cfg.virtualIps, action.count);
        return;
      case "want_master":
        // Emitted after the step (see apply): the group may move this instance at once.
        return;
    }
  }

  private buildAdvert(priority: number): VrrpAdvert {
    const addresses = this.cfg.virtualIps.map((v) => v.address);
    return this.cfg.version === 2
      ? {
          version: 2,
          vrid: this.cfg.vrid,
          priority,
          advertIntervalS: Math.round(this.cfg.advertIntervalMs / 1000),
          addresses,
          ...(this.authData === undefined ? {} : { authData: this.authData }),
        }
      : {
          version: 3,
          vrid: this.cfg.vrid,
          priority,
          maxAdvertIntervalCs: Math.round(this.cfg.advertIntervalMs / 10),
          addresses,
        };
  }

  private sendAdvert(priority: number): void {
    if (this.primary === null) {
      this.counters.sendErrors += 1;
      return;
    }
    try {
      this.io.sendAdvert(this.buildAdvert(priority), this.primary);
      this.counters.advertsSent += 1;
    } catch (err) {
      this.counters.sendErrors += 1;
      const now = this.clock.now();
      if (now - this.lastSendErrorLog >= DROP_LOG_INTERVAL_MS) {
        this.lastSendErrorLog = now;
        this.log.warn(
          { err, priority, sendErrors: this.counters.sendErrors },
          `advert (priority ${priority}) not sent: ${(err as Error).message}`,
        );
      }
    }
  }

  private enqueue(what: string, fn: () => Promise<void> | void, onError: (err: unknown) => void): void {
    this.queue = this.queue.then(fn).catch((err: unknown) => {
      onError(err);
      this.log.error({ err }, `${what} failed: ${(err as Error).message}`);
    });
  }

  private enqueueAdd(vips: readonly IpPrefix[]): void {
    const list = [...vips];
    const keys = new Set(this.held.map(vipCidr));
    for (const v of list) if (!keys.has(vipCidr(v))) this.held.push(v);
    this.enqueue(
      `adding VIPs ${list.map(vipCidr).join(", ")}`,
      async () => {
        await this.io.addVips(list);
        this.log.info(
          { event: "vrrp.vips_added", vips: list.map(vipCidr) },
          `VIPs added: ${list.map(vipCidr).join(", ")}`,
        );
      },
      () => {
        this.counters.vipErrors += 1;
      },
    );
  }

  private enqueueDel(vips: readonly IpPrefix[]): void {
    const list = [...vips];
    const gone = new Set(list.map(vipCidr));
    this.held = this.held.filter((v) => !gone.has(vipCidr(v)));
    this.enqueue(
      `removing VIPs ${list.map(vipCidr).join(", ")}`,
      async () => {
        const removed = await this.io.delVips(list);
        this.log.info(
          { event: "vrrp.vips_removed", vips: removed.map(vipCidr) },
          `VIPs removed: ${removed.map(vipCidr).join(", ") || "(none were present)"}`,
        );
      },
      () => {
        this.counters.vipErrors += 1;
      },
    );
  }

  private enqueueAnnounce(vips: readonly IpPrefix[], count: number): void {
    const list = [...vips];
    this.enqueue(
      "announcing VIPs",
      async () => {
        // Only while we still hold them: a quick MASTER → BACKUP must not announce afterwards.
        const held = new Set(this.held.map(vipCidr));
        const mine = list.filter((v) => held.has(vipCidr(v)));
        if (mine.length > 0) await this.io.announce(mine, count);
      },
      () => {
        this.counters.announceErrors += 1;
      },
    );
  }

  /** Old keepalived's unicast checksum form: accepted, counted, logged once per peer. */
  private countLegacyChecksum(src: string): void {
    this.counters.groupChecksumOnUnicast += 1;
    this.warnOnce(
      `compat ${src}`,
      { event: "vrrp.compat", compat: "group_checksum_on_unicast", src },
      `${src} checksums its unicast adverts as if sent to the group (keepalived before 1.3.6): accepted; upgrade it`,
    );
  }

  /**
   * What an advert says about the segment's configuration (RFC 9568 §7.1, §8.3.2): accepted
   * all the same, as keepalived does, but said once per peer (and the address lists counted).
   */
  private noteMisconfiguration(advert: ReceivedAdvert): void {
    const { src } = advert;
    if (advert.priority === 0) return;
    if (src === this.primary) {
      this.warnOnce(
        `own ${src}`,
        { event: "vrrp.misconfiguration", problem: "own_address", src, priority: advert.priority },
        `advert from our own address ${src} (priority ${advert.priority}): another router on ${this.cfg.interface} uses this address`,
      );
      return;
    }
    if (advert.priority === PRIORITY_OWNER && this.cfg.priority === PRIORITY_OWNER) {
      this.warnOnce(
        `owners ${src}`,
        { event: "vrrp.misconfiguration", problem: "two_owners", src },
        `${src} also claims to own the addresses (priority 255): only one router on a segment may`,
      );
    }
    if (advert.priority !== PRIORITY_OWNER) {
      const ours = this.cfg.virtualIps.map((v) => v.address).sort();
      const theirs = [...advert.addresses].sort();
      if (theirs.length === 0 || theirs.join(",") !== ours.join(",")) {
        this.counters.addressListMismatch += 1;
        this.warnOnce(
          `addresses ${src}`,
          { event: "vrrp.misconfiguration", problem: "address_list", src, theirs, ours },
          theirs.length === 0
            ? `${src} advertises no address (count 0); accepted`
            : `${src} advertises ${theirs.join(", ")}, we have ${ours.join(", ")}; accepted`,
        );
      }
    }
    if (advert.version === 3 && advert.maxAdvertIntervalCs * 10 !== this.cfg.advertIntervalMs) {
      this.warnOnce(
        `interval ${src}`,
        { event: "vrrp.misconfiguration", problem: "advert_interval", src },
        `${src} advertises every ${advert.maxAdvertIntervalCs * 10} ms, we every ${this.cfg.advertIntervalMs} ms; following the master's interval`,
      );
    }
  }

  private warnOnce(key: string, fields: Record<string, unknown>, message: string): void {
    if (this.warned.has(key)) return;
    // Bounded: spoofed sources must not grow memory or the log without end.
    if (this.warned.size >= MAX_ONCE_WARNINGS) {
      if (!this.warned.has(WARNINGS_FULL)) {
        this.warned.add(WARNINGS_FULL);
        this.log.warn(
          { event: "vrrp.misconfiguration", problem: "too_many_peers" },
          `more than ${MAX_ONCE_WARNINGS} peers or problems reported on ${this.cfg.interface}; further ones are not logged`,
        );
      }
      return;
    }
    this.warned.add(key);
    this.log.warn(fields, message);
  }

  /** Counts and logs (rate-limited) a packet dropped here or by the socket layer. */
  countDrop(reason: DropReason, detail: string, src?: string, count = 1): void {
    this.drops.count(reason, count);
    // Other VRIDs on the segment are normal: debug only.
    if (reason === "vrid") {
      this.log.debug(
        { event: "vrrp.drop", reason, detail, ...(src ? { src } : {}) },
        `packet dropped: ${detail}`,
      );
      return;
    }
    const now = this.clock.now();
    const last = this.lastDropLog.get(reason) ?? -Infinity;
    if (now - last < DROP_LOG_INTERVAL_MS) {
      this.suppressedDrops.set(reason, (this.suppressedDrops.get(reason) ?? 0) + 1);
      return;
    }
    this.lastDropLog.set(reason, now);
    const suppressed = this.suppressedDrops.get(reason) ?? 0;
    this.suppressedDrops.delete(reason);
    this.log.warn(
      {
        event: "vrrp.drop",
        reason,
        detail,
        ...(src ? { src } : {}),
        count: this.drops.get(reason),
        ...(suppressed > 0 ? { suppressed } : {}),
      },
      `invalid VRRP packet dropped (${reason}): ${detail}`,
    );
  }

  private disarm(): void {
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    this.timer = undefined;
    this.armedAt = null;
  }

  /** Keeps exactly one timer, for nextDeadline(state). */
  private rearm(): void {
    const deadline = this.stopped ? null : nextDeadline(this.fsm);
    if (deadline === this.armedAt && (deadline === null || this.timer !== undefined)) return;
    this.disarm();
    if (deadline === null) return;
    this.armedAt = deadline;
    this.timer = this.clock.setTimer(Math.max(0, deadline - this.clock.now()), () => {
      this.timer = undefined;
      this.armedAt = null;
      if (this.stopped) return;
      this.apply(step(this.fsm, { type: "timer" }, this.clock.now()));
    });
  }
}

function authDataOf(config: VrrpInstanceConfig): Buffer | undefined {
  return config.authentication === undefined ? undefined : passwordAuthData(config.authentication.password);
}
