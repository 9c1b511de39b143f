import { VipdError } from "../errors.js";
import { compareIp, type IpFamily, ipFamily, normalizeIp, type VrrpAdvert } from "./packet.js";

/**
 * The VRRP state machine of one instance, as a pure step function (RFC 3768 §6.4, RFC 5798 /
 * RFC 9568 §6.4; the timers are summed up in docs/vrrp.md).
 *
 *   step(state, input, now) → { state, actions }
 *
 * `now` is a clock in milliseconds supplied by the driver; nothing here reads a clock, opens a
 * socket or arms a timer. The driver runs the actions in order and arms exactly one timer for
 * `nextDeadline(state)`; when it fires it feeds `{ type: "timer" }` (an early or spurious timer
 * input is harmless). Every state change goes through `transition()`, which emits the
 * `transition` action the driver logs as `from → to (reason)`.
 *
 * Semantic choices (keepalived is the peer we must behave like):
 * - Address owner (configured priority 255): goes MASTER at once on startup / fault recovery;
 *   always preempts (a configured `preempt: false` is overridden, as keepalived does); its
 *   priority is never lowered by tracking (`priority` inputs are ignored — keepalived refuses
 *   weighted tracking on an owner). Only the heartbeat self-demote lowers it. Two owners on one
 *   segment are a misconfiguration; they fall back to the ordinary tie-break on primary IP.
 * - preempt_delay (keepalived semantics): a preempting backup that sees a lower-priority master
 *   keeps accepting its adverts for `preemptDelayMs`, counted from the first such advert since it
 *   entered BACKUP; after that it ignores them, so its master-down timer runs out and it takes
 *   over. A higher-or-equal-priority advert cancels the count. The delay does not hold back a
 *   takeover when there is no master at all (master-down after startup fires as usual).
 * - GARP: on becoming master the FSM emits one `garp` action (count = garp.repeat, the driver
 *   sends that many frames per VIP), then schedules a second burst after `garp.delayMs`
 *   (keepalived's garp_master_delay, default 5 s) and, if `garp.refreshMs` > 0, a refresh burst
 *   (count = garp.refreshRepeat) every refreshMs while master. These deadlines are part of
 *   `nextDeadline`. A master that hears a lower-priority advert sends an advert at once and a
 *   GARP burst (plus the delayed second burst), like keepalived's garp_lower_prio_* defaults:
 *   the other side may have been master and pointed the segment's ARP caches at itself.
 * - Tracking lowers a master's priority: it sends an advert at once. A preempting backup that
 *   hears the master it was following drop below its own priority takes over after Skew_Time
 *   (as after a priority-0 advert) instead of waiting Master_Down_Interval.
 * - Leaving MASTER for any reason other than a better master (shutdown, fault, self-demote,
 *   sync group) sends a priority-0 advert first, so a backup takes over after Skew_Time
 *   instead of Master_Down_Interval; then the VIPs are removed.
 * - Self-demote (`demote`): effective priority 1 until `demote_cleared`; a master resigns
 *   (priority 0, VIPs removed, BACKUP). With no other router it takes the VIPs back after
 *   Master_Down_Interval, at priority 1.
 * - Resign (`resign`, an operator's planned handover): a master leaves at once with a priority-0
 *   advert, so its peer takes over after Skew_Time; a resigned instance never becomes master on
 *   its own (its master-down timer only re-arms, it does not ask its sync group, and an owner
 *   does not take over at startup) until `resume`. With no other router, nobody holds the VIPs:
 *   that is what the operator asked for.
 * - Faults: the driver reports its aggregate (`fault` when any interface/weight-0 track is down,
 *   `fault_cleared` when none is). A sync group can also force FAULT; the instance leaves FAULT
 *   when neither holds.
 * - Sync groups (keepalived's vrrp_sync_can_goto_master): a member's master-down timer does not
 *   make it MASTER. It only records that it wants MASTER (`wantMaster`, a `want_master` action)
 *   and re-arms; the group moves every member to MASTER once all of them want it. Hearing a
 *   master again withdraws the wish. So a partition on one segment of the group cannot make a
 *   router master on the segments where it still hears a better master (two masters, flapping).
 *   A member the group sends from MASTER to BACKUP does not send a priority-0 advert (keepalived
 *   neither): that would pull its peer in early and feed the flapping.
 */

