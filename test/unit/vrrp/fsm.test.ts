import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { VipdError } from "../../../src/errors.js";
import {
  type Action,
  createInstance,
  type FsmConfig,
  type FsmInput,
  type InstanceState,
  masterDownIntervalMs,
  nextDeadline,
  skewMs,
  step,
  transition,
  type VrrpState,
} from "../../../src/vrrp/fsm.js";
import type { VrrpAdvert } from "../../../src/vrrp/packet.js";

const BASE: FsmConfig = {
  vrid: 51,
  version: 3,
  family: "inet",
  priority: 100,
  advertIntervalCs: 100,
  preempt: true,
  preemptDelayMs: 0,
  primaryIp: "10.0.0.2",
};

const inst = (over: Partial<FsmConfig> = {}) => createInstance({ ...BASE, ...over });

/** Feeds inputs at the given times; returns the final state and the actions of the last input. */
function run(s: InstanceState, ...events: [FsmInput, number][]): { state: InstanceState; actions: Action[] } {
  let r = { state: s, actions: [] as Action[] };
  for (const [input, now] of events) r = step(r.state, input, now);
  return r;
}

const adv3 = (priority: number, maxAdvertIntervalCs = 100): VrrpAdvert => ({
  version: 3,
  vrid: 51,
  priority,
  maxAdvertIntervalCs,
  addresses: ["10.0.0.100"],
});
const adv2 = (priority: number, advertIntervalS = 1): VrrpAdvert => ({
  version: 2,
  vrid: 51,
  priority,
  advertIntervalS,
  addresses: ["10.0.0.100"],
});
const advert = (a: VrrpAdvert, src = "10.0.0.9"): FsmInput => ({ type: "advert", advert: a, src });
const START: FsmInput = { type: "startup" };
const TIMER: FsmInput = { type: "timer" };

/** v3, priority 100, 100 cs: Skew = 156·100/256 cs = 609.375 ms; Master_Down = 3000 + 609.375 ms. */
const MD_100 = 3609.375;
const SKEW_100 = 609.375;

const backupAt0 = (over: Partial<FsmConfig> = {}) => run(inst(over), [START, 0]).state;

function becomeMaster(over: Partial<FsmConfig> = {}): InstanceState {
  const b = backupAt0(over);
  const t = nextDeadline(b)!;
  const m = run(b, [TIMER, t]).state;
  expect(m.state).toBe("MASTER");
  return m;
}

const tr = (from: VrrpState, to: VrrpState, reason: string) => ({ type: "transition", from, to, reason });

interface Row {
  name: string;
  /** State before the input. */
  given: () => InstanceState;
  input: FsmInput;
  now: number;
  state: VrrpState;
  /** Exact action list (transition `detail` ignored). */
  actions: object[];
  deadline: number | null;
  extra?: (s: InstanceState) => void;
}

const strip = (actions: Action[]) =>
  actions.map((a) => {
    if (a.type !== "transition") return a;
    const { detail: _d, ...rest } = a;
    return rest;
  });

