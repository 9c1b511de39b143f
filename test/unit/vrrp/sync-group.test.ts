import { describe, expect, it } from "vitest";
import { VrrpInstance } from "../../../src/vrrp/instance.js";
import { SyncGroup } from "../../../src/vrrp/sync-group.js";
import {
  captureLogger,
  FakeClock,
  FakeIo,
  flush,
  instanceConfig,
  prefix,
  rx4,
  v4Advert,
} from "./driver-fakes.js";

const MD_100 = 300 + 60.9375;

/** Two instances (web: IPv4 VRID 51, web2: IPv4 VRID 52) in one group, on a fake clock. */
async function group() {
  const clock = new FakeClock();
  const { log } = captureLogger();
  const make = (name: string, vrid: number, vip: string) => {
    const io = new FakeIo(clock);
    const inst = new VrrpInstance({
      config: instanceConfig({ name, vrid, virtualIps: [prefix(vip)] }),
      primaryIp: "10.0.0.2",
      io,
      clock,
      log,
    });
    return { inst, io };
  };
  const a = make("web", 51, "10.0.0.100/24");
  const b = make("web2", 52, "10.0.0.101/24");
  const g = new SyncGroup("g1", [a.inst, b.inst], log);
  const trail: string[] = [];
  for (const m of [a.inst, b.inst]) {
    m.on("transition", (e) => {
      trail.push(`${e.instance}:${e.from}→${e.to}:${e.reason}`);
      g.onTransition(m, e);
    });
    m.on("want_master", () => g.onWantMaster(m));
  }
  await Promise.all([a.inst.start(), b.inst.start()]);
  return { clock, a, b, g, trail };
}

describe("SyncGroup", () => {
  it("one member going MASTER takes the others along", async () => {
    const { clock, a, b } = await group();
    clock.advance(MD_100);
    expect([a.inst.state, b.inst.state]).toEqual(["MASTER", "MASTER"]);
    await flush();
    expect([...a.io.vips, ...b.io.vips]).toEqual(["10.0.0.100/24", "10.0.0.101/24"]);
  });

  it("a member stepping down to BACKUP takes the others along, once (no loop)", async () => {
    const { clock, a, b, trail } = await group();
    clock.advance(MD_100);
    trail.length = 0;
    a.inst.receive(rx4(v4Advert({ priority: 200, vrid: 51 }).packet));
    expect([a.inst.state, b.inst.state]).toEqual(["BACKUP", "BACKUP"]);
    expect(trail).toEqual(["web:MASTER→BACKUP:higher_priority", "web2:MASTER→BACKUP:sync_group"]);
    // Sent by the group, web2 leaves quietly: no priority-0 advert (keepalived neither).
    expect(b.io.priorities()).not.toContain(0);
  });

  it("a member's fault forces the others to FAULT; its recovery releases them", async () => {
    const { clock, a, b, g } = await group();
    clock.advance(MD_100);
    a.inst.updateHealth({ fault: "interface eth0 is down", priority: 100 });
    g.reconcile();
    expect([a.inst.state, b.inst.state]).toEqual(["FAULT", "FAULT"]);
    await flush();
    expect(b.io.vips.size).toBe(0);
    a.inst.updateHealth({ fault: null, priority: 100 });
    g.reconcile();
    expect([a.inst.state, b.inst.state]).toEqual(["BACKUP", "BACKUP"]);
  });

  it("stays in FAULT while any member still has a fault of its own", async () => {
    const { a, b, g } = await group();
    a.inst.updateHealth({ fault: "interface eth0 is down", priority: 100 });
    g.reconcile();
    b.inst.updateHealth({ fault: "tracked interface eth1 is down (weight 0)", priority: 100 });
    g.reconcile();
    a.inst.updateHealth({ fault: null, priority: 100 });
    g.reconcile();
    expect([a.inst.state, b.inst.state]).toEqual(["FAULT", "FAULT"]);
    b.inst.updateHealth({ fault: null, priority: 100 });
    g.reconcile();
    expect([a.inst.state, b.inst.state]).toEqual(["BACKUP", "BACKUP"]);
  });

  it("reconcile at start-up puts every member in FAULT when one starts faulted", async () => {
    const clock = new FakeClock();
    const { log } = captureLogger();
    const mk = (name: string, vrid: number, primaryIp: string | null) =>
      new VrrpInstance({
        config: instanceConfig({ name, vrid }),
        primaryIp,
        io: new FakeIo(clock),
        clock,
        log,
      });
    const a = mk("web", 51, null);
    const b = mk("web2", 52, "10.0.0.2");
    const g = new SyncGroup("g1", [a, b], log);
    g.reconcile();
    await Promise.all([a.start(), b.start()]);
    expect([a.state, b.state]).toEqual(["FAULT", "FAULT"]);
    a.setPrimaryIp("10.0.0.3");
    g.reconcile();
    expect([a.state, b.state]).toEqual(["BACKUP", "BACKUP"]);
  });
});
