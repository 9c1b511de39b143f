import fc from "fast-check";
import { describe, expect, it } from "vitest";
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
} from "../../../src/vrrp/fsm.js";
import {
  compareIp,
  encodeAdvert,
  type IpFamily,
  VRRP_MCAST_V4,
  VRRP_MCAST_V6,
  validateAdvert,
} from "../../../src/vrrp/packet.js";

/**
 * A simulated segment: VRRP routers running the pure FSM, a simulated clock, and adverts
 * carried as real bytes (encodeAdvert → validateAdvert) with a fixed latency.
 */
interface Node {
  name: string;
  s: InstanceState;
  vips: boolean;
  /** Crashed: neither sends nor receives nor runs timers (power cut, not a clean stop). */
  dead: boolean;
}

interface Packet {
  at: number;
  seq: number;
  to: Node;
  from: Node;
  bytes: Buffer;
}

interface Sample {
  t: number;
  masters: string[];
  vipHolders: string[];
}

class Segment {
  now = 0;
  private seq = 0;
  readonly nodes: Node[] = [];
  private packets: Packet[] = [];
  readonly samples: Sample[] = [];
  /** Every transition any node made: [time, node, to]. */
  readonly transitions: [number, string, string][] = [];

  constructor(
    readonly family: IpFamily = "inet",
    readonly latencyMs = 1,
  ) {}

  add(name: string, config: Partial<FsmConfig> & { primaryIp: string }): Node {
    const node: Node = {
      name,
      s: createInstance({
        vrid: 51,
        version: 3,
        family: this.family,
        priority: 100,
        advertIntervalCs: 100,
        preempt: true,
        preemptDelayMs: 0,
        ...config,
      }),
      vips: false,
      dead: false,
    };
    this.nodes.push(node);
    return node;
  }

  input(node: Node, input: FsmInput): void {
    const r = step(node.s, input, this.now);
    node.s = r.state;
    this.run(node, r.actions);
    this.sample();
  }

  kill(node: Node): void {
    node.dead = true;
    // Its VIPs vanish with it as far as the segment is concerned.
    node.vips = false;
    this.sample();
  }

  private run(node: Node, actions: Action[]): void {
    for (const a of actions) {
      switch (a.type) {
        case "transition":
          this.transitions.push([this.now, node.name, a.to]);
          break;
        case "add_vips":
          expect(node.vips).toBe(false);
          node.vips = true;
          break;
        case "del_vips":
          expect(node.vips).toBe(true);
          node.vips = false;
          break;
        case "send_advert": {
          const { config } = node.s;
          const dst = this.family === "inet" ? VRRP_MCAST_V4 : VRRP_MCAST_V6;
          const bytes = encodeAdvert(
            config.version === 2
              ? {
                  version: 2,
                  vrid: config.vrid,
                  priority: a.priority,
                  advertIntervalS: config.advertIntervalCs / 100,
                  addresses: ["10.0.0.100"],
                }
              : {
                  version: 3,
                  vrid: config.vrid,
                  priority: a.priority,
                  maxAdvertIntervalCs: config.advertIntervalCs,
                  addresses: [this.family === "inet" ? "10.0.0.100" : "2001:db8::100"],
                },
            { family: this.family, src: config.primaryIp, dst },
          );
          for (const to of this.nodes) {
            if (to !== node)
              this.packets.push({ at: this.now + this.latencyMs, seq: this.seq++, to, from: node, bytes });
          }
          break;
        }
        case "garp":
          break;
      }
    }
  }

  private sample(): void {
    const alive = this.nodes.filter((n) => !n.dead);
    this.samples.push({
      t: this.now,
      masters: alive.filter((n) => n.s.state === "MASTER").map((n) => n.name),
      vipHolders: alive.filter((n) => n.vips).map((n) => n.name),
    });
  }