const rows: Row[] = [
  {
    name: "startup with priority 255 (address owner) → MASTER at once: advert, VIPs, GARP",
    given: () => inst({ priority: 255 }),
    input: START,
    now: 1000,
    state: "MASTER",
    actions: [
      tr("INIT", "MASTER", "startup_owner"),
      { type: "send_advert", priority: 255 },
      { type: "add_vips" },
      { type: "garp", count: 5, reason: "master" },
    ],
    deadline: 2000, // advert timer (the second GARP burst is at 6000)
    extra: (s) => expect(s.garpAt).toBe(6000),
  },
  {
    name: "startup with priority < 255 → BACKUP, master-down timer = 3·adv + skew (v3, prio 100)",
    given: () => inst(),
    input: START,
    now: 1000,
    state: "BACKUP",
    actions: [tr("INIT", "BACKUP", "startup")],
    deadline: 1000 + MD_100,
  },
  {
    name: "v2 timers: skew = (256−prio)/256 s whatever the interval; master-down = 3·adv + skew",
    given: () => inst({ version: 2, advertIntervalCs: 200, priority: 200 }),
    input: START,
    now: 0,
    state: "BACKUP",
    actions: [tr("INIT", "BACKUP", "startup")],
    deadline: 6000 + (56 * 1000) / 256, // 6218.75
    extra: (s) => expect(skewMs(s)).toBe(218.75),
  },
  {
    name: "v3 timers: skew = (256−prio)·Master_Adver_Interval/256 cs",
    given: () => inst({ advertIntervalCs: 200, priority: 200 }),
    input: START,
    now: 0,
    state: "BACKUP",
    actions: [tr("INIT", "BACKUP", "startup")],
    deadline: 6000 + (56 * 200 * 10) / 256, // 6437.5
    extra: (s) => expect(skewMs(s)).toBe(437.5),
  },
  {
    name: "timer before the master-down deadline → nothing",
    given: () => backupAt0(),
    input: TIMER,
    now: MD_100 - 1,
    state: "BACKUP",
    actions: [],
    deadline: MD_100,
  },
  {
    name: "master-down timer fires → MASTER: advert, VIPs, GARP, advert timer armed",
    given: () => backupAt0(),
    input: TIMER,
    now: MD_100,
    state: "MASTER",
    actions: [
      tr("BACKUP", "MASTER", "master_down"),
      { type: "send_advert", priority: 100 },
      { type: "add_vips" },
      { type: "garp", count: 5, reason: "master" },
    ],
    deadline: MD_100 + 1000,
  },
  {
    name: "backup receives priority 0 → master-down timer = Skew_Time",
    given: () => run(backupAt0(), [advert(adv3(150)), 500]).state,
    input: advert(adv3(0)),
    now: 2000,
    state: "BACKUP",
    actions: [],
    deadline: 2000 + SKEW_100,
  },
  {
    name: "backup receives higher priority → reset master-down timer and learn the interval (v3)",
    given: () => backupAt0(),
    input: advert(adv3(150, 50)),
    now: 2000,
    state: "BACKUP",
    actions: [],
    // Master_Adver_Interval 50 cs: 3·500 + 156·50·10/256 = 1500 + 304.6875
    deadline: 2000 + 1804.6875,
    extra: (s) => {
      expect(s.masterAdverIntervalCs).toBe(50);
      expect(s.master).toEqual({ ip: "10.0.0.9", priority: 150 });
    },
  },
  {
    name: "backup receives equal priority → reset master-down timer",
    given: () => backupAt0(),
    input: advert(adv3(100)),
    now: 2000,
    state: "BACKUP",
    actions: [],
    deadline: 2000 + MD_100,
  },
  {
    name: "v2 backup does not learn the interval (it stays ours)",
    given: () => backupAt0({ version: 2 }),
    input: advert(adv2(150, 3)),
    now: 2000,
    state: "BACKUP",
    actions: [],
    deadline: 2000 + MD_100,
    extra: (s) => expect(s.masterAdverIntervalCs).toBe(100),
  },
  {
    name: "non-preempting backup accepts a lower-priority master → reset master-down timer",
    given: () => backupAt0({ preempt: false }),
    input: advert(adv3(50)),
    now: 2000,
    state: "BACKUP",
    actions: [],
    deadline: 2000 + MD_100,
  },
  {
    name: "preempting backup ignores a lower-priority master → timer unchanged (then expires → takeover)",
    given: () => backupAt0(),
    input: advert(adv3(50)),
    now: 2000,
    state: "BACKUP",
    actions: [],
    deadline: MD_100,
  },
  {
    name: "preempt_delay: first lower-priority advert is accepted and starts the delay",
    given: () => backupAt0({ preemptDelayMs: 10_000 }),
    input: advert(adv3(50)),
    now: 2000,
    state: "BACKUP",
    actions: [],
    deadline: 2000 + MD_100,
    extra: (s) => expect(s.preemptUntil).toBe(12_000),
  },
  {
    name: "preempt_delay: lower-priority adverts accepted until the delay ends (start not moved)",
    given: () => run(backupAt0({ preemptDelayMs: 10_000 }), [advert(adv3(50)), 2000]).state,
    input: advert(adv3(50)),
    now: 11_999,
    state: "BACKUP",
    actions: [],
    deadline: 11_999 + MD_100,
    extra: (s) => expect(s.preemptUntil).toBe(12_000),
  },
  {
    name: "preempt_delay: after the delay, lower-priority adverts are ignored",
    given: () =>
      run(backupAt0({ preemptDelayMs: 10_000 }), [advert(adv3(50)), 2000], [advert(adv3(50)), 11_000]).state,
    input: advert(adv3(50)),
    now: 12_000,
    state: "BACKUP",
    actions: [],
    deadline: 11_000 + MD_100,
  },
  {
    name: "preempt_delay: a higher-or-equal advert cancels the delay count",
    given: () => run(backupAt0({ preemptDelayMs: 10_000 }), [advert(adv3(50)), 2000]).state,
    input: advert(adv3(100)),
    now: 3000,
    state: "BACKUP",
    actions: [],
    deadline: 3000 + MD_100,
    extra: (s) => expect(s.preemptUntil).toBeNull(),
  },
  {
    name: "master receives priority 0 → send an advert at once and reset the advert timer",
    given: () => becomeMaster(),
    input: advert(adv3(0)),
    now: 4000,
    state: "MASTER",
    actions: [{ type: "send_advert", priority: 100 }],
    deadline: 5000,
  },
  {
    name: "master receives higher priority → BACKUP: delete VIPs, arm master-down with the learned interval",
    given: () => becomeMaster(),
    input: advert(adv3(150, 50)),
    now: 4000,
    state: "BACKUP",
    actions: [tr("MASTER", "BACKUP", "higher_priority"), { type: "del_vips" }],
    deadline: 4000 + 1804.6875,
    extra: (s) => expect(s.master).toEqual({ ip: "10.0.0.9", priority: 150 }),
  },
  {
    name: "master receives equal priority from a higher primary IP → BACKUP",
    given: () => becomeMaster(),
    input: advert(adv3(100), "10.0.0.3"),
    now: 4000,
    state: "BACKUP",
    actions: [tr("MASTER", "BACKUP", "equal_priority_higher_ip"), { type: "del_vips" }],
    deadline: 4000 + MD_100,
  },
  {
    name: "master receives equal priority from a lower primary IP → stay MASTER, advert at once",
    given: () => becomeMaster(),
    input: advert(adv3(100), "10.0.0.1"),
    now: 4000,
    state: "MASTER",
    actions: [
      { type: "send_advert", priority: 100 },
      { type: "garp", count: 5, reason: "lower_priority" },
    ],
    deadline: 5000,
  },
  {
    name: "master receives lower priority → stay MASTER, advert at once + GARP burst (keepalived)",
    given: () => becomeMaster(),
    input: advert(adv3(99), "10.0.0.200"),
    now: 4000,
    state: "MASTER",
    actions: [
      { type: "send_advert", priority: 100 },
      { type: "garp", count: 5, reason: "lower_priority" },
    ],
    deadline: 5000,
    extra: (s) => {
      expect(s.garpAt).toBe(9000);
      expect(s.garpDelayedPending).toBe(true);
    },
  },
  {
    name: "master receives its own address at equal priority (looped back) → nothing",
    given: () => becomeMaster(),
    input: advert(adv3(100), "10.0.0.2"),
    now: 4000,
    state: "MASTER",
    actions: [],
    deadline: MD_100 + 1000,
  },
  {
    name: "master advert timer → send an advert, re-arm",
    given: () => becomeMaster(),
    input: TIMER,
    now: MD_100 + 1000,
    state: "MASTER",
    actions: [{ type: "send_advert", priority: 100 }],
    deadline: MD_100 + 2000,
  },
  {
    name: "master GARP: the second burst comes garp.delayMs after becoming master",
    given: () => run(inst({ priority: 255, advertIntervalCs: 4095 }), [START, 0]).state,
    input: TIMER,
    now: 5000,
    state: "MASTER",
    actions: [{ type: "garp", count: 5, reason: "master_delayed" }],
    deadline: 40_950, // the advert timer; no refresh configured
    extra: (s) => expect(s.garpAt).toBeNull(),
  },
  {
    name: "master GARP refresh: one frame per VIP every refreshMs after the second burst",
    given: () => {
      const m = becomeMaster({ garp: { refreshMs: 60_000, delayMs: 5000 } });
      return run(m, [TIMER, MD_100 + 5000]).state; // the delayed burst
    },
    input: TIMER,
    now: MD_100 + 65_000,
    state: "MASTER",
    actions: [
      { type: "send_advert", priority: 100 },
      { type: "garp", count: 1, reason: "refresh" },
    ],
    deadline: MD_100 + 66_000,
    extra: (s) => expect(s.garpAt).toBe(MD_100 + 125_000),
  },
  {
    name: "no second burst and no refresh: no GARP deadline",
    given: () => inst({ priority: 255, garp: { delayMs: 0, refreshMs: 0 } }),
    input: START,
    now: 0,
    state: "MASTER",
    actions: [
      tr("INIT", "MASTER", "startup_owner"),
      { type: "send_advert", priority: 255 },
      { type: "add_vips" },
      { type: "garp", count: 5, reason: "master" },
    ],
    deadline: 1000,
    extra: (s) => expect(s.garpAt).toBeNull(),
  },
  {
    name: "shutdown as master → priority-0 advert, delete VIPs, INIT",
    given: () => becomeMaster(),
    input: { type: "shutdown" },
    now: 5000,
    state: "INIT",
    actions: [tr("MASTER", "INIT", "shutdown"), { type: "send_advert", priority: 0 }, { type: "del_vips" }],
    deadline: null,
  },
  {
    name: "shutdown as backup → INIT",
    given: () => backupAt0(),
    input: { type: "shutdown" },
    now: 5,
    state: "INIT",
    actions: [tr("BACKUP", "INIT", "shutdown")],
    deadline: null,
  },
  {
    name: "shutdown in INIT → nothing",
    given: () => inst(),
    input: { type: "shutdown" },
    now: 5,
    state: "INIT",
    actions: [],
    deadline: null,
  },
  {
    name: "fault as master → priority-0 advert first, delete VIPs, FAULT",
    given: () => becomeMaster(),
    input: { type: "fault", reason: "eth0 down" },
    now: 5000,
    state: "FAULT",
    actions: [tr("MASTER", "FAULT", "fault"), { type: "send_advert", priority: 0 }, { type: "del_vips" }],
    deadline: null,
    extra: (s) => expect(s.fault).toBe("eth0 down"),
  },
  {
    name: "fault as backup → FAULT, no timer",
    given: () => backupAt0(),
    input: { type: "fault", reason: "eth0 down" },
    now: 5,
    state: "FAULT",
    actions: [tr("BACKUP", "FAULT", "fault")],
    deadline: null,
  },
  {
    name: "FAULT ignores adverts",
    given: () => run(backupAt0(), [{ type: "fault", reason: "x" }, 1]).state,
    input: advert(adv3(0)),
    now: 10,
    state: "FAULT",
    actions: [],
    deadline: null,
  },
  {
    name: "fault_cleared → BACKUP with a fresh master-down timer",
    given: () => run(backupAt0(), [{ type: "fault", reason: "x" }, 1]).state,
    input: { type: "fault_cleared" },
    now: 10_000,
    state: "BACKUP",
    actions: [tr("FAULT", "BACKUP", "fault_cleared")],
    deadline: 10_000 + MD_100,
  },
  {
    name: "fault_cleared for the address owner → MASTER at once (as at startup)",
    given: () => run(inst({ priority: 255 }), [START, 0], [{ type: "fault", reason: "x" }, 1]).state,
    input: { type: "fault_cleared" },
    now: 10_000,
    state: "MASTER",
    actions: [
      tr("FAULT", "MASTER", "fault_cleared"),
      { type: "send_advert", priority: 255 },
      { type: "add_vips" },
      { type: "garp", count: 5, reason: "master" },
    ],
    deadline: 11_000,
  },
  {
    name: "a fault reported before startup → startup goes to FAULT",
    given: () => run(inst(), [{ type: "fault", reason: "eth0 down" }, 0]).state,
    input: START,
    now: 1,
    state: "FAULT",
    actions: [tr("INIT", "FAULT", "startup_fault")],
    deadline: null,
  },
  {
    name: "owner: tracking priority changes are ignored (effective stays 255)",
    given: () => run(inst({ priority: 255 }), [START, 0]).state,
    input: { type: "priority", effectivePriority: 100 },
    now: 10,
    state: "MASTER",
    actions: [],
    deadline: 1000,
    extra: (s) => expect(s.effectivePriority).toBe(255),
  },
  {
    name: "owner preempts even when configured not to: a lower advert is ignored in BACKUP",
    // Demoted at startup (so BACKUP), then restored to 255.
    given: () =>
      run(
        inst({ priority: 255, preempt: false }),
        [{ type: "demote", reason: "hb" }, 0],
        [START, 0],
        [{ type: "demote_cleared" }, 1],
      ).state,
    input: advert(adv3(254)),
    now: 100,
    state: "BACKUP",
    actions: [],
    // Armed at startup with priority 1; restored to 255 at 1 ms, the skew shrank with it.
    deadline: 3000 + (1 * 1000) / 256,
  },
  {
    name: "tracking lowers a master's priority: an advert carries it at once, the next one an interval later",
    given: () => becomeMaster(),
    input: { type: "priority", effectivePriority: 50 },
    now: 4000,
    state: "MASTER",
    actions: [{ type: "send_advert", priority: 50 }],
    deadline: 5000,
    extra: (s) => {
      expect(s.effectivePriority).toBe(50);
      expect(step(s, TIMER, 5000).actions).toEqual([{ type: "send_advert", priority: 50 }]);
    },
  },
  {
    name: "tracking raises a master's priority: no extra advert, the next one carries it",
    given: () => run(becomeMaster(), [{ type: "priority", effectivePriority: 50 }, 4000]).state,
    input: { type: "priority", effectivePriority: 120 },
    now: 4500,
    state: "MASTER",
    actions: [],
    deadline: 5000,
  },
  {
    name: "a preempting backup whose master drops below it takes over after Skew_Time, not Master_Down_Interval",
    given: () => run(backupAt0({ priority: 100 }), [advert(adv3(150)), 1000]).state,
    input: advert(adv3(50)),
    now: 1500,
    state: "BACKUP",
    actions: [],
    deadline: 1500 + SKEW_100,
    extra: (s) => {
      expect(s.master).toEqual({ ip: "10.0.0.9", priority: 50 });
      // Another lower-priority router it was not following changes nothing.
      const other = run(backupAt0(), [advert(adv3(150)), 1000], [advert(adv3(50), "10.0.0.8"), 1500]).state;
      expect(nextDeadline(other)).toBe(1000 + MD_100);
    },
  },
  {
    name: "tracking priority is clamped to 1..254 (and moves the master-down deadline with its skew)",
    given: () => backupAt0(),
    input: { type: "priority", effectivePriority: -30 },
    now: 1,
    state: "BACKUP",
    actions: [],
    deadline: 3000 + (255 * 1000) / 256,
    extra: (s) => {
      expect(s.effectivePriority).toBe(1);
      expect(step(s, { type: "priority", effectivePriority: 400 }, 2).state.effectivePriority).toBe(254);
    },
  },
  {
    name: "a backup whose priority rose above the master's preempts: lower adverts ignored",
    given: () =>
      run(
        backupAt0({ priority: 50 }),
        [advert(adv3(100)), 1000],
        [{ type: "priority", effectivePriority: 150 }, 1500],
      ).state,
    input: advert(adv3(100)),
    now: 2000,
    state: "BACKUP",
    actions: [],
    // still counted from the advert at 1000, now with prio 150's skew: 3000 + 106·1000/256
    deadline: 1000 + 3000 + (106 * 1000) / 256,
  },
  {
    name: "self-demote as master → priority-0 advert, delete VIPs, BACKUP at priority 1",
    given: () => becomeMaster(),
    input: { type: "demote", reason: "main thread unresponsive" },
    now: 5000,
    state: "BACKUP",
    actions: [tr("MASTER", "BACKUP", "demote"), { type: "send_advert", priority: 0 }, { type: "del_vips" }],
    deadline: 5000 + 3000 + (255 * 1000) / 256,
    extra: (s) => {
      expect(s.effectivePriority).toBe(1);
      expect(step(s, { type: "demote_cleared" }, 6000).state.effectivePriority).toBe(100);
    },
  },
  {
    name: "self-demote lowers even the owner (and it then starts as BACKUP)",
    given: () => run(inst({ priority: 255 }), [{ type: "demote", reason: "hb" }, 0]).state,
    input: START,
    now: 1,
    state: "BACKUP",
    actions: [tr("INIT", "BACKUP", "startup")],
    deadline: 1 + 3000 + (255 * 1000) / 256,
  },
  {
    name: "sync group forces FAULT on a master → priority-0 advert, delete VIPs",
    given: () => becomeMaster(),
    input: { type: "sync_group", to: "FAULT" },
    now: 5000,
    state: "FAULT",
    actions: [
      tr("MASTER", "FAULT", "sync_group"),
      { type: "send_advert", priority: 0 },
      { type: "del_vips" },
    ],
    deadline: null,
  },
  {
    // No priority-0 advert (keepalived's vrrp_state_leave_master(…, false)): it would pull the
    // peer in early and feed a flapping group.
    name: "sync group forces BACKUP on a master → BACKUP, VIPs removed, no priority-0 advert",
    given: () => becomeMaster(),
    input: { type: "sync_group", to: "BACKUP" },
    now: 5000,
    state: "BACKUP",
    actions: [tr("MASTER", "BACKUP", "sync_group"), { type: "del_vips" }],
    deadline: 5000 + MD_100,
  },
  {
    name: "sync group BACKUP releases a sync-forced FAULT",
    given: () => run(backupAt0(), [{ type: "sync_group", to: "FAULT" }, 1]).state,
    input: { type: "sync_group", to: "BACKUP" },
    now: 100,
    state: "BACKUP",
    actions: [tr("FAULT", "BACKUP", "sync_group")],
    deadline: 100 + MD_100,
  },
  {
    name: "sync group BACKUP does not release our own fault",
    given: () =>
      run(backupAt0(), [{ type: "fault", reason: "eth0 down" }, 1], [{ type: "sync_group", to: "FAULT" }, 2])
        .state,
    input: { type: "sync_group", to: "BACKUP" },
    now: 100,
    state: "FAULT",
    actions: [],
    deadline: null,
  },
  {
    name: "own fault cleared while a sync group still holds FAULT → stay FAULT",
    given: () =>
      run(backupAt0(), [{ type: "fault", reason: "eth0 down" }, 1], [{ type: "sync_group", to: "FAULT" }, 2])
        .state,
    input: { type: "fault_cleared" },
    now: 100,
    state: "FAULT",
    actions: [],
    deadline: null,
  },
  {
    name: "sync group forces MASTER on a backup",
    given: () => backupAt0(),
    input: { type: "sync_group", to: "MASTER" },
    now: 100,
    state: "MASTER",
    actions: [
      tr("BACKUP", "MASTER", "sync_group"),
      { type: "send_advert", priority: 100 },
      { type: "add_vips" },
      { type: "garp", count: 5, reason: "master" },
    ],
    deadline: 1100,
  },
  {
    name: "IPv6 tie-break: equal priority from a higher link-local address → BACKUP",
    given: () => becomeMaster({ family: "inet6", primaryIp: "fe80::ff:fe00:a" }),
    input: advert({ ...adv3(100), addresses: ["2001:db8::1"] }, "fe80::ff:fe00:b"),
    now: 4000,
    state: "BACKUP",
    actions: [tr("MASTER", "BACKUP", "equal_priority_higher_ip"), { type: "del_vips" }],
    deadline: 4000 + MD_100,
  },
  {
    name: "IPv6 tie-break compares bytes, not text: fe80::9 < fe80::ff:fe00:a → stay MASTER",
    given: () => becomeMaster({ family: "inet6", primaryIp: "fe80::ff:fe00:a" }),
    input: advert({ ...adv3(100), addresses: ["2001:db8::1"] }, "fe80::9"),
    now: 4000,
    state: "MASTER",
    actions: [
      { type: "send_advert", priority: 100 },
      { type: "garp", count: 5, reason: "lower_priority" },
    ],
    deadline: 5000,
  },
  {
    name: "IPv4 tie-break compares numerically: 10.0.0.10 > 10.0.0.9",
    given: () => becomeMaster({ primaryIp: "10.0.0.9" }),
    input: advert(adv3(100), "10.0.0.10"),
    now: 4000,
    state: "BACKUP",
    actions: [tr("MASTER", "BACKUP", "equal_priority_higher_ip"), { type: "del_vips" }],
    deadline: 4000 + MD_100,
  },
  {
    name: "INIT ignores adverts and timers",
    given: () => inst(),
    input: advert(adv3(200)),
    now: 10,
    state: "INIT",
    actions: [],
    deadline: null,
  },
  {
    name: "startup twice → the second is ignored",
    given: () => backupAt0(),
    input: START,
    now: 10,
    state: "BACKUP",
    actions: [],
    deadline: MD_100,
  },
  {
    name: "resign as master → priority-0 advert, delete VIPs, BACKUP; its master-down timer only re-arms",
    given: () => becomeMaster(),
    input: { type: "resign" },
    now: 5000,
    state: "BACKUP",
    actions: [tr("MASTER", "BACKUP", "resign"), { type: "send_advert", priority: 0 }, { type: "del_vips" }],
    deadline: 5000 + MD_100,
    extra: (s) => {
      expect(s.resigned).toBe(true);
      // Nobody else speaks: it still does not take over, and stays resigned.
      const later = run(s, [TIMER, 5000 + MD_100], [TIMER, 5000 + 2 * MD_100]);
      expect(later.state.state).toBe("BACKUP");
      expect(later.actions).toEqual([]);
      expect(nextDeadline(later.state)).toBe(5000 + 3 * MD_100);
      // Resumed, it takes over when the running timer fires, as any backup.
      const resumed = run(later.state, [{ type: "resume" }, 5000 + 2 * MD_100 + 1]);
      expect(resumed.state.resigned).toBe(false);
      expect(step(resumed.state, TIMER, 5000 + 3 * MD_100).state.state).toBe("MASTER");
    },
  },
  {
    name: "a resigned owner starts as BACKUP, and a resigned sync member neither wants MASTER nor follows its group there",
    given: () => run(inst({ priority: 255 }), [{ type: "resign" }, 0]).state,
    input: START,
    now: 1,
    state: "BACKUP",
    actions: [tr("INIT", "BACKUP", "startup")],
    // The owner keeps priority 255 (and its short skew): it only does not take over.
    deadline: 1 + 3000 + 1000 / 256,
    extra: (s) => {
      const member = run(s, [{ type: "sync_member", member: true }, 2]).state;
      const fired = step(member, TIMER, nextDeadline(member)!);
      expect(fired.actions).toEqual([]);
      expect(fired.state.wantMaster).toBe(false);
      expect(step(member, { type: "sync_group", to: "MASTER" }, 3).state.state).toBe("BACKUP");
    },
  },
  {
    name: "resign as backup changes no state and sends nothing",
    given: () => backupAt0(),
    input: { type: "resign" },
    now: 100,
    state: "BACKUP",
    actions: [],
    deadline: MD_100,
  },
];

