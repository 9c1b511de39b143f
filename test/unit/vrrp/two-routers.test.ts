/**
 * Two routers, several segments: VrrpInstance drivers (the real driver, the real SyncGroup and
 * Tracker) on one fake clock, adverts carried between them as real bytes (encodeAdvert → an
 * IPv4 packet → VrrpInstance.receive), with loss per segment. One router at a time cannot show
 * what goes wrong here: a group that a partition on one segment splits between two routers.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { IpPrefix, VrrpInstanceConfig } from "../../../src/config/types.js";
import { VrrpInstance } from "../../../src/vrrp/instance.js";
import { encodeAdvert, VRRP_MCAST_V4, type VrrpAdvert } from "../../../src/vrrp/packet.js";
import { SyncGroup } from "../../../src/vrrp/sync-group.js";
import { type TrackedLink, Tracker } from "../../../src/vrrp/tracking.js";
import { captureLogger, FakeClock, instanceConfig, ipv4Packet, prefix, rx4 } from "./driver-fakes.js";

const ADVERT_MS = 100;
const LATENCY_MS = 1;
const STEP_MS = 10;
/** Master_Down_Interval at 100 ms adverts is 300 ms + Skew_Time (< 100 ms). */
const MASTER_DOWN_MAX_MS = 3 * ADVERT_MS + ADVERT_MS;

interface RouterSpec {
  name: string;
  /** Host part of its addresses: 10.0.SEG.HOST. */
  host: number;
  /** Priority per segment. */
  priorities: number[];
  group?: boolean;
  /** Extra config per segment (tracking...). */
  config?: (seg: number) => Partial<VrrpInstanceConfig>;
}

class Router {
  readonly instances: VrrpInstance[] = [];
  readonly vips: Set<string>[] = [];
  group: SyncGroup | undefined;
  transitions: { at: number; seg: number; from: string; to: string; reason: string }[] = [];
  constructor(readonly spec: RouterSpec) {}
  address(seg: number): string {
    return `10.0.${seg}.${this.spec.host}`;
  }
}

class Network {
  readonly clock = new FakeClock();
  readonly routers: Router[] = [];
  /** Segments on which adverts between the routers are lost. */
  readonly lost = new Set<number>();
  /** Per sample: for each segment, the routers holding its VIP. */
  readonly samples: { t: number; holders: string[][] }[] = [];
  private readonly log = captureLogger().log;

  constructor(readonly segments: number) {}

  add(spec: RouterSpec): Router {
    const r = new Router(spec);
    for (let seg = 0; seg < this.segments; seg++) {
      const vips = new Set<string>();
      r.vips.push(vips);
      const inst = new VrrpInstance({
        config: instanceConfig({
          name: `seg${seg}`,
          interface: `eth${seg}`,
          vrid: 51 + seg,
          priority: spec.priorities[seg] ?? 100,
          virtualIps: [prefix(`10.0.${seg}.100/24`)],
          ...spec.config?.(seg),
        }),
        primaryIp: r.address(seg),
        io: {
          sendAdvert: (advert, source) => this.send(r, seg, advert, source),
          addVips: async (v: readonly IpPrefix[]) => {
            for (const p of v) vips.add(p.address);
          },
          delVips: async (v: readonly IpPrefix[]) => {
            for (const p of v) vips.delete(p.address);
            return [...v];
          },
          announce: () => {},
        },
        clock: this.clock,
        log: this.log,
      });
      inst.on("transition", (e) => {
        r.transitions.push({ at: this.clock.now(), seg, from: e.from, to: e.to, reason: e.reason });
        r.group?.onTransition(inst, e);
      });
      inst.on("want_master", () => r.group?.onWantMaster(inst));
      r.instances.push(inst);
    }
    if (spec.group) r.group = new SyncGroup(`${spec.name}-g`, r.instances, this.log);
    this.routers.push(r);
    return r;
  }

  async start(): Promise<void> {
    for (const r of this.routers) {
      r.group?.reconcile();
      for (const i of r.instances) await i.start();
    }
  }

  private send(from: Router, seg: number, advert: VrrpAdvert, source: string): void {
    const payload = encodeAdvert(advert, { family: "inet", src: source, dst: VRRP_MCAST_V4 });
    const packet = ipv4Packet(source, VRRP_MCAST_V4, 255, payload);
    for (const to of this.routers) {
      if (to === from) continue;
      // Loss is decided at sending time: what is on the wire when a link heals still arrives.
      if (this.lost.has(seg)) continue;
      this.clock.setTimer(LATENCY_MS, () => to.instances[seg]?.receive(rx4(Buffer.from(packet))));
    }
  }

