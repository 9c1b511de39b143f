/**
 * Two vipd directors and a client in network namespaces on one bridge (issue 3, lab tests 1-4,
 * 7 and 9). Each director runs `node bin/vipd run -c <generated yaml>` (dist/ is rebuilt first
 * when stale) and a tiny HTTP server answering its name; the client asks the VIP.
 *
 * Timing: adverts every 100 ms so that elections take well under a second. Every wait polls for
 * an expected outcome with a generous deadline; nothing asserts how long something took.
 */
import { execFileSync } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { ensureBuilt } from "./fixtures/vrrp/build.js";
import {
  addressesOf,
  createDirectorLab,
  type DirectorLab,
  masterDownMs,
  NET,
  VIP_CIDR,
  VIP_URL,
  vipHolders,
} from "./harness/directors.js";
import { LineLog } from "./harness/lines.js";
import { Lab } from "./harness/netns.js";
import { RunDir } from "./harness/rundir.js";
import { VIPD_BIN, Vipd, type VipdInstanceSpec, type VipdSpec } from "./harness/vipd.js";

const ADVERT_MS = 100;
const PRIO_MASTER = 150;
const PRIO_BACKUP = 100;
/** The backup's Master_Down_Interval (v3, 100 ms adverts, priority 100). */
const MASTER_DOWN_MS = masterDownMs(3, ADVERT_MS, PRIO_BACKUP);
const WAIT_MS = 20_000;

const NAME_SERVER = fileURLToPath(new URL("./fixtures/http-name-server.mjs", import.meta.url));

function instance(priority: number, over: Partial<VipdInstanceSpec> = {}): VipdInstanceSpec {
  return {
    name: "web",
    interface: "eth0",
    vrid: NET.vrid,
    priority,
    version: 3,
    advertIntervalMs: ADVERT_MS,
    virtualIps: [VIP_CIDR],
    ...over,
  };
}

function spec(
  node: string,
  priority: number,
  over: Partial<VipdInstanceSpec> = {},
  extra: Partial<VipdSpec> = {},
) {
  return { node, instances: [instance(priority, over)], ...extra } satisfies VipdSpec;
}