  /** Runs every packet delivery and timer up to and including `until`. */
  runUntil(until: number): void {
    for (let guard = 0; guard < 1_000_000; guard++) {
      this.packets.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const pkt = this.packets[0];
      let timerNode: Node | undefined;
      let timerAt = Number.POSITIVE_INFINITY;
      for (const n of this.nodes) {
        const d = n.dead ? null : nextDeadline(n.s);
        if (d !== null && d < timerAt) {
          timerAt = d;
          timerNode = n;
        }
      }
      const pktAt = pkt ? pkt.at : Number.POSITIVE_INFINITY;
      const at = Math.min(pktAt, timerAt);
      if (at > until) {
        this.now = until;
        return;
      }
      this.now = at;
      if (pkt && pktAt <= timerAt) {
        this.packets.shift();
        if (pkt.to.dead) continue;
        const { config } = pkt.to.s;
        const r = validateAdvert(
          {
            family: this.family,
            ttlOrHopLimit: 255,
            src: pkt.from.s.config.primaryIp,
            dst: this.family === "inet" ? VRRP_MCAST_V4 : VRRP_MCAST_V6,
            payload: pkt.bytes,
          },
          {
            version: config.version,
            vrid: config.vrid,
            family: this.family,
            advertIntervalCs: config.advertIntervalCs,
          },
        );
        if (!r.ok) throw new Error(`simulated advert dropped: ${r.reason} ${r.detail}`);
        this.input(pkt.to, { type: "advert", advert: r.advert, src: r.advert.src });
      } else {
        this.input(timerNode!, { type: "timer" });
      }
    }
    throw new Error("simulation did not settle");
  }

  /** The samples strictly after time `from`. */
  since(from: number): Sample[] {
    return this.samples.filter((s) => s.t > from);
  }

  /** Time of the last state change on the segment (convergence). */
  lastTransition(): number {
    return Math.max(...this.transitions.map(([t]) => t));
  }
}

/** After `from`: exactly one master and it alone holds the VIPs, at every event. */
function expectOneMaster(seg: Segment, from: number, who?: string): void {
  const bad = seg
    .since(from)
    .filter((s) => s.masters.length !== 1 || s.vipHolders.join() !== s.masters.join());
  expect(bad).toEqual([]);
  if (who) expect(seg.since(from).every((s) => s.masters[0] === who)).toBe(true);
}

