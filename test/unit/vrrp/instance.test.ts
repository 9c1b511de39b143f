import { describe, expect, it } from "vitest";
import type { VrrpInstanceConfig } from "../../../src/config/types.js";
import { passwordAuthData } from "../../../src/vrrp/auth.js";
import { type TransitionEvent, VrrpInstance } from "../../../src/vrrp/instance.js";
import { encodeAdvert, VRRP_MCAST_V4, type VrrpAdvert } from "../../../src/vrrp/packet.js";
import {
  captureLogger,
  FakeClock,
  FakeIo,
  flush,
  instanceConfig,
  ipv4Packet,
  prefix,
  rx4,
  rx6,
  v4Advert,
} from "./driver-fakes.js";

/** v3, priority 100, 100 ms adverts: Skew = 156·10/256 cs, Master_Down = 300 ms + Skew. */
const SKEW_100 = 60.9375;
const MD_100 = 300 + SKEW_100;

function setup(
  over: Partial<VrrpInstanceConfig> = {},
  opts: { primaryIp?: string | null; present?: string[] } = {},
) {
  const clock = new FakeClock();
  const io = new FakeIo(clock, opts.present);
  const { log, lines } = captureLogger();
  const inst = new VrrpInstance({
    config: instanceConfig(over),
    primaryIp: opts.primaryIp === undefined ? "10.0.0.2" : opts.primaryIp,
    io,
    clock,
    wallClock: () => 1_700_000_000_000 + clock.now(),
    log,
  });
  const events: TransitionEvent[] = [];
  inst.on("transition", (e) => events.push(e));
  const path = () => events.map((e) => `${e.from}→${e.to}:${e.reason}`);
  return { clock, io, inst, events, lines, path };
}

async function master(s: ReturnType<typeof setup>): Promise<void> {
  await s.inst.start();
  s.clock.advance(MD_100 + 1);
  await flush();
  expect(s.inst.state).toBe("MASTER");
}

describe("VrrpInstance: startup", () => {
  it("removes leftover VIPs before joining as BACKUP", async () => {
    const s = setup({}, { present: ["10.0.0.100/24"] });
    await s.inst.start();
    expect(s.io.ops).toEqual(["del 10.0.0.100/24"]);
    expect(s.path()).toEqual(["INIT→BACKUP:startup"]);
    expect(s.lines.find((l) => l.event === "vrrp.leftover_vips")).toMatchObject({ vips: ["10.0.0.100/24"] });
  });

  it("goes MASTER after Master_Down_Interval when no one else speaks, and arms one timer", async () => {
    const s = setup();
    await s.inst.start();
    expect(s.clock.timers.size).toBe(1);
    expect(s.clock.next()).toBe(s.clock.t + MD_100);
    s.clock.advance(MD_100 - 1);
    expect(s.inst.state).toBe("BACKUP");
    s.clock.advance(1);
    expect(s.inst.state).toBe("MASTER");
    expect(s.events.at(-1)).toMatchObject({
      from: "BACKUP",
      to: "MASTER",
      reason: "master_down",
      priority: 100,
    });
    // The first advert goes out synchronously, in the same step.
    expect(s.io.sent).toHaveLength(1);
    await flush();
    // VIPs first, then their announcement (GARP needs the address in place).
    expect(s.io.ops).toEqual(["add 10.0.0.100/24", "announce 10.0.0.100/24 x5"]);
    expect(s.clock.maxArmed).toBe(1);
  });

  it("an address owner (priority 255) is MASTER at once", async () => {
    const s = setup({ priority: 255 });
    await s.inst.start();
    expect(s.path()).toEqual(["INIT→MASTER:startup_owner"]);
    expect(s.io.priorities()).toEqual([255]);
  });

  it("without a source address it holds in FAULT and joins once one appears", async () => {
    const s = setup({}, { primaryIp: null });
    await s.inst.start();
    expect(s.inst.state).toBe("FAULT");
    expect(s.events[0]?.detail).toBe("no IPv4 address on eth0 to send adverts from");
    expect(s.clock.timers.size).toBe(0);
    s.inst.setPrimaryIp("10.0.0.2");
    expect(s.path()).toEqual(["INIT→FAULT:startup_fault", "FAULT→BACKUP:fault_cleared"]);
    expect(s.inst.fsmState.config.primaryIp).toBe("10.0.0.2");
  });
});

