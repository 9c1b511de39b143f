/**
 * A vipd master whose tracked interface goes down drops below a keepalived backup: vipd sends an
 * advert with its new priority at once, keepalived (a preempting backup, which ignores adverts of
 * lower priority) takes over when its Master_Down_Interval runs out, vipd steps down on the
 * first advert of the better master, and exactly one director holds the VIP. When the interface
 * comes back, vipd outranks keepalived again and preempts.
 *
 * The tracked interface is one end of a veth pair inside d1's namespace; downing the other end
 * takes its carrier away.
 */
import { rmSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureBuilt } from "./fixtures/vrrp/build.js";
import {
  createDirectorLab,
  type DirectorLab,
  NET,
  VIP_CIDR,
  type VrrpDaemon,
  vipHolders,
  waitForSettled,
} from "./harness/directors.js";
import { eventually, expectNoInvalidPackets } from "./harness/interop.js";
import { Keepalived } from "./harness/keepalived.js";
import { Vipd, type VipdInstanceSpec } from "./harness/vipd.js";

const WAIT_MS = 20_000;
const ADVERT_MS = 100;

beforeAll(() => ensureBuilt());

/**
 * vipd master on d1 (priority 150, instance `web` with `instance` keys added, `vrrp` keys added
 * to its vrrp section) and a keepalived backup on d2 (100), settled.
 */
async function startPair(
  dl: DirectorLab,
  opts: { instance?: Partial<VipdInstanceSpec>; vrrp?: Record<string, unknown> },
): Promise<{ vipd: Vipd; keepalived: VrrpDaemon }> {
  const vipd = await Vipd.start(dl.lab, "d1", dl.dir, {
    node: "d1",
    logLevel: "debug",
    ...(opts.vrrp === undefined ? {} : { vrrpExtra: opts.vrrp }),
    instances: [
      {
        name: "web",
        interface: "eth0",
        vrid: NET.vrid,
        priority: 150,
        version: 3,
        advertIntervalMs: ADVERT_MS,
        virtualIps: [VIP_CIDR],
        ...opts.instance,
      },
    ],
  });
  const keepalived = await Keepalived.start(dl.lab, "d2", dl.dir, {
    routerId: "d2",
    version: 3,
    instances: [
      {
        interface: "eth0",
        vrid: NET.vrid,
        priority: 100,
        advertIntervalMs: ADVERT_MS,
        virtualIps: [VIP_CIDR],
      },
    ],
  });
  await waitForSettled(dl.lab, vipd, keepalived, WAIT_MS);
  return { vipd, keepalived };
}

describe("vipd master (150, tracking trk0 weight -100) and keepalived backup (100)", () => {
  let dl: DirectorLab;
  let vipd: Vipd;
  let keepalived: VrrpDaemon;

  beforeAll(async () => {
    dl = await createDirectorLab({ prefix: "vkatrk" });
    await dl.lab.run("d1", ["ip", "link", "add", "trk0", "type", "veth", "peer", "name", "trk1"]);
    await dl.lab.run("d1", ["ip", "link", "set", "trk0", "up"]);
    await dl.lab.run("d1", ["ip", "link", "set", "trk1", "up"]);
    ({ vipd, keepalived } = await startPair(dl, {
      instance: { trackInterfaces: [{ name: "trk0", weight: -100 }] },
    }));
  }, 60_000);

  afterAll(async () => {
    await Promise.allSettled([vipd?.stop(), keepalived?.stop()]);
    await dl?.close();
  });

  it("the tracked interface goes down: keepalived takes over, vipd is BACKUP, one VIP holder", async () => {
    const [vMark, kMark] = [vipd.mark, keepalived.mark];
    await dl.lab.run("d1", ["ip", "link", "set", "trk1", "down"]);
    await keepalived.waitForState("MASTER", { from: kMark, timeoutMs: WAIT_MS });
    const t = await vipd.waitForState("BACKUP", { from: vMark, timeoutMs: WAIT_MS });
    expect(t).toMatchObject({ reason: "higher_priority" });
    expect(await eventually(() => vipHolders(dl.lab), ["d2"])).toEqual(["d2"]);
    expectNoInvalidPackets(vipd, keepalived);
  });

  it("the interface comes back: vipd outranks keepalived again and preempts", async () => {
    const [vMark, kMark] = [vipd.mark, keepalived.mark];
    await dl.lab.run("d1", ["ip", "link", "set", "trk1", "up"]);
    await vipd.waitForState("MASTER", { from: vMark, timeoutMs: WAIT_MS });
    await keepalived.waitForState("BACKUP", { from: kMark, timeoutMs: WAIT_MS });
    expect(await eventually(() => vipHolders(dl.lab), ["d1"])).toEqual(["d1"]);
    expectNoInvalidPackets(vipd, keepalived);
  });
});