describe("fsm rules (one row per rule)", () => {
  for (const row of rows) {
    it(row.name, () => {
      const r = step(row.given(), row.input, row.now);
      expect(r.state.state).toBe(row.state);
      expect(strip(r.actions)).toEqual(row.actions);
      expect(nextDeadline(r.state)).toBe(row.deadline);
      row.extra?.(r.state);
    });
  }
});

describe("end-to-end rules over several inputs", () => {
  it("preempting backup: lower-priority adverts are ignored so the master-down timer takes over", () => {
    let s = backupAt0({ priority: 200 });
    const md = masterDownIntervalMs(s);
    for (let t = 500; t < md; t += 1000) s = step(s, advert(adv3(100)), t).state;
    expect(nextDeadline(s)).toBe(md);
    const r = step(s, TIMER, md);
    expect(r.state.state).toBe("MASTER");
  });

  it("preempt_delay: takeover from a lower-priority master ≈ delay + Master_Down_Interval after first seeing it", () => {
    let s = backupAt0({ preemptDelayMs: 10_000 });
    let t = 1000;
    // The low-priority master advertises every second, forever.
    while (s.state === "BACKUP") {
      const deadline = nextDeadline(s)!;
      if (deadline <= t) {
        s = step(s, TIMER, deadline).state;
        break;
      }
      s = step(s, advert(adv3(50)), t).state;
      t += 1000;
    }
    expect(s.state).toBe("MASTER");
    // Last accepted advert at 10 000 (before 1000 + 10 000), then Master_Down_Interval.
    expect(s.since).toBe(10_000 + MD_100);
  });

  it("without preempt_delay the same takeover happens one Master_Down_Interval after startup", () => {
    let s = backupAt0();
    for (let t = 1000; t < MD_100; t += 1000) s = step(s, advert(adv3(50)), t).state;
    s = step(s, TIMER, nextDeadline(s)!).state;
    expect(s.state).toBe("MASTER");
    expect(s.since).toBe(MD_100);
  });

  it("address owner becomes master again after being pushed to backup by another owner with a higher IP", () => {
    // Two owners (misconfiguration): ordinary tie-break on primary IP.
    const m = run(inst({ priority: 255 }), [START, 0]).state;
    const b = step(m, advert(adv3(255), "10.0.0.3"), 10).state;
    expect(b.state).toBe("BACKUP");
    // The other owner stops: we take over after master-down.
    const back = step(b, TIMER, nextDeadline(b)!).state;
    expect(back.state).toBe("MASTER");
  });
});