  /** Runs for `ms`, sampling who holds each segment's VIP (by VRRP state) every step. */
  run(ms: number): void {
    for (let t = 0; t < ms; t += STEP_MS) {
      this.clock.advance(STEP_MS);
      this.samples.push({ t: this.clock.now(), holders: this.holders() });
    }
  }

  holders(): string[][] {
    const out: string[][] = [];
    for (let seg = 0; seg < this.segments; seg++) {
      out.push(this.routers.filter((r) => r.instances[seg]?.state === "MASTER").map((r) => r.spec.name));
    }
    return out;
  }

  states(r: Router): string[] {
    return r.instances.map((i) => i.state);
  }

  transitionsSince(t: number): number {
    return this.routers.reduce((n, r) => n + r.transitions.filter((x) => x.at > t).length, 0);
  }
}

describe("two routers, a sync group on two segments", () => {
  it("adverts lost on one segment only: the backup router stays BACKUP on both, nobody flaps", async () => {
    const net = new Network(2);
    const a = net.add({ name: "A", host: 1, priorities: [200, 200], group: true });
    const b = net.add({ name: "B", host: 2, priorities: [100, 100], group: true });
    await net.start();
    net.run(3000);
    expect(net.holders()).toEqual([["A"], ["A"]]);

    net.lost.add(1);
    const from = net.clock.now();
    net.run(60_000);
    // Before the fix, B's seg1 master-down timer took the whole group to MASTER every ~3.6 s.
    expect(net.transitionsSince(from)).toBe(0);
    expect(net.states(b)).toEqual(["BACKUP", "BACKUP"]);
    expect(net.states(a)).toEqual(["MASTER", "MASTER"]);
    expect(net.samples.filter((s) => s.t > from).every((s) => s.holders[0]?.length === 1)).toBe(true);
    // B does want seg1 (it hears nobody there), but its seg0 member hears A.
    expect(b.instances.map((i) => i.wantsMaster)).toEqual([false, true]);

    net.lost.delete(1);
    net.run(2000);
    expect(b.instances.map((i) => i.wantsMaster)).toEqual([false, false]);
    expect(net.holders()).toEqual([["A"], ["A"]]);
  });

  it("the master router dies: the group on the other router takes both segments together", async () => {
    const net = new Network(2);
    const a = net.add({ name: "A", host: 1, priorities: [200, 200], group: true });
    const b = net.add({ name: "B", host: 2, priorities: [100, 100], group: true });
    await net.start();
    net.run(3000);
    net.lost.add(0);
    net.lost.add(1);
    for (const i of a.instances) await i.stop();
    net.run(1000);
    expect(net.states(b)).toEqual(["MASTER", "MASTER"]);
    expect(b.transitions.map((t) => `${t.seg}:${t.from}→${t.to}:${t.reason}`)).toEqual([
      "0:INIT→BACKUP:startup",
      "1:INIT→BACKUP:startup",
      "0:BACKUP→MASTER:sync_group",
      "1:BACKUP→MASTER:sync_group",
    ]);
  });

  it("a weighted tracked interface going down on one member is a FAULT of the group, not a flapping priority drop", async () => {
    const net = new Network(2);
    const links = (eth9Up: boolean): TrackedLink[] => [
      { name: "eth0", ifindex: 1, up: true, running: true },
      { name: "eth1", ifindex: 2, up: true, running: true },
      { name: "eth9", ifindex: 9, up: eth9Up, running: eth9Up },
    ];
    const a = net.add({
      name: "A",
      host: 1,
      priorities: [200, 200],
      group: true,
      config: (seg) => (seg === 0 ? { trackInterfaces: [{ name: "eth9", weight: -150 }] } : {}),
    });
    const b = net.add({ name: "B", host: 2, priorities: [100, 100], group: true });
    await net.start();
    net.run(3000);
    // What the worker does for a member of a group without tracking_weight.
    const tracker = new Tracker({ ...a.instances[0]!.config, weightsAreFaults: true });
    tracker.setLinks(links(false));
    a.instances[0]!.updateHealth(tracker.result());
    a.group?.reconcile();
    const from = net.clock.now();
    net.run(60_000);
    expect(net.states(a)).toEqual(["FAULT", "FAULT"]);
    expect(net.states(b)).toEqual(["MASTER", "MASTER"]);
    // Settled within a master-down interval; then nothing moves.
    expect(net.transitionsSince(from + MASTER_DOWN_MAX_MS)).toBe(0);
    expect(tracker.result().fault).toBe(
      "tracked interface eth9 is down (weight -150 counts as 0 in a sync group)",
    );

    tracker.setLinks(links(true));
    a.instances[0]!.updateHealth(tracker.result());
    a.group?.reconcile();
    net.run(3000);
    expect(net.holders()).toEqual([["A"], ["A"]]);
  });
});