/**
 * The same pair, with vipd tracking a script (weight -100, rise/fall 2) and a file (weight 0)
 * instead of an interface. The script is `test ! -e FLAG`: creating FLAG makes it fail. Both run
 * on vipd's main thread; the worker only hears their results.
 */
describe("vipd master (150, track script weight -100, track file weight 0) and keepalived backup (100)", () => {
  let dl: DirectorLab;
  let vipd: Vipd;
  let keepalived: VrrpDaemon;
  let flag: string;
  let maint: string;

  beforeAll(async () => {
    dl = await createDirectorLab({ prefix: "vkatrs" });
    flag = dl.dir.file("fail-flag");
    maint = dl.dir.file("maint");
    ({ vipd, keepalived } = await startPair(dl, {
      vrrp: {
        track_scripts: [
          { name: "chk", command: ["/usr/bin/test", "!", "-e", flag], interval: "200ms", rise: 2, fall: 2 },
        ],
        track_files: [{ name: "maint", path: maint, weight: 0 }],
      },
      instance: { extra: { track_scripts: [{ name: "chk", weight: -100 }], track_files: ["maint"] } },
    }));
  }, 60_000);

  afterAll(async () => {
    await Promise.allSettled([vipd?.stop(), keepalived?.stop()]);
    await dl?.close();
  });

  it("the script fails twice: vipd drops to 50, keepalived takes over, one VIP holder", async () => {
    const [vMark, kMark] = [vipd.mark, keepalived.mark];
    dl.dir.write("fail-flag", "");
    await keepalived.waitForState("MASTER", { from: kMark, timeoutMs: WAIT_MS });
    await vipd.waitForState("BACKUP", { from: vMark, timeoutMs: WAIT_MS });
    const change = vipd.records(vMark).find((r) => r.event === "vrrp.track_script");
    expect(change).toMatchObject({ script: "chk", from: "up", to: "down", reason: "exit 1" });
    expect(await eventually(() => vipHolders(dl.lab), ["d2"])).toEqual(["d2"]);
    expectNoInvalidPackets(vipd, keepalived);
  });

  it("the script passes twice again: vipd preempts", async () => {
    const [vMark, kMark] = [vipd.mark, keepalived.mark];
    rmSync(flag);
    await vipd.waitForState("MASTER", { from: vMark, timeoutMs: WAIT_MS });
    await keepalived.waitForState("BACKUP", { from: kMark, timeoutMs: WAIT_MS });
    expect(await eventually(() => vipHolders(dl.lab), ["d1"])).toEqual(["d1"]);
  });

  it("the track file holds 1: vipd is in FAULT and keepalived masters; back to 0: vipd preempts", async () => {
    let [vMark, kMark] = [vipd.mark, keepalived.mark];
    dl.dir.write("maint", "1\n");
    const fault = await vipd.waitForState("FAULT", { from: vMark, timeoutMs: WAIT_MS });
    expect(fault).toMatchObject({ reason: "fault" });
    expect(fault.line.text).toContain("track file maint holds 1 (weight 0)");
    await keepalived.waitForState("MASTER", { from: kMark, timeoutMs: WAIT_MS });
    expect(await eventually(() => vipHolders(dl.lab), ["d2"])).toEqual(["d2"]);
    [vMark, kMark] = [vipd.mark, keepalived.mark];
    dl.dir.write("maint", "0\n");
    await vipd.waitForState("MASTER", { from: vMark, timeoutMs: WAIT_MS });
    await keepalived.waitForState("BACKUP", { from: kMark, timeoutMs: WAIT_MS });
    expect(await eventually(() => vipHolders(dl.lab), ["d1"])).toEqual(["d1"]);
    expectNoInvalidPackets(vipd, keepalived);
  });
});