export type VrrpState = "INIT" | "BACKUP" | "MASTER" | "FAULT";

export const PRIORITY_OWNER = 255;
export const PRIORITY_STOP = 0;

export interface GarpConfig {
  /** Frames per VIP in the burst sent on becoming master (and on a lower-priority advert). keepalived: 5. */
  repeat: number;
  /** Delay of the second burst after becoming master; 0 = no second burst. keepalived: 5 s. */
  delayMs: number;
  /** Interval of refresh bursts while master; 0 = none. keepalived default: 0. */
  refreshMs: number;
  /** Frames per VIP in a refresh burst. keepalived: 1. */
  refreshRepeat: number;
}

export const DEFAULT_GARP: Readonly<GarpConfig> = {
  repeat: 5,
  delayMs: 5000,
  refreshMs: 0,
  refreshRepeat: 1,
};

export interface FsmConfig {
  vrid: number;
  version: 2 | 3;
  family: IpFamily;
  /** Configured priority 1..255 (255 = address owner). */
  priority: number;
  /** Our advertisement interval in centiseconds (v2: whole seconds, i.e. a multiple of 100). */
  advertIntervalCs: number;
  preempt: boolean;
  preemptDelayMs: number;
  /** Our primary address (the adverts' source), used for the equal-priority tie-break. */
  primaryIp: string;
  garp?: Partial<GarpConfig>;
}

export interface ResolvedFsmConfig extends Readonly<Omit<FsmConfig, "garp">> {
  readonly garp: Readonly<GarpConfig>;
}

export interface InstanceState {
  readonly config: ResolvedFsmConfig;
  readonly state: VrrpState;
  /** `now` of the last transition (null before the first). */
  readonly since: number | null;
  /** Priority used in adverts and for Skew_Time: owner 255, demoted 1, else the tracked priority. */
  readonly effectivePriority: number;
  /** The latest priority from tracking (`priority` input), configured priority initially. */
  readonly trackedPriority: number;
  /** Reason of an active self-demote, or null. */
  readonly demoted: string | null;
  /** Reason of our own fault (interface, weight-0 track), or null. */
  readonly fault: string | null;
  /** A sync group peer forced FAULT. */
  readonly syncFault: boolean;
  /** Master_Adver_Interval (cs): learned from the master's adverts in v3, our own otherwise. */
  readonly masterAdverIntervalCs: number;
  /** BACKUP: when the master-down timer fires. */
  readonly masterDownAt: number | null;
  /** MASTER: when the next advert is due. */
  readonly adverAt: number | null;
  /** MASTER: when the next GARP burst is due. */
  readonly garpAt: number | null;
  /** MASTER: the burst at garpAt is the delayed second burst (else a refresh). */
  readonly garpDelayedPending: boolean;
  /** BACKUP with preempt_delay: until when a lower-priority master is still accepted. */
  readonly preemptUntil: number | null;
  /** BACKUP: the master whose adverts we last accepted. */
  readonly master: { readonly ip: string; readonly priority: number } | null;
  /** The instance is in a sync group (of two or more): its master-down timer only asks. */
  readonly syncMember: boolean;
  /** BACKUP, sync member: its master-down timer expired and no master was heard since. */
  readonly wantMaster: boolean;
  /** An operator resigned the instance: it stays out of MASTER until resumed. */
  readonly resigned: boolean;
}

export type SyncTarget = "MASTER" | "BACKUP" | "FAULT";