describe("VrrpInstance: as master", () => {
  it("advertises every interval from its primary address with its VIPs", async () => {
    const s = setup();
    await master(s);
    const before = s.io.sent.length;
    s.clock.advance(1000);
    expect(s.io.sent.length - before).toBe(10);
    const a = s.io.sent.at(-1)!;
    expect(a.source).toBe("10.0.0.2");
    expect(a.advert).toEqual({
      version: 3,
      vrid: 51,
      priority: 100,
      maxAdvertIntervalCs: 10,
      addresses: ["10.0.0.100"],
    } satisfies VrrpAdvert);
    expect(s.clock.maxArmed).toBe(1);
  });

  it("VRRPv2 adverts carry the interval in seconds", async () => {
    const s = setup({ version: 2, advertIntervalMs: 1000 });
    await s.inst.start();
    s.clock.advance(3 * 1000 + 1000);
    expect(s.inst.state).toBe("MASTER");
    expect(s.io.sent[0]?.advert).toMatchObject({ version: 2, advertIntervalS: 1 });
  });

  it("VRRPv2 with a simple password sends it, drops adverts with another one and never shows it", async () => {
    const s = setup({ version: 2, advertIntervalMs: 1000, authentication: { type: "pass", password: "pw" } });
    await s.inst.start();
    const otherPassword = (password: string, priority: number) => {
      const payload = encodeAdvert(
        {
          version: 2,
          vrid: 51,
          priority,
          advertIntervalS: 1,
          addresses: ["10.0.0.100"],
          authData: passwordAuthData(password),
        },
        { family: "inet", src: "10.0.0.9", dst: VRRP_MCAST_V4 },
      );
      return rx4(ipv4Packet("10.0.0.9", VRRP_MCAST_V4, 255, payload));
    };
    // A higher priority with the wrong password must not hold this node back.
    s.inst.receive(otherPassword("nope", 200));
    expect(s.inst.status().drops.auth).toBe(1);
    s.clock.advance(4000);
    expect(s.inst.state).toBe("MASTER");
    const sent = s.io.sent[0]?.advert;
    expect(sent?.version === 2 && Buffer.from(sent.authData ?? []).toString("hex")).toBe("7077000000000000");
    // The right password is heard: a higher priority takes over.
    s.inst.receive(otherPassword("pw", 200));
    expect(s.inst.state).toBe("BACKUP");
    expect(s.inst.status().drops.auth).toBe(1);
    expect(JSON.stringify(s.inst.status())).not.toContain('"pw"');
    expect(JSON.stringify(s.lines)).not.toContain('pw"');
  });

  it("steps down to a higher priority and removes its VIPs", async () => {
    const s = setup();
    await master(s);
    s.inst.receive(rx4(v4Advert({ priority: 200 }).packet));
    expect(s.events.at(-1)).toMatchObject({ from: "MASTER", to: "BACKUP", reason: "higher_priority" });
    await flush();
    expect(s.io.ops.at(-1)).toBe("del 10.0.0.100/24");
    expect(s.io.vips.size).toBe(0);
  });

  it("answers a lower priority with an advert at once and stays master", async () => {
    const s = setup();
    await master(s);
    const n = s.io.sent.length;
    s.inst.receive(rx4(v4Advert({ priority: 50 }).packet));
    expect(s.inst.state).toBe("MASTER");
    expect(s.io.sent.length).toBe(n + 1);
  });

  it("a graceful stop sends priority 0, removes the VIPs and disarms", async () => {
    const s = setup();
    await master(s);
    await s.inst.stop();
    expect(s.io.priorities().at(-1)).toBe(0);
    expect(s.events.at(-1)).toMatchObject({ from: "MASTER", to: "INIT", reason: "shutdown" });
    expect(s.io.vips.size).toBe(0);
    expect(s.clock.timers.size).toBe(0);
    // Nothing happens after a stop.
    const n = s.io.sent.length;
    s.inst.receive(rx4(v4Advert({ priority: 200 }).packet));
    s.clock.advance(10_000);
    expect(s.io.sent.length).toBe(n);
  });

  it("a send failure is counted and logged, never thrown", async () => {
    const s = setup();
    await master(s);
    s.io.failSend = true;
    expect(() => s.clock.advance(300)).not.toThrow();
    expect(s.inst.status().counters.sendErrors).toBe(3);
    expect(s.lines.some((l) => l.level === 40 && String(l.msg).includes("not sent"))).toBe(true);
  });

  it("self-demote resigns with priority 0; demote_cleared restores the priority", async () => {
    const s = setup();
    await master(s);
    s.inst.input({ type: "demote", reason: "main thread unresponsive" });
    expect(s.events.at(-1)).toMatchObject({ from: "MASTER", to: "BACKUP", reason: "demote", priority: 1 });
    expect(s.io.priorities().at(-1)).toBe(0);
    s.inst.input({ type: "demote_cleared" });
    expect(s.inst.status().effectivePriority).toBe(100);
  });

  it("reconfigure while master adds new VIPs (announced) and removes dropped ones", async () => {
    const s = setup({ virtualIps: [prefix("10.0.0.100/24"), prefix("10.0.0.101/24")] });
    await master(s);
    s.io.ops.length = 0;
    s.inst.reconfigure(instanceConfig({ virtualIps: [prefix("10.0.0.101/24"), prefix("10.0.0.102/24")] }));
    await flush();
    expect(s.io.ops).toEqual(["del 10.0.0.100/24", "add 10.0.0.102/24", "announce 10.0.0.102/24 x5"]);
    expect(s.inst.status().vips).toEqual(["10.0.0.101/24", "10.0.0.102/24"]);
    s.clock.advance(100);
    expect(s.io.sent.at(-1)?.advert.addresses).toEqual(["10.0.0.101", "10.0.0.102"]);
  });
});