describe("two routers on a simulated segment", () => {
  it("converge to the higher priority, then exactly one master at all times", () => {
    const seg = new Segment();
    const a = seg.add("a", { priority: 150, primaryIp: "10.0.0.1" });
    const b = seg.add("b", { priority: 100, primaryIp: "10.0.0.2" });
    seg.input(a, { type: "startup" });
    seg.input(b, { type: "startup" });
    seg.runUntil(60_000);
    expect(a.s.state).toBe("MASTER");
    expect(b.s.state).toBe("BACKUP");
    // a: Master_Down = 3000 + 106·1000/256 ms after startup.
    expect(a.s.since).toBe(3000 + (106 * 1000) / 256);
    expectOneMaster(seg, a.s.since!, "a");
  });

  it("the backup takes over within Master_Down_Interval when the master stops sending", () => {
    const seg = new Segment();
    const a = seg.add("a", { priority: 150, primaryIp: "10.0.0.1" });
    const b = seg.add("b", { priority: 100, primaryIp: "10.0.0.2" });
    seg.input(a, { type: "startup" });
    seg.input(b, { type: "startup" });
    seg.runUntil(20_000);
    expectOneMaster(seg, 5000, "a");
    const crash = 20_000.5;
    seg.runUntil(crash);
    seg.kill(a);
    seg.runUntil(40_000);
    expect(b.s.state).toBe("MASTER");
    const took = b.s.since! - crash;
    const md = masterDownIntervalMs(b.s);
    // b last heard a at most one advert interval before the crash.
    expect(took).toBeLessThanOrEqual(md);
    expect(took).toBeGreaterThan(md - 1000);
    expectOneMaster(seg, b.s.since!, "b");
    // No instant with no VIP holder other than the takeover gap.
    const gap = seg.since(crash).filter((s) => s.vipHolders.length === 0);
    expect(gap.every((s) => s.t < b.s.since!)).toBe(true);
  });

  it("a master that stops cleanly (priority 0) hands over after latency + Skew_Time", () => {
    const seg = new Segment();
    const a = seg.add("a", { priority: 150, primaryIp: "10.0.0.1" });
    const b = seg.add("b", { priority: 100, primaryIp: "10.0.0.2" });
    seg.input(a, { type: "startup" });
    seg.input(b, { type: "startup" });
    seg.runUntil(10_000);
    seg.input(a, { type: "shutdown" });
    expect(a.s.state).toBe("INIT");
    expect(a.vips).toBe(false);
    seg.runUntil(20_000);
    expect(b.s.state).toBe("MASTER");
    expect(b.s.since).toBe(10_000 + seg.latencyMs + skewMs(b.s)); // 609.375 ms skew at priority 100
    expect(b.s.since! - 10_000).toBeLessThan(masterDownIntervalMs(b.s) / 5);
  });

  it("preempt on: a higher-priority router started later takes over; the old master steps down", () => {
    const seg = new Segment();
    const low = seg.add("low", { priority: 100, primaryIp: "10.0.0.1" });
    const high = seg.add("high", { priority: 200, primaryIp: "10.0.0.2" });
    seg.input(low, { type: "startup" });
    seg.runUntil(10_000);
    expect(low.s.state).toBe("MASTER");
    seg.input(high, { type: "startup" });
    seg.runUntil(30_000);
    expect(high.s.state).toBe("MASTER");
    expect(low.s.state).toBe("BACKUP");
    // high ignored low's adverts and took over when its own master-down timer ran out.
    expect(high.s.since).toBe(10_000 + 3000 + (56 * 1000) / 256);
    // The handover overlap lasts one latency (low steps down when high's first advert arrives).
    expectOneMaster(seg, high.s.since! + seg.latencyMs, "high");
  });

  it("preempt off: a higher-priority router started later stays backup", () => {
    const seg = new Segment();
    const low = seg.add("low", { priority: 100, primaryIp: "10.0.0.1" });
    const high = seg.add("high", { priority: 200, primaryIp: "10.0.0.2", preempt: false });
    seg.input(low, { type: "startup" });
    seg.runUntil(10_000);
    seg.input(high, { type: "startup" });
    seg.runUntil(60_000);
    expect(low.s.state).toBe("MASTER");
    expect(high.s.state).toBe("BACKUP");
    expectOneMaster(seg, 5000, "low");
    // ... until the master goes away.
    seg.input(low, { type: "shutdown" });
    seg.runUntil(70_000);
    expect(high.s.state).toBe("MASTER");
  });

  it("preempt_delay: the higher-priority router waits the delay before taking over", () => {
    const seg = new Segment();
    const low = seg.add("low", { priority: 100, primaryIp: "10.0.0.1" });
    const high = seg.add("high", { priority: 200, primaryIp: "10.0.0.2", preemptDelayMs: 30_000 });
    seg.input(low, { type: "startup" });
    seg.runUntil(10_000);
    seg.input(high, { type: "startup" });
    seg.runUntil(100_000);
    expect(high.s.state).toBe("MASTER");
    const md = 3000 + (56 * 1000) / 256;
    // First low advert seen shortly after 10 000; accepted for 30 s; then master-down.
    expect(high.s.since!).toBeGreaterThan(10_000 + 30_000 + md - 1000);
    expect(high.s.since!).toBeLessThanOrEqual(10_000 + 1000 + 30_000 + md);
    expectOneMaster(seg, high.s.since! + seg.latencyMs, "high");
  });

  it("a master whose tracked priority drops below the backup's loses the VIPs to it", () => {
    const seg = new Segment();
    const a = seg.add("a", { priority: 150, primaryIp: "10.0.0.1" });
    const b = seg.add("b", { priority: 100, primaryIp: "10.0.0.2" });
    seg.input(a, { type: "startup" });
    seg.input(b, { type: "startup" });
    seg.runUntil(10_000);
    seg.input(a, { type: "priority", effectivePriority: 50 });
    seg.runUntil(30_000);
    expect(b.s.state).toBe("MASTER");
    expect(a.s.state).toBe("BACKUP");
    expectOneMaster(seg, b.s.since! + seg.latencyMs, "b");
  });

  it("IPv6, equal priorities started together: the higher link-local address wins", () => {
    const seg = new Segment("inet6");
    const a = seg.add("a", { priority: 100, primaryIp: "fe80::ff:fe00:b" });
    const b = seg.add("b", { priority: 100, primaryIp: "fe80::ff:fe00:a" });
    seg.input(a, { type: "startup" });
    seg.input(b, { type: "startup" });
    seg.runUntil(30_000);
    expect(a.s.state).toBe("MASTER");
    expect(b.s.state).toBe("BACKUP");
  });
});