export type FsmInput =
  | { type: "startup" }
  | { type: "timer" }
  | { type: "advert"; advert: VrrpAdvert; src: string }
  | { type: "shutdown" }
  | { type: "fault"; reason: string }
  | { type: "fault_cleared" }
  | { type: "priority"; effectivePriority: number }
  | { type: "sync_group"; to: SyncTarget }
  /** Joins (true) or leaves (false) a sync group. */
  | { type: "sync_member"; member: boolean }
  | { type: "demote"; reason: string }
  | { type: "demote_cleared" }
  | { type: "resign" }
  | { type: "resume" };

export type TransitionReason =
  | "startup"
  | "startup_owner"
  | "startup_fault"
  | "master_down"
  | "higher_priority"
  | "equal_priority_higher_ip"
  | "shutdown"
  | "fault"
  | "fault_cleared"
  | "sync_group"
  | "demote"
  | "resign";

export type GarpReason = "master" | "master_delayed" | "refresh" | "lower_priority";

export type Action =
  | { type: "transition"; from: VrrpState; to: VrrpState; reason: TransitionReason; detail?: string }
  | { type: "send_advert"; priority: number }
  | { type: "add_vips" }
  | { type: "del_vips" }
  /** Send `count` gratuitous ARPs (IPv4) / unsolicited NAs (IPv6) for every VIP. */
  | { type: "garp"; count: number; reason: GarpReason }
  /** A sync member's master-down timer expired: ask the group (SyncGroup.onWantMaster). */
  | { type: "want_master" };

export interface StepResult {
  state: InstanceState;
  actions: Action[];
}

// ---------------------------------------------------------------------------------------------
// Construction and timers
// ---------------------------------------------------------------------------------------------

function invalid(message: string, context: Record<string, unknown>): never {
  throw new VipdError("VRRP_CONFIG_INVALID", message, context);
}

function checkInt(name: string, v: number, min: number, max: number): void {
  if (!Number.isInteger(v) || v < min || v > max)
    invalid(`${name} must be an integer in ${min}..${max}, got ${v}`, { [name]: v });
}

/** A new instance in INIT. Throws VRRP_CONFIG_INVALID. */
export function createInstance(config: FsmConfig): InstanceState {
  checkInt("vrid", config.vrid, 1, 255);
  checkInt("priority", config.priority, 1, 255);
  if (config.version !== 2 && config.version !== 3)
    invalid(`version must be 2 or 3`, { version: config.version });
  if (config.version === 2) {
    if (config.family !== "inet") invalid("VRRPv2 is IPv4 only", { family: config.family });
    if (config.advertIntervalCs % 100 !== 0) {
      invalid("a VRRPv2 advert interval is whole seconds", { advertIntervalCs: config.advertIntervalCs });
    }
    checkInt("advertIntervalCs", config.advertIntervalCs, 100, 25500);
  } else {
    checkInt("advertIntervalCs", config.advertIntervalCs, 1, 4095);
  }
  if (!Number.isFinite(config.preemptDelayMs) || config.preemptDelayMs < 0) {
    invalid("preemptDelayMs must be ≥ 0", { preemptDelayMs: config.preemptDelayMs });
  }
  if (ipFamily(config.primaryIp) !== config.family) {
    invalid(`primaryIp ${config.primaryIp} is not an ${config.family} address`, {
      primaryIp: config.primaryIp,
    });
  }
  const garp: GarpConfig = { ...DEFAULT_GARP, ...config.garp };
  checkInt("garp.repeat", garp.repeat, 0, 1000);
  checkInt("garp.refreshRepeat", garp.refreshRepeat, 0, 1000);
  for (const k of ["delayMs", "refreshMs"] as const) {
    if (!Number.isFinite(garp[k]) || garp[k] < 0) invalid(`garp.${k} must be ≥ 0`, { [k]: garp[k] });
  }
  const owner = config.priority === PRIORITY_OWNER;
  const resolved: ResolvedFsmConfig = {
    vrid: config.vrid,
    version: config.version,
    family: config.family,
    priority: config.priority,
    advertIntervalCs: config.advertIntervalCs,
    preempt: owner ? true : config.preempt,
    preemptDelayMs: config.preemptDelayMs,
    primaryIp: normalizeIp(config.primaryIp),
    garp,
  };
  return {
    config: resolved,
    state: "INIT",
    since: null,
    effectivePriority: config.priority,
    trackedPriority: config.priority,
    demoted: null,
    fault: null,
    syncFault: false,
    masterAdverIntervalCs: config.advertIntervalCs,
    masterDownAt: null,
    adverAt: null,
    garpAt: null,
    garpDelayedPending: false,
    preemptUntil: null,
    master: null,
    syncMember: false,
    wantMaster: false,
    resigned: false,
  };
}

