import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { hasCode, VipdError } from "../../src/errors.js";
import { pidAlive, processIdentity, waitGone } from "./harness/proc.js";
import { OWNER_FILE, runInUml, sweepStaleUml, UML_MODULES, UML_RUN_PARENT } from "./harness/uml.js";

// The guest kernel's version is the one directory under the UML modules tree.
const umlRelease = readdirSync(UML_MODULES).find((d) => /^\d+\.\d+/.test(d));

describe("runInUml", () => {
  it("boots the UML kernel and runs the script in it; the run directory is gone afterwards", async () => {
    const r = await runInUml({ script: "uname -r\n", timeoutMs: 60_000 });
    expect(r.code).toBe(0);
    expect(r.output.trim()).toBe(umlRelease);
    expect(r.kernelLog).toContain("@@VIPD-UML-EXIT 0@@");
    expect(r.kernelLog).toMatch(/Linux version \d/);
    // Kernel messages stay in kernelLog; the script's output is exactly what it printed.
    expect(r.output).not.toContain("@@VIPD-UML");
    expect(existsSync(r.runDir)).toBe(false);
    expect(pidAlive(r.pid)).toBe(false);
  });

  it("has real IPVS: modprobe the modules, add a service, list it with ipvsadm", async () => {
    const r = await runInUml({
      script: [
        "set -e",
        "modprobe -a ip_vs ip_vs_rr ip_vs_wlc",
        "ipvsadm -A -t 10.0.0.1:80 -s rr",
        "ipvsadm -a -t 10.0.0.1:80 -r 10.0.0.21:80 -g -w 2",
        "ipvsadm -Ln",
        "grep -E '^ip_vs(_rr|_wlc)? ' /proc/modules | cut -d' ' -f1 | sort",
      ].join("\n"),
      timeoutMs: 60_000,
    });
    expect(r.code).toBe(0);
    expect(r.output).toMatch(/IP Virtual Server version 1\.2\.1/);
    expect(r.output).toMatch(/^TCP {2}10\.0\.0\.1:80 rr\s*$/m);
    expect(r.output).toMatch(/^ {2}-> 10\.0\.0\.21:80\s+Route\s+2\s+0\s+0\s*$/m);
    expect(r.output).toMatch(/^ip_vs\nip_vs_rr\nip_vs_wlc$/m);
  });

  it("returns the script's exit status", async () => {
    const r = await runInUml({ script: "echo before\nexit 3\necho after\n", timeoutMs: 60_000 });
    expect(r.code).toBe(3);
    expect(r.output).toBe("before\n");
  });

  it("runs the host's node inside the guest from the project directory", async () => {
    const r = await runInUml({
      script: "node -e 'console.log(6 * 7)' && node test/lab/fixtures/uml-node-probe.mjs\n",
      timeoutMs: 60_000,
    });
    expect(r.code).toBe(0);
    const [first, second] = r.output.trim().split("\n");
    expect(first).toBe("42");
    const probe = JSON.parse(second ?? "{}");
    expect(probe).toEqual({ release: umlRelease, cwd: process.cwd(), node: process.version, value: 42 });
  });

  it("can import the project's TypeScript sources through the fixtures' loader", async () => {
    const r = await runInUml({
      script: `node --import ./test/lab/fixtures/ts-loader.mjs --input-type=module -e '
        const { VipdError } = await import("./src/errors.ts");
        console.log(new VipdError("UML_PROBE", "ok").code);'
      `,
      timeoutMs: 90_000,
    });
    expect({ code: r.code, output: r.output }).toEqual({ code: 0, output: "UML_PROBE\n" });
  });

  it("runs the netns harness inside the guest: a bridge and two hosts that ping over v4 and v6", async () => {
    const r = await runInUml({
      script: [
        "node --import ./test/lab/fixtures/ts-loader.mjs test/lab/fixtures/uml-netns-probe.mjs",
        'echo "left: $(ip netns list | wc -l)"',
      ].join("\n"),
      timeoutMs: 90_000,
    });
    expect(r.code).toBe(0);
    const [json, left] = r.output.trim().split("\n");
    const probe = JSON.parse(json ?? "{}");
    expect(probe).toMatchObject({ v4: 0, v6: 0 });
    expect(probe.namespaces).toEqual([`${probe.id}-lan`, `${probe.id}-a`, `${probe.id}-b`]);
    expect(left).toBe("left: 0");
    // Those namespaces lived in the guest's /run/netns only.
    expect(existsSync(`/run/netns/${probe.id}-a`)).toBe(false);
  });

  it("passes env, keeps /run and TMPDIR on the guest's tmpfs, and uses the given cwd", async () => {
    const r = await runInUml({
      script:
        'echo "$GREETING"; pwd; stat -f -c %T /run; stat -f -c %T "$TMPDIR"; ip netns add t1; ip netns list\n',
      env: { GREETING: "hello 'quoted' world" },
      cwd: "/usr/share",
      timeoutMs: 60_000,
    });
    expect(r.code).toBe(0);
    expect(r.output.split("\n").slice(0, 5)).toEqual([
      "hello 'quoted' world",
      "/usr/share",
      "tmpfs",
      "tmpfs",
      "t1",
    ]);
    // The guest's /run/netns is its own: nothing appeared on the host.
    expect(existsSync("/run/netns/t1")).toBe(false);
  });

  it("kills the guest on timeout and reports UML_TIMEOUT with what it printed", async () => {
    const err = await runInUml({ script: "echo started\nsleep 600\n", timeoutMs: 4000 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(hasCode(err, "UML_TIMEOUT")).toBe(true);
    const ctx = (err as VipdError).context as { pid: number; runDir: string; output: string };
    expect(err).toBeInstanceOf(VipdError);
    expect(ctx.output).toContain("started");
    expect(pidAlive(ctx.pid)).toBe(false);
    expect(existsSync(ctx.runDir)).toBe(false);
  });

  it("sweepStaleUml removes run directories of dead runners and kills their kernels, and only those", async () => {
    const gone = spawn("true");
    await new Promise((r) => gone.on("exit", r));
    // Stands in for a UML kernel left running: detached, so it leads its own process group.
    const kernel = spawn("sleep", ["3600"], { detached: true, stdio: "ignore" });
    const kernelPid = kernel.pid!;
    const stale = mkdtempSync(join(UML_RUN_PARENT, "vipd-uml-"));
    const live = mkdtempSync(join(UML_RUN_PARENT, "vipd-uml-"));
    try {
      writeFileSync(join(stale, OWNER_FILE), `owner ${gone.pid} 1\nkernel ${processIdentity(kernelPid)}\n`);
      writeFileSync(join(live, OWNER_FILE), `owner ${processIdentity(process.pid)}\n`);

      const removed = sweepStaleUml();

      expect(removed).toContain(stale);
      expect(removed).not.toContain(live);
      expect(existsSync(stale)).toBe(false);
      expect(existsSync(live)).toBe(true);
      expect(await waitGone([kernelPid], 5000)).toEqual([]);
    } finally {
      if (pidAlive(kernelPid)) process.kill(kernelPid, "SIGKILL");
      rmSync(stale, { recursive: true, force: true });
      rmSync(live, { recursive: true, force: true });
    }
  });
});