/** Polls `probe` until `accept` holds; returns the last value. Throws with the last value on the deadline. */
async function until<T>(
  what: string,
  probe: () => Promise<T>,
  accept: (v: T) => boolean,
  timeoutMs = WAIT_MS,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T = await probe();
  while (!accept(last)) {
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)}`);
    await sleep(50);
    last = await probe();
  }
  return last;
}

/** One HTTP GET from the client namespace; the body (the serving director's name) or an error tag. */
async function clientGet(lab: Lab, url: string): Promise<string> {
  const r = await lab.exec("cl", ["curl", "-g", "-s", "-m", "1", url], { timeoutMs: 5000 });
  return r.code === 0 ? r.stdout.trim() : `error ${r.code}`;
}

/** tcpdump on `host`'s eth0 (link-level headers, line-buffered), once it is capturing. */
async function capture(lab: Lab, filter: string, host = "cl"): Promise<LineLog> {
  const log = new LineLog(lab.spawn(host, ["tcpdump", "-l", "-n", "-e", "-t", "-i", "eth0", filter]));
  await log.waitFor(/listening on eth0/, { timeoutMs: WAIT_MS });
  return log;
}

async function macOf(lab: Lab, host: string): Promise<string> {
  const out = await lab.run(host, ["cat", "/sys/class/net/eth0/address"]);
  return out.trim();
}

function transitionsSince(v: Vipd, mark: number) {
  return v.transitions(mark).map((t) => `${t.from}→${t.to} (${t.reason})`);
}

let dl: DirectorLab | undefined;
const started: Vipd[] = [];

beforeAll(() => {
  ensureBuilt();
});

afterEach(async () => {
  for (const v of started.splice(0)) await v.stop().catch(() => undefined);
  await dl?.close();
  dl = undefined;
});

async function pair(
  d1Spec: VipdSpec,
  d2Spec: VipdSpec,
): Promise<{ lab: Lab; dir: RunDir; d1: Vipd; d2: Vipd }> {
  dl = await createDirectorLab({ prefix: "vrrppair" });
  const [d1, d2] = await Promise.all([
    Vipd.start(dl.lab, "d1", dl.dir, d1Spec),
    Vipd.start(dl.lab, "d2", dl.dir, d2Spec),
  ]);
  started.push(d1, d2);
  return { lab: dl.lab, dir: dl.dir, d1, d2 };
}

/** Both directors have settled with `master` as the only master and VIP holder. */
async function settled(lab: Lab, master: Vipd, backup: Vipd): Promise<void> {
  await until(
    `${master.host} MASTER, ${backup.host} BACKUP, VIP only on ${master.host}`,
    async () => ({ m: master.state(), b: backup.state(), holders: await vipHolders(lab) }),
    (s) => s.m === "MASTER" && s.b === "BACKUP" && s.holders.length === 1 && s.holders[0] === master.host,
  );
}

describe("two vipd directors, IPv4 VRRPv3, 100 ms adverts", () => {
  it("(1) the higher priority becomes master and exactly one director holds the VIP", async () => {
    const { lab, d1, d2 } = await pair(spec("d1", PRIO_MASTER), spec("d2", PRIO_BACKUP));
    await settled(lab, d1, d2);
    await until(
      "the client to be served by d1",
      () => clientGet(lab, VIP_URL),
      (b) => b === "d1",
    );
    // d2 settled as backup of d1. (Started together, d2 may have been master for a moment
    // before d1 came up: then it stepped down on d1's higher priority.)
    const last = d2.transitions().at(-1)!;
    expect(last.to).toBe("BACKUP");
    expect(["startup", "higher_priority"]).toContain(last.reason);
    await d1.log.waitFor((l) => l.text.includes('"vrrp.vips_added"'), { timeoutMs: WAIT_MS });
    // The daemon answers `vipd status` on its API socket with the worker's view.
    const status = JSON.parse(
      execFileSync(process.execPath, [VIPD_BIN, "status", "--json", "-s", d1.apiSocket], {
        encoding: "utf8",
      }),
    ) as { node: string; vrrp: { instances: Record<string, unknown>[] } };
    expect(status.node).toBe("d1");
    expect(status.vrrp.instances[0]).toMatchObject({
      name: "web",
      state: "MASTER",
      priority: PRIO_MASTER,
      address: NET.d1,
      vips: [VIP_CIDR],
    });
    expect(status.vrrp.instances[0]?.advertsSent).toBeGreaterThan(0);
  });

  it("(2) master link down: the backup takes the VIP and the client is answered by it", async () => {
    const { lab, d1, d2 } = await pair(spec("d1", PRIO_MASTER), spec("d2", PRIO_BACKUP));
    await settled(lab, d1, d2);
    await until(
      "the client to be served by d1",
      () => clientGet(lab, VIP_URL),
      (b) => b === "d1",
    );
    const garps = await capture(lab, "arp");
    const m1 = d1.mark;
    const m2 = d2.mark;
    await lab.linkDown("d1");
    const t = await d2.waitForState("MASTER", { from: m2, timeoutMs: WAIT_MS });
    expect(t.reason).toBe("master_down");
    // d2 announced the VIP with gratuitous ARP from its own MAC.
    const mac2 = await macOf(lab, "d2");
    await garps.waitFor(
      new RegExp(`^${mac2} > ff:ff:ff:ff:ff:ff, ethertype ARP.*who-has ${NET.vip} .*tell ${NET.vip},`),
      {
        timeoutMs: WAIT_MS,
      },
    );
    const fault = await d1.waitForState("FAULT", { from: m1, timeoutMs: WAIT_MS });
    expect(fault.record.detail).toBe("interface eth0 is down");
    await until(
      "d2 to hold the VIP",
      () => addressesOf(lab, "d2"),
      (a) => a.includes(VIP_CIDR),
    );
    await until(
      "d1 to have removed the VIP",
      () => addressesOf(lab, "d1"),
      (a) => !a.includes(VIP_CIDR),
    );
    await until(
      "the client to be served by d2",
      () => clientGet(lab, VIP_URL),
      (b) => b === "d2",
    );

    // The link comes back: d1 leaves FAULT and, preempting, takes over again.
    const back = d1.mark;
    await lab.linkUp("d1");
    await d1.waitForState("MASTER", { from: back, timeoutMs: WAIT_MS });
    await settled(lab, d1, d2);
    await until(
      "the client to be served by d1 again",
      () => clientGet(lab, VIP_URL),
      (b) => b === "d1",
    );
  });

  it("(3) SIGTERM on the master: priority-0 handover, VIP removed, exit 0", async () => {
    const { lab, d1, d2 } = await pair(spec("d1", PRIO_MASTER), spec("d2", PRIO_BACKUP));
    await settled(lab, d1, d2);
    const m2 = d2.mark;
    const exit = await d1.stop();
    expect(exit).toEqual({ code: 0, signal: null });
    const t = await d2.waitForState("MASTER", { from: m2, timeoutMs: WAIT_MS });
    expect(t.reason).toBe("master_down");
    expect(String(t.record.detail)).toMatch(/resigned \(priority 0\)/);
    expect(d2.records(m2).some((r) => r.event === "vrrp.master_resigned" && r.src === NET.d1)).toBe(true);
    // The old master resigned and removed its VIP before exiting.
    const records = d1.records();
    expect(records.find((r) => r.event === "vrrp.transition" && r.to === "INIT")).toMatchObject({
      from: "MASTER",
      reason: "shutdown",
    });
    expect(records.filter((r) => r.event === "vrrp.vips_removed").at(-1)).toMatchObject({ vips: [VIP_CIDR] });
    expect(await addressesOf(lab, "d1")).not.toContain(VIP_CIDR);
    await until(
      "only d2 to hold the VIP",
      () => vipHolders(lab),
      (h) => h.length === 1 && h[0] === "d2",
    );
    await until(
      "the client to be served by d2",
      () => clientGet(lab, VIP_URL),
      (b) => b === "d2",
    );
  });

  it("(4a) the old master returns and preempts", async () => {
    const { lab, dir, d1, d2 } = await pair(spec("d1", PRIO_MASTER), spec("d2", PRIO_BACKUP));
    await settled(lab, d1, d2);
    expect((await d1.stop()).code).toBe(0);
    await until(
      "only d2 to hold the VIP",
      () => vipHolders(lab),
      (h) => h.length === 1 && h[0] === "d2",
    );
    const m2 = d2.mark;
    const again = await Vipd.start(lab, "d1", dir, spec("d1", PRIO_MASTER));
    started.push(again);
    await settled(lab, again, d2);
    const back = d2.transitions(m2).find((t) => t.to === "BACKUP");
    expect(back?.reason).toBe("higher_priority");
    await until(
      "the client to be served by d1",
      () => clientGet(lab, VIP_URL),
      (b) => b === "d1",
    );
  });

  it("(4b) with preempt: false the returning higher-priority director stays backup", async () => {
    const noPreempt = { preempt: false };
    const { lab, dir, d1, d2 } = await pair(
      spec("d1", PRIO_MASTER, noPreempt),
      spec("d2", PRIO_BACKUP, noPreempt),
    );
    await until(
      "one master and one VIP holder",
      async () => ({ s: [d1.state(), d2.state()].sort(), holders: await vipHolders(lab) }),
      (x) => x.s[0] === "BACKUP" && x.s[1] === "MASTER" && x.holders.length === 1,
    );
    // Make d2 the master whatever happened at start: stop d1.
    expect((await d1.stop()).code).toBe(0);
    await until(
      "only d2 to hold the VIP",
      () => vipHolders(lab),
      (h) => h.length === 1 && h[0] === "d2",
    );
    await until(
      "d2 to be master",
      async () => d2.state(),
      (s) => s === "MASTER",
    );
    const m2 = d2.mark;
    const again = await Vipd.start(lab, "d1", dir, spec("d1", PRIO_MASTER, noPreempt));
    started.push(again);
    // d1 has joined and heard d2's adverts; give it many Master_Down_Intervals to (wrongly) take over.
    await again.waitForState("BACKUP", { timeoutMs: WAIT_MS });
    await sleep(10 * MASTER_DOWN_MS);
    expect(again.transitions().map((t) => t.to)).toEqual(["BACKUP"]);
    expect(d2.transitions(m2)).toEqual([]);
    expect(await vipHolders(lab)).toEqual(["d2"]);
    expect(await clientGet(lab, VIP_URL)).toBe("d2");
  });
});

describe("unicast peers", () => {
  it("elect and hand over with adverts sent to each other instead of the group", async () => {
    const { lab, d1, d2 } = await pair(
      spec("d1", PRIO_MASTER, { unicastPeers: [NET.d2] }),
      spec("d2", PRIO_BACKUP, { unicastPeers: [NET.d1] }),
    );
    const adverts = await capture(lab, "ip proto 112", "d2");
    await settled(lab, d1, d2);
    // The master's adverts go to d2's address, from d1's own.
    await adverts.waitFor(
      new RegExp(` ${NET.d1} > ${NET.d2}: VRRPv3, Advertisement, vrid ${NET.vrid}, prio ${PRIO_MASTER}`),
      {
        timeoutMs: WAIT_MS,
      },
    );
    const m2 = d2.mark;
    expect((await d1.stop()).code).toBe(0);
    const t = await d2.waitForState("MASTER", { from: m2, timeoutMs: WAIT_MS });
    expect(String(t.record.detail)).toMatch(/resigned \(priority 0\)/);
    await until(
      "only d2 to hold the VIP",
      () => vipHolders(lab),
      (h) => h.length === 1 && h[0] === "d2",
    );
  });
});

describe("planned handover (vipd vrrp resign / resume)", () => {
  const cli = (v: Vipd, ...argv: string[]) =>
    execFileSync(process.execPath, [VIPD_BIN, ...argv, "-s", v.apiSocket], { encoding: "utf8" });
  const resigned = (v: Vipd) =>
    (JSON.parse(cli(v, "status", "--json")) as { vrrp: { instances: { resigned: boolean }[] } }).vrrp
      .instances[0]?.resigned;

  it("a resigned master hands over at once and stays out, across a reload and with no peer, until resumed", async () => {
    const { lab, dir, d1, d2 } = await pair(spec("d1", PRIO_MASTER), spec("d2", PRIO_BACKUP));
    await settled(lab, d1, d2);
    const m1 = d1.mark;
    expect(cli(d1, "vrrp", "resign", "web")).toBe("web: resigned (now BACKUP)\n");
    await settled(lab, d2, d1);
    expect(transitionsSince(d1, m1)).toEqual(["MASTER→BACKUP (resign)"]);
    expect(d1.records(m1).some((r) => r.event === "vrrp.operator" && r.action === "resign")).toBe(true);
    expect(resigned(d1)).toBe(true);

    // A reload that raises its priority does not undo it.
    const m2 = d1.mark;
    Vipd.writeConfig(dir, spec("d1", PRIO_MASTER + 10));
    expect(d1.proc.signal("SIGHUP")).toBe(true);
    await d1.log.waitFor((l) => l.text.includes('"config.reloaded"'), { from: m2, timeoutMs: WAIT_MS });
    // With the peer gone, nobody takes the VIP: that is what resigning asks for.
    await d2.stop();
    await sleep(3 * MASTER_DOWN_MS);
    expect(transitionsSince(d1, m2)).toEqual([]);
    expect(await vipHolders(lab)).toEqual([]);
    expect(resigned(d1)).toBe(true);

    const m3 = d1.mark;
    expect(cli(d1, "vrrp", "resume", "web")).toBe("web: resumed (now BACKUP)\n");
    await d1.waitForState("MASTER", { from: m3, timeoutMs: WAIT_MS });
    expect(
      await until(
        "the VIP on d1",
        () => vipHolders(lab),
        (h) => h.length === 1,
      ),
    ).toEqual(["d1"]);
    expect(resigned(d1)).toBe(false);
  });

  it("an unknown instance is refused with its code and the known names", async () => {
    const { d1 } = await pair(spec("d1", PRIO_MASTER), spec("d2", PRIO_BACKUP));
    let stderr = "";
    try {
      cli(d1, "vrrp", "resign", "wbe");
    } catch (err) {
      stderr = String((err as { stderr?: string }).stderr);
    }
    expect(stderr).toBe("vipd vrrp: VRRP_UNKNOWN_INSTANCE: no VRRP instance 'wbe' (instances: web)\n");
  });
});

describe("reload (SIGHUP)", () => {
  it("applies a valid config in place and ignores an invalid one", async () => {
    const { lab, dir, d1, d2 } = await pair(spec("d1", PRIO_MASTER), spec("d2", PRIO_BACKUP));
    await settled(lab, d1, d2);
    // d2's priority goes above d1's: d2 preempts without restarting its instance.
    const m2 = d2.mark;
    Vipd.writeConfig(dir, spec("d2", 200));
    expect(d2.proc.signal("SIGHUP")).toBe(true);
    await d2.log.waitFor((l) => l.text.includes('"vrrp.instance_updated"'), { from: m2, timeoutMs: WAIT_MS });
    await d2.log.waitFor((l) => l.text.includes('"config.reloaded"'), { from: m2, timeoutMs: WAIT_MS });
    await d2.waitForState("MASTER", { from: m2, timeoutMs: WAIT_MS });
    await settled(lab, d2, d1);

    // A config that does not validate changes nothing and is logged with FILE:LINE:COL errors.
    const m3 = d2.mark;
    dir.write(
      "d2.yaml",
      "node: d2\nvrrp:\n  instances:\n    - name: web\n      interface: eth0\n      vrid: 999\n",
    );
    expect(d2.proc.signal("SIGHUP")).toBe(true);
    const rejected = await d2.log.waitFor((l) => l.text.includes('"config.reload_rejected"'), {
      from: m3,
      timeoutMs: WAIT_MS,
    });
    const errors = (JSON.parse(rejected.text) as { errors: string[] }).errors;
    expect(errors.some((e) => /d2\.yaml:6:\d+: /.test(e))).toBe(true);
    await sleep(3 * MASTER_DOWN_MS);
    expect(transitionsSince(d2, m3)).toEqual([]);
    expect(await vipHolders(lab)).toEqual(["d2"]);
    expect(d2.running).toBe(true);
  });

  it("a removed instance resigns and drops its VIP; an added one joins", async () => {
    const { lab, dir, d1, d2 } = await pair(spec("d1", PRIO_MASTER), spec("d2", PRIO_BACKUP));
    await settled(lab, d1, d2);
    const m1 = d1.mark;
    const m2 = d2.mark;
    // Renaming is a removal plus an addition (same VRID and VIP under a new name).
    Vipd.writeConfig(dir, { node: "d1", instances: [instance(PRIO_MASTER, { name: "web-b" })] });
    expect(d1.proc.signal("SIGHUP")).toBe(true);
    // (The worker thread and the main thread log independently: wait for each line itself.)
    const removed = await d1.log.waitFor((l) => l.text.includes('"vrrp.vips_removed"'), {
      from: m1,
      timeoutMs: WAIT_MS,
    });
    expect(JSON.parse(removed.text)).toMatchObject({ instance: "web", vips: [VIP_CIDR] });
    await d1.log.waitFor((l) => l.text.includes('"config.reloaded"'), { from: m1, timeoutMs: WAIT_MS });
    const old = d1.transitions(m1, "web");
    expect(old.map((t) => `${t.from}→${t.to}:${t.reason}`)).toEqual(["MASTER→INIT:shutdown"]);
    // d2 took over on the priority-0 advert; then the new instance (priority 150) preempts it.
    const t = await d2.waitForState("MASTER", { from: m2, timeoutMs: WAIT_MS });
    expect(String(t.record.detail)).toMatch(/resigned \(priority 0\)/);
    await d1.waitForState("MASTER", { from: m1, instance: "web-b", timeoutMs: WAIT_MS });
    await until(
      "d1 (web-b) MASTER, d2 BACKUP, VIP only on d1",
      async () => ({ m: d1.state("web-b"), b: d2.state(), holders: await vipHolders(lab) }),
      (x) => x.m === "MASTER" && x.b === "BACKUP" && x.holders.length === 1 && x.holders[0] === "d1",
    );
  });
});

describe("an unresponsive main thread", () => {
  const blockMs = Math.ceil(2 * MASTER_DOWN_MS);

  async function withBlockHook<T>(ms: number, fn: () => Promise<T>): Promise<T> {
    const before = process.env.VIPD_DEBUG_BLOCK_MAIN_MS;
    process.env.VIPD_DEBUG_BLOCK_MAIN_MS = String(ms);
    try {
      return await fn();
    } finally {
      if (before === undefined) delete process.env.VIPD_DEBUG_BLOCK_MAIN_MS;
      else process.env.VIPD_DEBUG_BLOCK_MAIN_MS = before;
    }
  }

  it("(7) blocked for twice Master_Down_Interval while master: the backup does not take over", async () => {
    dl = await createDirectorLab({ prefix: "vrrpblock" });
    const { lab, dir } = dl;
    // heartbeat_timeout well above the block: this is about adverts, not the self-demote.
    const d1 = await withBlockHook(blockMs, () =>
      Vipd.start(lab, "d1", dir, spec("d1", PRIO_MASTER, {}, { heartbeatTimeoutMs: 5000 })),
    );
    started.push(d1);
    const d2 = await Vipd.start(lab, "d2", dir, spec("d2", PRIO_BACKUP, {}, { heartbeatTimeoutMs: 5000 }));
    started.push(d2);
    await settled(lab, d1, d2);
    const m1 = d1.mark;
    const m2 = d2.mark;
    expect(d1.proc.signal("SIGUSR2")).toBe(true);
    const blocked = await d1.log.waitFor((l) => l.text.includes('"debug.unblock_main"'), {
      from: m1,
      timeoutMs: WAIT_MS,
    });
    const rec = JSON.parse(blocked.text) as { ms: number };
    expect(rec.ms).toBeGreaterThanOrEqual(blockMs);
    // Anything the block caused would show within another Master_Down_Interval or two.
    await sleep(3 * MASTER_DOWN_MS);
    expect(transitionsSince(d2, m2)).toEqual([]);
    expect(transitionsSince(d1, m1)).toEqual([]);
    expect(d1.records(m1).some((r) => r.event === "vrrp.demote")).toBe(false);
    expect(await vipHolders(lab)).toEqual(["d1"]);
    expect(await clientGet(lab, VIP_URL)).toBe("d1");
  });

  it("(7b) blocked for longer than heartbeat_timeout: the worker self-demotes and says why", async () => {
    dl = await createDirectorLab({ prefix: "vrrpblock" });
    const { lab, dir } = dl;
    const hb = 300;
    const d1 = await withBlockHook(blockMs + 4 * hb, () =>
      Vipd.start(lab, "d1", dir, spec("d1", PRIO_MASTER, {}, { heartbeatTimeoutMs: hb })),
    );
    started.push(d1);
    const d2 = await Vipd.start(lab, "d2", dir, spec("d2", PRIO_BACKUP, {}, { heartbeatTimeoutMs: hb }));
    started.push(d2);
    await settled(lab, d1, d2);
    const m1 = d1.mark;
    const m2 = d2.mark;
    expect(d1.proc.signal("SIGUSR2")).toBe(true);
    const demote = await d1.log.waitFor((l) => l.text.includes('"vrrp.demote"'), {
      from: m1,
      timeoutMs: WAIT_MS,
    });
    expect(JSON.parse(demote.text)).toMatchObject({
      reason: expect.stringMatching(/main thread unresponsive/),
    });
    const resign = await d1.waitForState("BACKUP", { from: m1, timeoutMs: WAIT_MS });
    expect(resign.reason).toBe("demote");
    const t = await d2.waitForState("MASTER", { from: m2, timeoutMs: WAIT_MS });
    expect(String(t.record.detail)).toMatch(/priority 0/);
    // The main thread answers again: priorities are restored and d1 (preempting) takes back over.
    await d1.log.waitFor((l) => l.text.includes('"vrrp.demote_cleared"'), { from: m1, timeoutMs: WAIT_MS });
    await d1.waitForState("MASTER", { from: m1, timeoutMs: WAIT_MS });
    await settled(lab, d1, d2);
  });
});

describe("IPv6, VRRPv3", () => {
  it("(9) an IPv6 VIP fails over when the master's link goes down", async () => {
    const lab = await Lab.create({ prefix: "vrrpsix" });
    const dir = new RunDir("vrrpsix-");
    dl = {
      lab,
      dir,
      close: async () => {
        try {
          await lab.destroy();
        } finally {
          dir.remove();
        }
      },
    };
    const vip6 = "fd00:77::100";
    const vipCidr6 = `${vip6}/64`;
    await lab.bridge("lan");
    await lab.host("cl", { lan: "fd00:77::10/64" });
    await lab.host("d1", { lan: "fd00:77::1/64" });
    await lab.host("d2", { lan: "fd00:77::2/64" });
    const servers = ["d1", "d2"].map((d) => lab.spawn(d, [process.execPath, NAME_SERVER, d, "80", "::"]));
    await Promise.all(servers.map((p) => new LineLog(p).waitFor(/^listening/, { timeoutMs: WAIT_MS })));
    const v6 = { virtualIps: [vipCidr6] };
    const [d1, d2] = await Promise.all([
      Vipd.start(lab, "d1", dir, spec("d1", PRIO_MASTER, v6)),
      Vipd.start(lab, "d2", dir, spec("d2", PRIO_BACKUP, v6)),
    ]);
    started.push(d1, d2);
    const holds6 = async (host: string) =>
      (await lab.run(host, ["ip", "-6", "-o", "addr", "show", "dev", "eth0"])).includes(` ${vipCidr6} `);
    const holders6 = async () => {
      const h = await Promise.all(["d1", "d2"].map(holds6));
      return ["d1", "d2"].filter((_, i) => h[i]);
    };
    const url = `http://[${vip6}]:80/`;
    await until(
      "d1 MASTER and the only holder of the IPv6 VIP",
      async () => ({ s1: d1.state(), s2: d2.state(), holders: await holders6() }),
      (x) => x.s1 === "MASTER" && x.s2 === "BACKUP" && x.holders.length === 1 && x.holders[0] === "d1",
    );
    await until(
      "the client to be served by d1 over IPv6",
      () => clientGet(lab, url),
      (b) => b === "d1",
    );
    // The adverts' source is d1's link-local address, as VRRPv3 over IPv6 requires.
    const nas = await capture(lab, "icmp6 and ip6[40] == 136");
    const m2 = d2.mark;
    await lab.linkDown("d1");
    const t = await d2.waitForState("MASTER", { from: m2, timeoutMs: WAIT_MS });
    expect(t.reason).toBe("master_down");
    expect(String(t.record.detail)).toMatch(/^no advert from master fe80:/);
    // d2 announced the VIP with an unsolicited neighbour advertisement, from the VIP to all nodes.
    const mac2 = await macOf(lab, "d2");
    await nas.waitFor(
      new RegExp(
        `^${mac2} > 33:33:00:00:00:01.* ${vip6} > ff02::1: ICMP6, neighbor advertisement, tgt is ${vip6},`,
      ),
      { timeoutMs: WAIT_MS },
    );
    await until("d2 to be the only holder", holders6, (h) => h.length === 1 && h[0] === "d2");
    await until(
      "the client to be served by d2 over IPv6",
      () => clientGet(lab, url),
      (b) => b === "d2",
    );
  });
});