const adverts = (actions: Action[]) => actions.filter((a) => a.type === "send_advert");
it("a master's adverts keep their cadence when the timer fires late, and restart after a stall", () => {
  let s = becomeMaster();
  const first = s.adverAt!;
  // Each timer fires 3 ms late: the deadlines stay on the 1 s grid instead of drifting.
  for (let i = 0; i < 5; i++) {
    const due = s.adverAt!;
    const r = step(s, TIMER, due + 3);
    expect(adverts(r.actions)).toEqual([{ type: "send_advert", priority: 100 }]);
    s = r.state;
    expect(s.adverAt).toBe(due + 1000);
  }
  expect(s.adverAt).toBe(first + 5000);
  // A stall longer than the interval: one advert, then a fresh interval from now (no burst).
  const late = s.adverAt! + 2500;
  const r = step(s, TIMER, late);
  expect(adverts(r.actions)).toEqual([{ type: "send_advert", priority: 100 }]);
  expect(r.state.adverAt).toBe(late + 1000);
});

describe("transition() is the one place a state changes", () => {
  const inputs: fc.Arbitrary<FsmInput> = fc.oneof(
    fc.constant<FsmInput>({ type: "startup" }),
    fc.constant<FsmInput>({ type: "timer" }),
    fc.constant<FsmInput>({ type: "shutdown" }),
    fc.constant<FsmInput>({ type: "fault", reason: "link" }),
    fc.constant<FsmInput>({ type: "fault_cleared" }),
    fc.constant<FsmInput>({ type: "demote", reason: "hb" }),
    fc.constant<FsmInput>({ type: "demote_cleared" }),
    fc.integer({ min: -5, max: 300 }).map<FsmInput>((p) => ({ type: "priority", effectivePriority: p })),
    fc.constantFrom<FsmInput>(
      { type: "sync_group", to: "MASTER" },
      { type: "sync_group", to: "BACKUP" },
      { type: "sync_group", to: "FAULT" },
    ),
    fc
      .record({
        p: fc.integer({ min: 0, max: 255 }),
        ip: fc.integer({ min: 1, max: 5 }),
        cs: fc.integer({ min: 1, max: 300 }),
      })
      .map<FsmInput>(({ p, ip, cs }) => advert(adv3(p, cs), `10.0.0.${ip}`)),
  );

  it("every state change emits exactly one matching transition action; VIPs are held exactly while MASTER", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 255 }),
        fc.boolean(),
        fc.array(fc.tuple(inputs, fc.integer({ min: 0, max: 5000 })), { maxLength: 60 }),
        (priority, preempt, events) => {
          let s = inst({ priority, preempt });
          let now = 0;
          let vips = false;
          const apply = (input: FsmInput) => {
            const r = step(s, input, now);
            const transitions = r.actions.filter((a) => a.type === "transition");
            if (r.state.state !== s.state) {
              expect(transitions).toHaveLength(1);
              expect(transitions[0]).toMatchObject({ from: s.state, to: r.state.state });
              expect(r.actions[0]?.type).toBe("transition");
            } else {
              expect(transitions).toHaveLength(0);
            }
            for (const a of r.actions) {
              if (a.type === "add_vips") {
                expect(vips).toBe(false);
                vips = true;
              }
              if (a.type === "del_vips") {
                expect(vips).toBe(true);
                vips = false;
              }
              if (a.type === "send_advert") expect(a.priority === 0 || r.state.state === "MASTER").toBe(true);
            }
            expect(vips).toBe(r.state.state === "MASTER");
            // One deadline while BACKUP/MASTER, none otherwise, never in the past.
            const d = nextDeadline(r.state);
            if (r.state.state === "BACKUP" || r.state.state === "MASTER") {
              expect(d).not.toBeNull();
              expect(d!).toBeGreaterThan(now);
            } else {
              expect(d).toBeNull();
            }
            expect(r.state.effectivePriority).toBeGreaterThanOrEqual(1);
            expect(r.state.effectivePriority).toBeLessThanOrEqual(255);
            s = r.state;
          };
          for (const [input, dt] of events) {
            const target = now + dt;
            // As the driver does: fire every deadline reached before the next input.
            for (let due = nextDeadline(s); due !== null && due <= target; due = nextDeadline(s)) {
              now = due;
              apply(TIMER);
            }
            now = target;
            apply(input);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it("transition() itself: emits the action first and runs entry/exit work", () => {
    const m = becomeMaster();
    const r = transition(m, "FAULT", "fault", 9000, { resign: true, detail: "eth0 down" });
    expect(r.actions).toEqual([
      { type: "transition", from: "MASTER", to: "FAULT", reason: "fault", detail: "eth0 down" },
      { type: "send_advert", priority: 0 },
      { type: "del_vips" },
    ]);
    expect(r.state.since).toBe(9000);
    expect(nextDeadline(r.state)).toBeNull();
  });
});

describe("config validation", () => {
  const bad: [string, Partial<FsmConfig>][] = [
    ["vrid 0", { vrid: 0 }],
    ["priority 0", { priority: 0 }],
    ["priority 256", { priority: 256 }],
    ["v2 over IPv6", { version: 2, family: "inet6", primaryIp: "fe80::1" }],
    ["v2 with 150 cs", { version: 2, advertIntervalCs: 150 }],
    ["v3 with 0 cs", { advertIntervalCs: 0 }],
    ["v3 with 4096 cs", { advertIntervalCs: 4096 }],
    ["negative preempt delay", { preemptDelayMs: -1 }],
    ["primary IP of the other family", { primaryIp: "fe80::1" }],
    ["primary IP garbage", { primaryIp: "x" }],
    ["negative garp repeat", { garp: { repeat: -1 } }],
  ];
  for (const [name, over] of bad) {
    it(`rejects ${name}`, () => {
      try {
        inst(over);
        expect.unreachable();
      } catch (err) {
        expect(err).toBeInstanceOf(VipdError);
        expect((err as VipdError).code).toBe("VRRP_CONFIG_INVALID");
      }
    });
  }

  it("owner with preempt: false is resolved to preempt: true", () => {
    expect(inst({ priority: 255, preempt: false }).config.preempt).toBe(true);
  });
});

describe("edge cases from the rule-by-rule review", () => {
  it("a priority-0 advert after the backup learned a different interval: Skew_Time of the learned interval", () => {
    // Ours 100 cs; the master advertises 50 cs, then resigns.
    let s = backupAt0();
    s = step(s, advert(adv3(200, 50)), 1000).state;
    expect(s.masterAdverIntervalCs).toBe(50);
    expect(nextDeadline(s)).toBe(1000 + 3 * 500 + (156 * 50 * 10) / 256);
    s = step(s, advert(adv3(0, 50)), 1200).state;
    expect(nextDeadline(s)).toBe(1200 + (156 * 50 * 10) / 256);
    const m = step(s, TIMER, nextDeadline(s)!);
    expect(m.state.state).toBe("MASTER");
  });

  it("preempt_delay counts again from the first lower advert after MASTER→BACKUP", () => {
    let m = becomeMaster({ preemptDelayMs: 5000 });
    // A higher master appears: BACKUP.
    m = step(m, advert(adv3(200)), 5000).state;
    expect(m.state).toBe("BACKUP");
    expect(m.preemptUntil).toBeNull();
    // It later drops to 50: the delay starts at the first such advert.
    let s = step(m, advert(adv3(50)), 6000).state;
    expect(s.preemptUntil).toBe(6000 + 5000);
    s = step(s, advert(adv3(50)), 7000).state;
    expect(s.preemptUntil).toBe(11_000);
    expect(nextDeadline(s)).toBe(7000 + MD_100);
  });

  it("v2: MASTER→BACKUP on a higher advert keeps our own interval, and Skew_Time after priority 0 is (256 − prio)/256 s", () => {
    const v2 = { version: 2 as const, advertIntervalCs: 100 };
    const m = becomeMaster(v2);
    const r = step(m, advert(adv2(200)), 5000);
    expect(strip(r.actions)).toEqual([tr("MASTER", "BACKUP", "higher_priority"), { type: "del_vips" }]);
    expect(r.state.masterAdverIntervalCs).toBe(100);
    expect(nextDeadline(r.state)).toBe(5000 + 3000 + (156 * 1000) / 256);
    const resigned = step(r.state, advert(adv2(0)), 6000).state;
    expect(nextDeadline(resigned)).toBe(6000 + (156 * 1000) / 256);
    expect(skewMs(resigned)).toBe((156 * 1000) / 256);
  });

  it("an address owner whose weight-0 tracked link goes down goes to FAULT (resigning), and back to MASTER", () => {
    const m = run(inst({ priority: 255 }), [START, 0]).state;
    expect(m.state).toBe("MASTER");
    const f = step(m, { type: "fault", reason: "tracked interface eth1 is down (weight 0)" }, 100);
    expect(strip(f.actions)).toEqual([
      tr("MASTER", "FAULT", "fault"),
      { type: "send_advert", priority: 0 },
      { type: "del_vips" },
    ]);
    const back = step(f.state, { type: "fault_cleared" }, 200);
    expect(back.state.state).toBe("MASTER");
    expect(strip(back.actions)[0]).toEqual(tr("FAULT", "MASTER", "fault_cleared"));
  });

  it("a sync member that wants MASTER withdraws the wish on hearing a master, and keeps its timer armed", () => {
    let s = run(backupAt0(), [{ type: "sync_member", member: true }, 0]).state;
    const r = step(s, TIMER, nextDeadline(s)!);
    expect(r.actions).toEqual([{ type: "want_master" }]);
    expect(r.state.state).toBe("BACKUP");
    expect(r.state.wantMaster).toBe(true);
    expect(nextDeadline(r.state)).toBe(MD_100 + MD_100);
    s = step(r.state, advert(adv3(200)), MD_100 + 10).state;
    expect(s.wantMaster).toBe(false);
    // Leaving the group clears it too.
    const again = step(s, TIMER, nextDeadline(s)!).state;
    expect(again.state).toBe("BACKUP");
    expect(step(again, { type: "sync_member", member: false }, nextDeadline(s)! + 1).state.wantMaster).toBe(
      false,
    );
  });
});