export function isOwner(s: InstanceState): boolean {
  return s.config.priority === PRIORITY_OWNER;
}

function computeEffective(config: ResolvedFsmConfig, tracked: number, demoted: string | null): number {
  if (demoted !== null) return 1;
  if (config.priority === PRIORITY_OWNER) return PRIORITY_OWNER;
  return tracked;
}

/**
 * Skew_Time in ms. v2: (256 − Priority)/256 s. v3: ((256 − Priority) · Master_Adver_Interval)/256 cs.
 * Priority is the effective priority.
 */
export function skewMs(s: InstanceState): number {
  const p = 256 - s.effectivePriority;
  return s.config.version === 2 ? (p * 1000) / 256 : (p * s.masterAdverIntervalCs * 10) / 256;
}

/** Master_Down_Interval in ms: 3 · Master_Adver_Interval + Skew_Time. */
export function masterDownIntervalMs(s: InstanceState): number {
  return 3 * s.masterAdverIntervalCs * 10 + skewMs(s);
}

/** Our Advertisement_Interval in ms. */
export function advertIntervalMs(s: InstanceState): number {
  return s.config.advertIntervalCs * 10;
}

/** The single deadline the driver must arm a timer for, or null for none. */
export function nextDeadline(s: InstanceState): number | null {
  if (s.state === "BACKUP") return s.masterDownAt;
  if (s.state === "MASTER") {
    if (s.adverAt === null) return s.garpAt;
    if (s.garpAt === null) return s.adverAt;
    return Math.min(s.adverAt, s.garpAt);
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// Transitions: the one place a state changes
// ---------------------------------------------------------------------------------------------

export interface TransitionOptions {
  /** Leaving MASTER: send a priority-0 advert before removing the VIPs. */
  resign?: boolean;
  /** Entering BACKUP: Master_Adver_Interval learned from the new master's advert (v3). */
  learnedIntervalCs?: number;
  /** Entering BACKUP: the master that caused it. */
  master?: { ip: string; priority: number };
  /** Free text for the log line (fault reason, advert source...). */
  detail?: string;
}

/**
 * Moves `s` to `to`, runs the exit/entry work and emits the `transition` action first.
 * Exit MASTER: (priority-0 advert if resigning) + del_vips.
 * Enter MASTER: advert, add_vips, garp; arm the advert and GARP timers.
 * Enter BACKUP: arm the master-down timer. Enter INIT/FAULT: no timers.
 */
export function transition(
  s: InstanceState,
  to: VrrpState,
  reason: TransitionReason,
  now: number,
  opts: TransitionOptions = {},
): StepResult {
  const actions: Action[] = [
    {
      type: "transition",
      from: s.state,
      to,
      reason,
      ...(opts.detail !== undefined ? { detail: opts.detail } : {}),
    },
  ];
  if (s.state === "MASTER" && to !== "MASTER") {
    if (opts.resign) actions.push({ type: "send_advert", priority: PRIORITY_STOP });
    actions.push({ type: "del_vips" });
  }
  const cleared: InstanceState = {
    ...s,
    state: to,
    since: now,
    masterAdverIntervalCs: s.config.advertIntervalCs,
    masterDownAt: null,
    adverAt: null,
    garpAt: null,
    garpDelayedPending: false,
    preemptUntil: null,
    master: null,
    wantMaster: false,
  };
  switch (to) {
    case "MASTER": {
      const { garp } = s.config;
      actions.push({ type: "send_advert", priority: s.effectivePriority }, { type: "add_vips" });
      actions.push({ type: "garp", count: garp.repeat, reason: "master" });
      return {
        state: {
          ...cleared,
          adverAt: now + advertIntervalMs(s),
          garpAt: garp.delayMs > 0 ? now + garp.delayMs : garp.refreshMs > 0 ? now + garp.refreshMs : null,
          garpDelayedPending: garp.delayMs > 0,
        },
        actions,
      };
    }
    case "BACKUP": {
      const next: InstanceState = {
        ...cleared,
        masterAdverIntervalCs:
          s.config.version === 3 && opts.learnedIntervalCs !== undefined
            ? opts.learnedIntervalCs
            : s.config.advertIntervalCs,
        master: opts.master ?? null,
      };
      return { state: { ...next, masterDownAt: now + masterDownIntervalMs(next) }, actions };
    }
    case "INIT":
    case "FAULT":
      return { state: cleared, actions };
  }
}

// ---------------------------------------------------------------------------------------------
// The step function
// ---------------------------------------------------------------------------------------------

const none = (state: InstanceState): StepResult => ({ state, actions: [] });

/** Where an instance goes when it (re)starts: FAULT if faulted, MASTER if owner, else BACKUP. */
function enterFromIdle(s: InstanceState, now: number, fromStartup: boolean): StepResult {
  if (s.fault !== null || s.syncFault) {
    return transition(s, "FAULT", fromStartup ? "startup_fault" : "sync_group", now, {
      detail: s.fault ?? "sync group",
    });
  }
  if (isOwner(s) && s.demoted === null && !s.resigned) {
    return transition(s, "MASTER", fromStartup ? "startup_owner" : "fault_cleared", now);
  }
  return transition(s, "BACKUP", fromStartup ? "startup" : "fault_cleared", now);
}

function advertCs(a: VrrpAdvert): number {
  return a.version === 2 ? a.advertIntervalS * 100 : a.maxAdvertIntervalCs;
}

function onTimer(s: InstanceState, now: number): StepResult {
  if (s.state === "BACKUP") {
    if (s.masterDownAt !== null && now >= s.masterDownAt) {
      if (s.resigned) return none({ ...s, masterDownAt: now + masterDownIntervalMs(s) });
      if (s.syncMember) {
        return {
          state: { ...s, wantMaster: true, masterDownAt: now + masterDownIntervalMs(s) },
          actions: [{ type: "want_master" }],
        };
      }
      return transition(s, "MASTER", "master_down", now, {
        ...(s.master ? { detail: `last master ${s.master.ip}` } : {}),
      });
    }
    return none(s);
  }
  if (s.state !== "MASTER") return none(s);
  const actions: Action[] = [];
  let next = s;
  if (next.adverAt !== null && now >= next.adverAt) {
    actions.push({ type: "send_advert", priority: next.effectivePriority });
    // Counted from when the advert was due, not from when its timer fired: timers fire late, and
    // counting from the firing would stretch every interval by that lateness. A master that fell
    // more than an interval behind (a stalled thread) starts afresh rather than sending a burst.
    const due = next.adverAt + advertIntervalMs(next);
    next = { ...next, adverAt: due > now ? due : now + advertIntervalMs(next) };
  }
  if (next.garpAt !== null && now >= next.garpAt) {
    const { garp } = next.config;
    if (next.garpDelayedPending) {
      actions.push({ type: "garp", count: garp.repeat, reason: "master_delayed" });
    } else {
      actions.push({ type: "garp", count: garp.refreshRepeat, reason: "refresh" });
    }
    next = { ...next, garpDelayedPending: false, garpAt: garp.refreshMs > 0 ? now + garp.refreshMs : null };
  }
  return { state: next, actions };
}

function onAdvertBackup(s: InstanceState, advert: VrrpAdvert, src: string, now: number): StepResult {
  if (advert.priority === PRIORITY_STOP) {
    // The master resigns: take over after Skew_Time.
    return none({ ...s, masterDownAt: now + skewMs(s) });
  }
  const lower = advert.priority < s.effectivePriority;
  const { preempt, preemptDelayMs, version } = s.config;
  const delaying =
    preempt && lower && preemptDelayMs > 0 && (s.preemptUntil === null || now < s.preemptUntil);
  if (!preempt || !lower || delaying) {
    // Accept this master: learn its interval (v3), reset the master-down timer.
    let next: InstanceState = {
      ...s,
      wantMaster: false,
      master: { ip: normalizeIp(src), priority: advert.priority },
      masterAdverIntervalCs: version === 3 ? advertCs(advert) : s.masterAdverIntervalCs,
    };
    if (!lower) next = { ...next, preemptUntil: null };
    else if (delaying && s.preemptUntil === null) next = { ...next, preemptUntil: now + preemptDelayMs };
    return none({ ...next, masterDownAt: now + masterDownIntervalMs(next) });
  }
  // Preempting: ignore the lower-priority master; the master-down timer runs on. When it is
  // the master we were following that just dropped below us (tracking), it has told us itself:
  // take over after Skew_Time, as if it had resigned, rather than a whole Master_Down_Interval.
  // (Beyond the RFC; a keepalived backup waits the interval out.)
  if (
    s.master !== null &&
    s.master.ip === normalizeIp(src) &&
    advert.priority < s.master.priority &&
    s.masterDownAt !== null
  ) {
    return none({
      ...s,
      master: { ip: s.master.ip, priority: advert.priority },
      masterDownAt: Math.min(s.masterDownAt, now + skewMs(s)),
    });
  }
  return none(s);
}

function onAdvertMaster(s: InstanceState, advert: VrrpAdvert, src: string, now: number): StepResult {
  if (advert.priority === PRIORITY_STOP) {
    return {
      state: { ...s, adverAt: now + advertIntervalMs(s) },
      actions: [{ type: "send_advert", priority: s.effectivePriority }],
    };
  }
  const cmp = compareIp(src, s.config.primaryIp);
  const higher = advert.priority > s.effectivePriority;
  const equal = advert.priority === s.effectivePriority;
  if (higher || (equal && cmp > 0)) {
    return transition(s, "BACKUP", higher ? "higher_priority" : "equal_priority_higher_ip", now, {
      learnedIntervalCs: advertCs(advert),
      master: { ip: normalizeIp(src), priority: advert.priority },
      detail: `advert from ${normalizeIp(src)} priority ${advert.priority}, ours ${s.effectivePriority}`,
    });
  }
  if (equal && cmp === 0) {
    // Our own address: a looped-back copy of our advert, or a duplicate address. Nothing to do.
    return none(s);
  }
  // Lower priority, or equal with a lower address: stay master, assert ourselves at once.
  const { garp } = s.config;
  const actions: Action[] = [
    { type: "send_advert", priority: s.effectivePriority },
    { type: "garp", count: garp.repeat, reason: "lower_priority" },
  ];
  const garpAt = garp.delayMs > 0 ? now + garp.delayMs : s.garpAt;
  return {
    state: {
      ...s,
      adverAt: now + advertIntervalMs(s),
      garpAt,
      garpDelayedPending: garp.delayMs > 0 ? true : s.garpDelayedPending,
    },
    actions,
  };
}

/**
 * BACKUP: Skew_Time depends on the priority, so a new priority moves the master-down deadline,
 * still counted from the last advert accepted (keepalived's vrrp_set_effective_priority does the
 * same). Other states have no such deadline.
 */
function rescheduleMasterDown(before: InstanceState, after: InstanceState, now: number): StepResult {
  if (after.state !== "BACKUP" || before.masterDownAt === null) return none(after);
  const lastReset = before.masterDownAt - masterDownIntervalMs(before);
  const next = { ...after, masterDownAt: lastReset + masterDownIntervalMs(after) };
  // A shorter skew may put the deadline behind us: it has expired now.
  return next.masterDownAt <= now ? onTimer(next, now) : none(next);
}

function withPriority(s: InstanceState, tracked: number, demoted: string | null): InstanceState {
  return {
    ...s,
    trackedPriority: tracked,
    demoted,
    effectivePriority: computeEffective(s.config, tracked, demoted),
  };
}

/** Advances the state machine by one input at time `now` (ms). Pure. */
export function step(s: InstanceState, input: FsmInput, now: number): StepResult {
  switch (input.type) {
    case "startup":
      return s.state === "INIT" ? enterFromIdle(s, now, true) : none(s);

    case "timer":
      return onTimer(s, now);

    case "advert":
      if (s.state === "BACKUP") return onAdvertBackup(s, input.advert, input.src, now);
      if (s.state === "MASTER") return onAdvertMaster(s, input.advert, input.src, now);
      return none(s);

    case "shutdown":
      if (s.state === "INIT") return none(s);
      return transition(s, "INIT", "shutdown", now, { resign: true });

    case "fault": {
      const next = { ...s, fault: input.reason };
      if (s.state === "BACKUP" || s.state === "MASTER") {
        return transition(next, "FAULT", "fault", now, { resign: true, detail: input.reason });
      }
      return none(next);
    }

    case "fault_cleared": {
      const next = { ...s, fault: null };
      if (s.state === "FAULT" && !s.syncFault) return enterFromIdle(next, now, false);
      return none(next);
    }

    case "priority": {
      if (isOwner(s)) return none(s);
      const p = Math.round(input.effectivePriority);
      if (!Number.isFinite(p)) {
        throw new VipdError(
          "VRRP_BAD_PRIORITY",
          `effective priority ${input.effectivePriority} is not a number`,
          {
            effectivePriority: input.effectivePriority,
          },
        );
      }
      // 0 and 255 have protocol meanings; a tracked priority stays within 1..254.
      const next = withPriority(s, Math.min(254, Math.max(1, p)), s.demoted);
      if (s.state === "MASTER" && next.effectivePriority < s.effectivePriority) {
        // Say it at once: a preempting backup that now outranks us need not wait for our next
        // advert (a vipd backup then takes over after its Skew_Time).
        return {
          state: { ...next, adverAt: now + advertIntervalMs(next) },
          actions: [{ type: "send_advert", priority: next.effectivePriority }],
        };
      }
      return rescheduleMasterDown(s, next, now);
    }

    case "demote": {
      const next = withPriority(s, s.trackedPriority, input.reason);
      if (s.state === "MASTER")
        return transition(next, "BACKUP", "demote", now, { resign: true, detail: input.reason });
      return none(next);
    }

    case "demote_cleared":
      return rescheduleMasterDown(s, withPriority(s, s.trackedPriority, null), now);

    case "resign": {
      const next = { ...s, resigned: true, wantMaster: false };
      if (s.state === "MASTER") return transition(next, "BACKUP", "resign", now, { resign: true });
      return none(next);
    }

    case "resume":
      // The master-down timer has kept running: with no master to hear, it takes over when it
      // next fires, as any backup would.
      return none({ ...s, resigned: false });

    case "sync_group":
      return onSyncGroup(s, input.to, now);

    case "sync_member":
      return none({ ...s, syncMember: input.member, wantMaster: input.member && s.wantMaster });
  }
}

function onSyncGroup(s: InstanceState, to: SyncTarget, now: number): StepResult {
  switch (to) {
    case "FAULT": {
      const next = { ...s, syncFault: true };
      if (s.state === "BACKUP" || s.state === "MASTER") {
        return transition(next, "FAULT", "sync_group", now, {
          resign: true,
          detail: "sync group member in FAULT",
        });
      }
      return none(next);
    }
    case "BACKUP": {
      const next = { ...s, syncFault: false };
      if (s.state === "FAULT" && s.fault === null) return transition(next, "BACKUP", "sync_group", now);
      if (s.state === "MASTER") return transition(next, "BACKUP", "sync_group", now);
      return none(next);
    }
    case "MASTER":
      if (s.state === "BACKUP" && !s.resigned) return transition(s, "MASTER", "sync_group", now);
      return none(s);
  }
}