describe("convergence property (fast-check)", () => {
  const family = fc.constantFrom<IpFamily>("inet", "inet6");
  /** IPv4 addresses, or IPv6 link-local addresses (what VRRPv3 sends from). */
  const ipFor = (f: IpFamily) =>
    f === "inet"
      ? fc.ipV4()
      : fc
          .array(fc.integer({ min: 0, max: 0xffff }), { minLength: 4, maxLength: 4 })
          .map((w) => `fe80::${w.map((x) => x.toString(16)).join(":")}`);

  it("two routers started together converge to the higher priority (tie: higher primary IP), one master after", () => {
    fc.assert(
      fc.property(
        family.chain((f) =>
          fc.record({
            f: fc.constant(f),
            pa: fc.integer({ min: 1, max: 255 }),
            pb: fc.integer({ min: 1, max: 255 }),
            ipa: ipFor(f),
            ipb: ipFor(f),
            cs: fc.integer({ min: 1, max: 300 }),
            version: f === "inet" ? fc.constantFrom<2 | 3>(2, 3) : fc.constant<3>(3),
          }),
        ),
        ({ f, pa, pb, ipa, ipb, cs, version }) => {
          fc.pre(compareIp(ipa, ipb) !== 0);
          const seg = new Segment(f);
          const adv = version === 2 ? Math.max(1, Math.round(cs / 100)) * 100 : cs;
          const a = seg.add("a", { priority: pa, primaryIp: ipa, version, advertIntervalCs: adv });
          const b = seg.add("b", { priority: pb, primaryIp: ipb, version, advertIntervalCs: adv });
          seg.input(a, { type: "startup" });
          seg.input(b, { type: "startup" });
          const horizon = 20 * adv * 10 + 5000;
          seg.runUntil(horizon);
          const want = pa > pb || (pa === pb && compareIp(ipa, ipb) > 0) ? "a" : "b";
          expect({ a: a.s.state, b: b.s.state }).toEqual(
            want === "a" ? { a: "MASTER", b: "BACKUP" } : { a: "BACKUP", b: "MASTER" },
          );
          // Converged well before the horizon, and one master at every event after that.
          expect(seg.lastTransition()).toBeLessThan(horizon / 2);
          expectOneMaster(seg, seg.lastTransition(), want);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("with random start times and distinct priorities (preempt on) the higher priority ends up master", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 254 }),
        fc.integer({ min: 1, max: 254 }),
        fc.integer({ min: 0, max: 20_000 }),
        fc.integer({ min: 1, max: 200 }),
        fc.boolean(),
        (pa, pb, delay, cs, aFirst) => {
          fc.pre(pa !== pb);
          const seg = new Segment();
          const a = seg.add("a", { priority: pa, primaryIp: "10.0.0.1", advertIntervalCs: cs });
          const b = seg.add("b", { priority: pb, primaryIp: "10.0.0.2", advertIntervalCs: cs });
          seg.input(aFirst ? a : b, { type: "startup" });
          seg.runUntil(delay);
          seg.input(aFirst ? b : a, { type: "startup" });
          seg.runUntil(delay + 10 * cs * 10 + 5000);
          const winner = pa > pb ? a : b;
          const loser = pa > pb ? b : a;
          expect(winner.s.state).toBe("MASTER");
          expect(loser.s.state).toBe("BACKUP");
          expect(seg.lastTransition()).toBeLessThan(delay + 5 * cs * 10 + 5000);
          expectOneMaster(seg, seg.lastTransition(), winner.name);
        },
      ),
      { numRuns: 200 },
    );
  });
});