describe("two routers, one segment", () => {
  it("split brain at equal priority heals to one master (the higher address) within an advert interval", async () => {
    const net = new Network(1);
    net.add({ name: "A", host: 1, priorities: [100] });
    net.add({ name: "B", host: 2, priorities: [100] });
    await net.start();
    net.run(3000);
    net.lost.add(0);
    net.run(3000);
    expect(net.holders()).toEqual([["A", "B"]]);
    net.lost.delete(0);
    net.run(ADVERT_MS + 2 * LATENCY_MS + STEP_MS);
    expect(net.holders()).toEqual([["B"]]);
    net.run(5000);
    expect(net.holders()).toEqual([["B"]]);
  });
});

describe("two routers, tracking lowers the master below the backup", () => {
  it("the master says so at once and the preempting backup takes over after its Skew_Time", async () => {
    const net = new Network(1);
    const a = net.add({ name: "A", host: 1, priorities: [150] });
    const b = net.add({ name: "B", host: 2, priorities: [100] });
    await net.start();
    net.run(3000);
    expect(net.holders()).toEqual([["A"]]);
    const at = net.clock.now();
    a.instances[0]!.updateHealth({ fault: null, priority: 50 });
    // Skew_Time at priority 100 and 100 ms adverts is 61 ms; a whole Master_Down_Interval is 361.
    net.run(100);
    expect(net.holders()).toEqual([["B"]]);
    const takeover = b.transitions.find((t) => t.to === "MASTER");
    expect(takeover!.at - at).toBeLessThan(100);
    expect(a.transitions.at(-1)).toMatchObject({ from: "MASTER", to: "BACKUP", reason: "higher_priority" });
  });
});

describe("property: after any partition heals, no VIP stays on two routers past Master_Down_Interval", () => {
  const routerArb = fc.record({
    priorities: fc.tuple(fc.constantFrom(100, 150, 200), fc.constantFrom(100, 150, 200)),
  });
  const lossArb = fc.record({
    seg: fc.integer({ min: 0, max: 1 }),
    startMs: fc.integer({ min: 0, max: 20_000 }),
    durationMs: fc.integer({ min: 0, max: 8000 }),
  });

  it("holds with and without sync groups, for random priorities and loss schedules", async () => {
    await fc.assert(
      fc.asyncProperty(
        routerArb,
        routerArb,
        fc.boolean(),
        fc.array(lossArb, { maxLength: 5 }),
        async (ra, rb, grouped, losses) => {
          // Groups whose routers win different segments (A by priority on one, B by priority or
          // by its higher address on the other) have no stable state: each router's group goes
          // MASTER, loses one segment and steps down whole, in lockstep. That is a
          // misconfiguration of the pair (see docs/vrrp.md), not something a partition causes.
          const winner = (seg: 0 | 1) => (ra.priorities[seg] > rb.priorities[seg] ? "A" : "B");
          fc.pre(!grouped || winner(0) === winner(1));
          const net = new Network(2);
          net.add({ name: "A", host: 1, priorities: ra.priorities, group: grouped });
          net.add({ name: "B", host: 2, priorities: rb.priorities, group: grouped });
          await net.start();
          const lastHeal = [Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY];
          const t0 = net.clock.now();
          const endMs = 30_000;
          for (let t = 0; t < endMs; t += STEP_MS) {
            for (let seg = 0; seg < 2; seg++) {
              const lostNow = losses.some(
                (l) => l.seg === seg && t >= l.startMs && t < l.startMs + l.durationMs,
              );
              if (lostNow) net.lost.add(seg);
              else if (net.lost.delete(seg)) lastHeal[seg] = t0 + t;
            }
            net.run(STEP_MS);
            const now = net.clock.now();
            const holders = net.holders();
            for (let seg = 0; seg < 2; seg++) {
              if ((holders[seg]?.length ?? 0) < 2 || net.lost.has(seg)) continue;
              // Healthy segment with two masters: only just after a heal (or the start).
              const since = Math.max(lastHeal[seg] as number, t0);
              expect({ seg, holders: holders[seg], late: now - since > MASTER_DOWN_MAX_MS }).toEqual({
                seg,
                holders: holders[seg],
                late: false,
              });
            }
          }
        },
      ),
      { numRuns: 60 },
    );
  }, 120_000);
});