describe("VrrpInstance: as backup", () => {
  it("accepts a master's adverts and never takes over while they keep coming", async () => {
    const s = setup();
    await s.inst.start();
    for (let i = 0; i < 50; i++) {
      s.clock.advance(100);
      s.inst.receive(rx4(v4Advert({ priority: 150 }).packet));
    }
    expect(s.inst.state).toBe("BACKUP");
    expect(s.inst.status().master).toEqual({ ip: "10.0.0.9", priority: 150 });
    expect(s.inst.status().counters.advertsReceived).toBe(50);
  });

  it("a priority-0 advert hands over after Skew_Time and says so", async () => {
    const s = setup();
    await s.inst.start();
    s.inst.receive(rx4(v4Advert({ priority: 150 }).packet));
    s.clock.advance(50);
    s.inst.receive(rx4(v4Advert({ priority: 0 }).packet));
    expect(s.clock.next()).toBe(s.clock.t + SKEW_100);
    s.clock.advance(SKEW_100);
    expect(s.events.at(-1)).toMatchObject({
      to: "MASTER",
      reason: "master_down",
      detail: "master 10.0.0.9 resigned (priority 0)",
    });
    expect(s.lines.some((l) => l.event === "vrrp.master_resigned")).toBe(true);
  });

  it("logs every transition as `from → to (reason: detail)` with structured fields", async () => {
    const s = setup();
    await s.inst.start();
    s.inst.receive(rx4(v4Advert({ priority: 150 }).packet));
    s.clock.advance(MD_100);
    const line = s.lines.find((l) => l.event === "vrrp.transition" && l.to === "MASTER");
    expect(line).toMatchObject({
      msg: "BACKUP → MASTER (master_down: no advert from master 10.0.0.9 for Master_Down_Interval)",
      from: "BACKUP",
      to: "MASTER",
      reason: "master_down",
      priority: 100,
    });
  });
});

