import { spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { hasCode } from "../../src/errors.js";
import { Lab, MARKER_DIR, NETNS_DIR, sweepStale, withLab } from "./harness/netns.js";
import { pidAlive, processIdentity, waitGone } from "./harness/proc.js";

const PREFIX = "vipd";
const FIXTURES = fileURLToPath(new URL("./fixtures/", import.meta.url));

function namespacesOf(id: string): string[] {
  return readdirSync(NETNS_DIR).filter((ns) => ns.startsWith(`${id}-`));
}

function ipNetnsList(): string {
  return spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout;
}

describe("two hosts on a bridge", () => {
  let lab: Lab;

  beforeAll(async () => {
    lab = await Lab.create({ prefix: PREFIX });
    await lab.bridge("lan");
    await lab.host("d1", { lan: "10.77.0.1/24", ipv6: "fd00:77::1/64" });
    await lab.host("d2", { lan: ["10.77.0.2/24", "fd00:77::2/64"] });
  });

  afterAll(async () => {
    await lab?.destroy();
  });

  it("names every namespace <prefix>-<6 hex>-<name> and exposes its /run/netns path", () => {
    expect(lab.id).toMatch(/^vipd-[0-9a-f]{6}$/);
    expect(lab.nsName("d1")).toBe(`${lab.id}-d1`);
    expect(lab.nsPath("d1")).toBe(`/run/netns/${lab.id}-d1`);
    expect(existsSync(lab.nsPath("d1"))).toBe(true);
    expect(namespacesOf(lab.id).sort()).toEqual([`${lab.id}-d1`, `${lab.id}-d2`, `${lab.id}-lan`]);
    expect(lab.hostInfo("d2").interfaces).toEqual({ lan: "eth0" });
  });

  it("configures eth0 with its addresses and lo up inside the host", async () => {
    const addrs = await lab.run("d2", ["ip", "-br", "addr", "show", "dev", "eth0"]);
    expect(addrs).toContain("10.77.0.2/24");
    expect(addrs).toContain("fd00:77::2/64");
    expect(addrs).toMatch(/^eth0@\S+\s+UP\s/);
    const lo = await lab.run("d1", ["ip", "-br", "addr", "show", "dev", "lo"]);
    expect(lo).toContain("127.0.0.1/8");
    // DAD is off: the address is usable at once, not "tentative".
    const v6 = await lab.run("d1", ["ip", "-6", "addr", "show", "dev", "eth0"]);
    expect(v6).toContain("fd00:77::1/64");
    expect(v6).not.toContain("tentative");
  });

  it("ping works both ways over IPv4 and IPv6", async () => {
    for (const [from, to] of [
      ["d1", "10.77.0.2"],
      ["d2", "10.77.0.1"],
      ["d1", "fd00:77::2"],
      ["d2", "fd00:77::1"],
    ] as const) {
      const r = await lab.exec(from, ["ping", "-n", "-c", "1", "-w", "5", to]);
      expect({ from, to, code: r.code }).toEqual({ from, to, code: 0 });
      expect(r.stdout).toContain(`from ${to}`);
    }
  });

  it("linkDown breaks connectivity and linkUp restores it", async () => {
    await lab.linkDown("d2");
    const state = await lab.run("d2", ["ip", "-br", "link", "show", "dev", "eth0"]);
    expect(state).toMatch(/\sDOWN\s/);
    const v4 = await lab.exec("d1", ["ping", "-n", "-c", "1", "-W", "1", "10.77.0.2"]);
    expect(v4.code).not.toBe(0);
    const v6 = await lab.exec("d1", ["ping", "-n", "-c", "1", "-W", "1", "fd00:77::2"]);
    expect(v6.code).not.toBe(0);

    await lab.linkUp("d2");
    const back4 = await lab.exec("d1", ["ping", "-n", "-c", "1", "-w", "5", "10.77.0.2"]);
    expect(back4.code).toBe(0);
    const back6 = await lab.exec("d1", ["ping", "-n", "-c", "1", "-w", "5", "fd00:77::2"]);
    expect(back6.code).toBe(0);
  });

  it("exec reports stdout, stderr and the exit code without throwing; run throws a coded error", async () => {
    const r = await lab.exec("d1", ["sh", "-c", "echo out; echo err >&2; exit 7"]);
    expect(r).toEqual({ stdout: "out\n", stderr: "err\n", code: 7, signal: null });
    const withInput = await lab.exec("d1", ["cat"], { input: "fed via stdin" });
    expect(withInput.stdout).toBe("fed via stdin");
    await expect(lab.run("d1", ["false"])).rejects.toSatisfy((e) => hasCode(e, "LAB_COMMAND_FAILED"));
    await expect(lab.exec("d1", ["sleep", "30"], { timeoutMs: 200 })).rejects.toSatisfy((e) =>
      hasCode(e, "LAB_EXEC_TIMEOUT"),
    );
  });

  it("spawned processes run inside the host's namespace and their output is captured", async () => {
    const p = lab.spawn("d2", ["sh", "-c", "ip -br addr show dev eth0; echo ready; exec sleep 3600"]);
    const m = await p.waitForOutput(/ready/);
    expect(m[0]).toBe("ready");
    expect(p.output).toContain("10.77.0.2/24");
    expect(pidAlive(p.pid)).toBe(true);
    // The PID is the command's own (ip netns exec execs it), so signals reach it directly.
    const status = await p.stop();
    expect(status).toEqual({ code: null, signal: "SIGTERM" });
    expect(pidAlive(p.pid)).toBe(false);
  });

  it("waitForOutput fails with a coded error when the process exits first", async () => {
    const p = lab.spawn("d1", ["sh", "-c", "echo bye"]);
    await expect(p.waitForOutput(/never printed/)).rejects.toSatisfy((e) => hasCode(e, "LAB_PROCESS_EXITED"));
    expect(await p.exited).toEqual({ code: 0, signal: null });
  });
});

describe("host options", () => {
  let lab: Lab | undefined;
  afterEach(async () => {
    await lab?.destroy();
    lab = undefined;
  });

  it("applies sysctls after the interfaces exist, routes, and one interface per bridge", async () => {
    lab = await Lab.create({ prefix: PREFIX });
    await lab.bridge("lan");
    await lab.bridge("wan");
    const info = await lab.host("r1", {
      lan: "10.77.1.21/24",
      wan: "10.78.1.21/24",
      sysctls: { "net.ipv4.conf.eth0.arp_ignore": 1, "net.ipv4.conf.all.arp_announce": 2 },
      routes: ["10.99.0.0/16 via 10.77.1.1"],
    });
    expect(info.interfaces).toEqual({ lan: "eth0", wan: "eth1" });
    const vals = await lab.run("r1", [
      "cat",
      "/proc/sys/net/ipv4/conf/eth0/arp_ignore",
      "/proc/sys/net/ipv4/conf/all/arp_announce",
      "/proc/sys/net/ipv6/conf/eth1/accept_dad",
    ]);
    expect(vals.split("\n").slice(0, 3)).toEqual(["1", "2", "0"]);
    expect(await lab.run("r1", ["ip", "route", "show", "10.99.0.0/16"])).toContain("via 10.77.1.1 dev eth0");
    expect(await lab.run("r1", ["ip", "-br", "addr", "show", "dev", "eth1"])).toContain("10.78.1.21/24");
    // The bridge namespace holds br0 with one port per attached host.
    const ports = await lab.run("lan", ["ip", "-br", "link", "show", "master", "br0"]);
    expect(ports).toMatch(/^vr1@/);
  });

  it("rejects unknown bridges, bad and duplicate names with coded errors", async () => {
    lab = await Lab.create({ prefix: PREFIX });
    await expect(lab.host("x", { nobridge: "10.0.0.1/24" })).rejects.toSatisfy((e) =>
      hasCode(e, "LAB_NO_SUCH_BRIDGE"),
    );
    await expect(lab.host("Bad-Name", {})).rejects.toSatisfy((e) => hasCode(e, "LAB_BAD_NAME"));
    await lab.bridge("lan");
    await expect(lab.bridge("lan")).rejects.toSatisfy((e) => hasCode(e, "LAB_DUPLICATE_NAME"));
    expect(() => lab!.nsName("nope")).toThrow(expect.objectContaining({ code: "LAB_NO_SUCH_HOST" }));
  });
});

describe("cleanup", () => {
  it("destroy deletes every namespace of the run and kills spawned and stray processes", async () => {
    const lab = await Lab.create({ prefix: PREFIX, graceMs: 300 });
    await lab.bridge("lan");
    await lab.host("a", { lan: "10.77.2.1/24" });
    await lab.host("b", { lan: "10.77.2.2/24" });
    const tracked = lab.spawn("a", ["sleep", "3600"]);
    // One that ignores SIGTERM, so only the SIGKILL after the grace period ends it.
    const stubborn = lab.spawn("b", ["sh", "-c", "trap '' TERM; echo armed; while :; do sleep 1; done"]);
    await stubborn.waitForOutput("armed");
    // And one the harness never saw: started by a command that backgrounded it and returned.
    const stray = Number((await lab.run("b", ["sh", "-c", "sleep 3600 >/dev/null 2>&1 & echo $!"])).trim());
    expect(pidAlive(tracked.pid) && pidAlive(stubborn.pid) && pidAlive(stray)).toBe(true);
    expect(ipNetnsList()).toContain(lab.id);
    expect(existsSync(`${MARKER_DIR}/${lab.id}.pid`)).toBe(true);

    await lab.destroy();

    expect(ipNetnsList()).not.toContain(lab.id);
    expect(namespacesOf(lab.id)).toEqual([]);
    expect(existsSync(`${MARKER_DIR}/${lab.id}.pid`)).toBe(false);
    expect(await waitGone([tracked.pid, stubborn.pid, stray], 5000)).toEqual([]);
    expect(stubborn.exitStatus).toEqual({ code: null, signal: "SIGKILL" });
    await expect(lab.host("c", {})).rejects.toSatisfy((e) => hasCode(e, "LAB_DESTROYED"));
    await lab.destroy(); // idempotent
  });

  it("withLab destroys the lab when the test body throws", async () => {
    let id = "";
    let pid = 0;
    const failing = withLab({ prefix: PREFIX }, async (lab) => {
      id = lab.id;
      await lab.bridge("lan");
      await lab.host("a", { lan: "10.77.3.1/24" });
      pid = lab.spawn("a", ["sleep", "3600"]).pid;
      expect(namespacesOf(id)).toHaveLength(2);
      throw new Error("assertion failed half-way");
    });
    await expect(failing).rejects.toThrow("assertion failed half-way");
    expect(id).not.toBe("");
    expect(namespacesOf(id)).toEqual([]);
    expect(pidAlive(pid)).toBe(false);
  });

  describe("when the owning process dies", () => {
    const children: number[] = [];
    afterAll(() => {
      for (const pid of children) if (pidAlive(pid)) process.kill(pid, "SIGKILL");
      sweepStale("vipdx");
    });

    /** Starts the owner fixture, waits for its JSON line; resolves with it and the child. */
    async function startOwner(mode: string) {
      const child = spawn(
        process.execPath,
        ["--import", `${FIXTURES}ts-loader.mjs`, `${FIXTURES}netns-owner-child.mjs`, "vipdx", mode],
        { stdio: ["ignore", "pipe", "pipe"] },
      );
      children.push(child.pid!);
      let out = "";
      let err = "";
      child.stderr.on("data", (d) => {
        err += d;
      });
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
        child.on("exit", (code, signal) => resolve({ code, signal })),
      );
      const info = await new Promise<{ id: string; namespaces: string[]; pid: number }>((resolve, reject) => {
        child.stdout.on("data", (d) => {
          out += d;
          const line = out.split("\n")[0];
          if (out.includes("\n") && line) resolve(JSON.parse(line));
        });
        child.on("exit", () => reject(new Error(`owner exited early: ${err}`)));
      });
      return { child, info, exited, stderr: () => err };
    }

    it("an uncaught exception still deletes its namespaces and kills its processes ('exit' handler)", async () => {
      const { info, exited, stderr } = await startOwner("throw");
      expect(info.namespaces).toHaveLength(2);
      expect((await exited).code).toBe(1);
      expect(stderr()).toContain("deliberate failure after creating a lab");
      expect(namespacesOf(info.id)).toEqual([]);
      expect(existsSync(`${MARKER_DIR}/${info.id}.pid`)).toBe(false);
      expect(await waitGone([info.pid], 5000)).toEqual([]);
    });

    it("SIGTERM deletes its namespaces and the process still dies of the signal", async () => {
      const { child, info, exited } = await startOwner("signal");
      expect(namespacesOf(info.id).sort()).toEqual([...info.namespaces].sort());
      expect(pidAlive(info.pid)).toBe(true);
      child.kill("SIGTERM");
      expect(await exited).toEqual({ code: null, signal: "SIGTERM" });
      expect(namespacesOf(info.id)).toEqual([]);
      expect(await waitGone([info.pid], 5000)).toEqual([]);
    });

    it("after SIGKILL nothing runs, and sweepStale removes the dead run's namespaces and processes", async () => {
      const { child, info, exited } = await startOwner("hang");
      // The owner is alive: a sweep must leave its run alone.
      expect(sweepStale("vipdx").namespaces).toEqual([]);
      expect(namespacesOf(info.id)).toHaveLength(2);
      child.kill("SIGKILL");
      await exited;
      expect(namespacesOf(info.id)).toHaveLength(2); // left behind: no handler runs on SIGKILL
      expect(pidAlive(info.pid)).toBe(true);

      const report = sweepStale("vipdx");

      expect(report.namespaces.sort()).toEqual([...info.namespaces].sort());
      expect(report.markers).toEqual([info.id]);
      expect(report.killedPids).toContain(info.pid);
      expect(namespacesOf(info.id)).toEqual([]);
      expect(existsSync(`${MARKER_DIR}/${info.id}.pid`)).toBe(false);
      expect(await waitGone([info.pid], 5000)).toEqual([]);
    });
  });

  it("sweepStale touches only namespaces of its prefix whose owner is dead", async () => {
    // A dead owner: a process that ran and exited (its pid + start time can never match again).
    const gone = spawn("true");
    await new Promise((r) => gone.on("exit", r));
    const deadIdentity = `${gone.pid} 1`;
    const liveIdentity = processIdentity(process.pid)!;
    const made: string[] = [];
    const add = (ns: string): void => {
      spawnSync("ip", ["netns", "add", ns]);
      made.push(ns);
    };
    try {
      add("vipdy-0a0b0c-x"); // dead owner → swept
      writeFileSync(`${MARKER_DIR}/vipdy-0a0b0c.pid`, `${deadIdentity}\n`);
      add("vipdy-1a1b1c-x"); // live owner → kept
      writeFileSync(`${MARKER_DIR}/vipdy-1a1b1c.pid`, `${liveIdentity}\n`);
      add("vipdy-2a2b2c-x"); // our shape, no marker at all → an orphan, swept
      add("vipdy-zzzzzz-x"); // not our shape → kept
      add("vipdyy-3a3b3c-x"); // another prefix → kept
      add("vipdy3a3b3c-x"); // no dash after the prefix → kept

      const report = sweepStale("vipdy");

      expect(report.namespaces.sort()).toEqual(["vipdy-0a0b0c-x", "vipdy-2a2b2c-x"]);
      expect(report.markers).toEqual(["vipdy-0a0b0c"]);
      const left = readdirSync(NETNS_DIR);
      expect(left).not.toContain("vipdy-0a0b0c-x");
      expect(left).not.toContain("vipdy-2a2b2c-x");
      for (const kept of ["vipdy-1a1b1c-x", "vipdy-zzzzzz-x", "vipdyy-3a3b3c-x", "vipdy3a3b3c-x"]) {
        expect(left).toContain(kept);
      }
      expect(existsSync(`${MARKER_DIR}/vipdy-1a1b1c.pid`)).toBe(true);
    } finally {
      for (const ns of made) spawnSync("ip", ["netns", "del", ns]);
      spawnSync("rm", ["-f", `${MARKER_DIR}/vipdy-0a0b0c.pid`, `${MARKER_DIR}/vipdy-1a1b1c.pid`]);
    }
    expect(made.filter((ns) => existsSync(`${NETNS_DIR}/${ns}`))).toEqual([]);
  });
});