describe("VrrpInstance: receive validation", () => {
  it("drops malformed adverts with a per-reason count and no state change", async () => {
    const s = setup();
    await s.inst.start();
    s.inst.receive(rx4(v4Advert({ priority: 150 }).packet));
    const good = v4Advert({ priority: 250 });
    const badChecksum = Buffer.from(good.payload);
    badChecksum[6] = badChecksum[6]! ^ 0xff;
    const wrongVersion = Buffer.from(good.payload);
    wrongVersion[0] = 0x41;
    const packets = [
      ipv4Packet(good.src, "224.0.0.18", 64, good.payload), // ttl
      ipv4Packet(good.src, "224.0.0.18", 255, badChecksum), // checksum (and a higher priority)
      ipv4Packet(good.src, "224.0.0.18", 255, wrongVersion), // version
      ipv4Packet(good.src, "224.0.0.18", 255, good.payload.subarray(0, 6)), // length
      v4Advert({ priority: 250, vrid: 52 }).packet, // vrid
      good.packet.subarray(0, 12), // IP header
    ];
    for (const p of packets) s.inst.receive(rx4(p));
    const st = s.inst.status();
    expect(st.state).toBe("BACKUP");
    expect(st.master).toEqual({ ip: "10.0.0.9", priority: 150 });
    expect(st.drops).toMatchObject({ ttl: 1, checksum: 1, version: 1, length: 1, vrid: 1, ip_header: 1 });
    expect(st.counters.advertsReceived).toBe(1);
    const warned = s.lines.filter((l) => l.event === "vrrp.drop" && l.level === 40).map((l) => l.reason);
    expect(warned.sort()).toEqual(["checksum", "ip_header", "length", "ttl", "version"]);
  });

  it("accepts both v3 IPv4 checksum forms", async () => {
    const s = setup();
    await s.inst.start();
    const a = v4Advert({ priority: 150 });
    const messageOnly = Buffer.from(a.payload);
    messageOnly.writeUInt16BE(0, 6);
    const { internetChecksum } = await import("../../../src/vrrp/packet.js");
    messageOnly.writeUInt16BE(internetChecksum(messageOnly), 6);
    s.inst.receive(rx4(ipv4Packet(a.src, "224.0.0.18", 255, messageOnly)));
    expect(s.inst.status().counters.advertsReceived).toBe(1);
    expect(s.inst.status().drops.checksum).toBe(0);
  });

  it("IPv6: checks the hop limit from ancillary data", async () => {
    const s = setup({ family: 6, virtualIps: [prefix("2001:db8::100/64")] }, { primaryIp: "fe80::2" });
    await s.inst.start();
    s.inst.receive(rx6({ priority: 150, hopLimit: 64 }));
    expect(s.inst.status().drops.ttl).toBe(1);
    s.inst.receive(rx6({ priority: 150 }));
    expect(s.inst.status().master).toEqual({ ip: "fe80::9", priority: 150 });
  });
});

describe("VrrpInstance: tracking input", () => {
  it("a fault as master resigns (priority 0) and drops the VIPs; clearing it rejoins as BACKUP", async () => {
    const s = setup();
    await master(s);
    s.inst.updateHealth({ fault: "interface eth0 is down", priority: 100 });
    expect(s.events.at(-1)).toMatchObject({ from: "MASTER", to: "FAULT", detail: "interface eth0 is down" });
    expect(s.io.priorities().at(-1)).toBe(0);
    await flush();
    expect(s.io.vips.size).toBe(0);
    expect(s.clock.timers.size).toBe(0);
    s.inst.updateHealth({ fault: null, priority: 100 });
    expect(s.events.at(-1)).toMatchObject({ from: "FAULT", to: "BACKUP", reason: "fault_cleared" });
  });

  it("a lower tracked priority lets a preempting peer take over", async () => {
    const s = setup({ priority: 150 });
    await master(s);
    s.inst.updateHealth({ fault: null, priority: 90 });
    s.inst.receive(rx4(v4Advert({ priority: 100 }).packet));
    expect(s.events.at(-1)).toMatchObject({ from: "MASTER", to: "BACKUP", reason: "higher_priority" });
    expect(s.inst.status().effectivePriority).toBe(90);
  });
});

describe("VrrpInstance: unicast adverts from keepalived as deployed", () => {
  const legacyPayload = (src: string, dst: string) => {
    // keepalived < 1.3.6: the pseudo-header checksum with the group as the destination.
    const { payload } = v4Advert({ src, priority: 200, intervalCs: 10 });
    return { payload, dst };
  };

  it("accepts a unicast advert at TTL 64 and one in the old checksum form, counting and logging the latter once", async () => {
    const s = setup({ unicastPeers: ["10.0.0.9"] });
    await s.inst.start();
    const { payload } = legacyPayload("10.0.0.9", "10.0.0.2");
    for (let i = 0; i < 3; i++) s.inst.receive(rx4(ipv4Packet("10.0.0.9", "10.0.0.2", 64, payload)));
    const st = s.inst.status();
    expect(st.counters.advertsReceived).toBe(3);
    expect(st.counters.groupChecksumOnUnicast).toBe(3);
    expect(st.master).toEqual({ ip: "10.0.0.9", priority: 200 });
    expect(s.lines.filter((l) => l.event === "vrrp.compat")).toHaveLength(1);
    expect(s.inst.drops.total()).toBe(0);
  });

  it("with unicast_ttl require 255, a unicast advert at TTL 64 is dropped as ttl", async () => {
    const s = setup({ unicastPeers: ["10.0.0.9"], unicastTtl: { send: 255, require: 255 } });
    await s.inst.start();
    const { payload } = legacyPayload("10.0.0.9", "10.0.0.2");
    s.inst.receive(rx4(ipv4Packet("10.0.0.9", "10.0.0.2", 64, payload)));
    expect(s.inst.drops.get("ttl")).toBe(1);
    expect(s.inst.status().counters.advertsReceived).toBe(0);
  });
});

describe("VrrpInstance: what adverts say about the segment's configuration", () => {
  const events = (lines: Record<string, unknown>[]) =>
    lines.filter((l) => l.event === "vrrp.misconfiguration").map((l) => l.problem);

  it("says once per peer: another address list (counted every time), no address, another interval, our own address", async () => {
    const s = setup();
    await s.inst.start();
    const other = v4Advert({ src: "10.0.0.9", addresses: ["10.0.0.199"], intervalCs: 20 });
    for (let i = 0; i < 3; i++) s.inst.receive(rx4(other.packet));
    s.inst.receive(rx4(v4Advert({ src: "10.0.0.8", addresses: [] }).packet));
    s.inst.receive(rx4(v4Advert({ src: "10.0.0.2" }).packet));
    expect(events(s.lines)).toEqual(["address_list", "advert_interval", "address_list", "own_address"]);
    expect(s.inst.status().counters.addressListMismatch).toBe(4);
    // Accepted all the same (keepalived does too): the 10.0.0.8 advert was the last one followed.
    expect(s.inst.drops.total()).toBe(0);
  });

  it("two address owners on one segment are named", async () => {
    const s = setup({ priority: 255 });
    await s.inst.start();
    s.inst.receive(rx4(v4Advert({ src: "10.0.0.9", priority: 255 }).packet));
    expect(events(s.lines)).toEqual(["two_owners"]);
  });
});
