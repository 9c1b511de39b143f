/**
 * The lab kernel harness: Debian's kernel under QEMU (TCG), the host's / over 9p. Each boot costs
 * seconds under emulation, so the checks that only read a healthy guest share one boot.
 */
import { spawn } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { beforeAll, describe, expect, it } from "vitest";
import { hasCode, VipdError } from "../../src/errors.js";
import {
  findLabKernel,
  LAB_RUN_PARENT,
  type LabKernel,
  type LabKernelResult,
  OWNER_FILE,
  RUN_DIR_PREFIX,
  runInLabKernel,
  sweepStaleLabKernelRuns,
} from "./harness/lab-kernel.js";
import { pidAlive, processIdentity, waitGone } from "./harness/proc.js";

const kernel = findLabKernel();

/** Splits output printed as "== name" sections. */
function sections(output: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of output.split(/^== /m).slice(1)) {
    const nl = part.indexOf("\n");
    out[part.slice(0, nl)] = part.slice(nl + 1);
  }
  return out;
}

describe("runInLabKernel, one healthy boot", () => {
  let r: LabKernelResult;
  let s: Record<string, string>;
  beforeAll(async () => {
    r = await runInLabKernel({
      script: [
        "echo '== release'; uname -r",
        "echo '== cmdline'; cat /proc/cmdline",
        "echo '== ipvs'",
        "modprobe -a ip_vs ip_vs_rr ip_vs_wlc",
        "ipvsadm -A -t 10.0.0.1:80 -s rr",
        "ipvsadm -a -t 10.0.0.1:80 -r 10.0.0.21:80 -g -w 2",
        "ipvsadm -Ln",
        "grep -E '^ip_vs(_rr|_wlc)? ' /proc/modules | cut -d' ' -f1 | sort",
        "echo '== node'",
        "node -e 'console.log(6 * 7)' && node test/lab/fixtures/kernel-node-probe.mjs",
        "echo '== typescript'",
        `node --import ./test/lab/fixtures/ts-loader.mjs --input-type=module -e '
          const { VipdError } = await import("./src/errors.ts");
          console.log(new VipdError("LAB_PROBE", "ok").code);'`,
        "echo '== netns'",
        "node --import ./test/lab/fixtures/ts-loader.mjs test/lab/fixtures/kernel-netns-probe.mjs",
        'echo "left: $(ip netns list | wc -l)"',
        "echo '== end'",
      ].join("\n"),
      timeoutMs: 300_000,
    });
    s = sections(r.output);
  }, 320_000);

  it("boots Debian's kernel, not the host's, runs the script and cleans up after itself", () => {
    expect(r.code).toBe(0);
    expect(s.release?.trim()).toBe(kernel.release);
    // The guest, not the host (whose kernel may well be the same Debian release).
    expect(s.cmdline).toMatch(/\bvipd_init=\/tmp\/vipd-lab-kernel-/);
    expect(r.kernelLog).toContain("@@VIPD-LAB-BEGIN@@");
    expect(r.kernelLog).toContain("@@VIPD-LAB-EXIT 0@@");
    // Kernel messages stay in kernelLog; the script's output is exactly what it printed.
    expect(r.output).not.toContain("@@VIPD-LAB");
    expect(existsSync(r.runDir)).toBe(false);
    expect(pidAlive(r.pid)).toBe(false);
  });

  it("has real IPVS: modprobe the modules, add a service, list it with ipvsadm", () => {
    const ipvs = s.ipvs ?? "";
    expect(ipvs).toMatch(/IP Virtual Server version 1\.2\.1/);
    expect(ipvs).toMatch(/^TCP {2}10\.0\.0\.1:80 rr\s*$/m);
    expect(ipvs).toMatch(/^ {2}-> 10\.0\.0\.21:80\s+Route\s+2\s+0\s+0\s*$/m);
    expect(ipvs).toMatch(/^ip_vs\nip_vs_rr\nip_vs_wlc$/m);
  });

  it("runs the host's node inside the guest from the project directory", () => {
    const [first, second] = (s.node ?? "").trim().split("\n");
    expect(first).toBe("42");
    const probe = JSON.parse(second ?? "{}");
    expect(probe).toEqual({ release: kernel.release, cwd: process.cwd(), node: process.version, value: 42 });
  });

  it("can import the project's TypeScript sources through the fixtures' loader", () => {
    expect(s.typescript).toBe("LAB_PROBE\n");
  });

  it("runs the netns harness inside the guest: a bridge and two hosts that ping over v4 and v6", () => {
    const [json, left] = (s.netns ?? "").trim().split("\n");
    const probe = JSON.parse(json ?? "{}");
    expect(probe).toMatchObject({ v4: 0, v6: 0 });
    expect(probe.namespaces).toEqual([`${probe.id}-lan`, `${probe.id}-a`, `${probe.id}-b`]);
    expect(left).toBe("left: 0");
    // Those namespaces lived in the guest's /run/netns only.
    expect(existsSync(`/run/netns/${probe.id}-a`)).toBe(false);
  });
});

describe("runInLabKernel", () => {
  it("returns the script's exit status, passes env, keeps /run and TMPDIR on the guest's tmpfs, uses the given cwd", async () => {
    const r = await runInLabKernel({
      script:
        'echo "$GREETING"; pwd; stat -f -c %T /run; stat -f -c %T "$TMPDIR"; ip netns add t1; ip netns list\nexit 3\necho after\n',
      env: { GREETING: "hello 'quoted' world" },
      cwd: "/usr/share",
      timeoutMs: 120_000,
    });
    expect(r.code).toBe(3);
    expect(r.output).toBe(["hello 'quoted' world", "/usr/share", "tmpfs", "tmpfs", "t1", ""].join("\n"));
    // The guest's /run/netns is its own: nothing appeared on the host.
    expect(existsSync("/run/netns/t1")).toBe(false);
  });

  it("kills the guest on timeout and reports LAB_KERNEL_TIMEOUT with what it printed", async () => {
    // Room for a slow TCG boot before the script prints; the timeout is what is tested.
    const err = await runInLabKernel({ script: "echo started\nsleep 600\n", timeoutMs: 40_000 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(hasCode(err, "LAB_KERNEL_TIMEOUT")).toBe(true);
    const ctx = (err as VipdError).context as { pid: number; runDir: string; output: string };
    expect(err).toBeInstanceOf(VipdError);
    expect(ctx.output).toContain("started");
    expect(pidAlive(ctx.pid)).toBe(false);
    expect(existsSync(ctx.runDir)).toBe(false);
  });

  it("names the cause when the kernel cannot boot (here: an initramfs with no init), instead of a bare failure", async () => {
    const dir = mkdtempSync(join(LAB_RUN_PARENT, "vipd-lab-broken-"));
    try {
      // An empty newc archive: the kernel finds no /init and no root device, and panics.
      writeFileSync(
        join(dir, "initrd.gz"),
        gzipSync(Buffer.from(`070701${"0".repeat(94)}0000000bTRAILER!!!\0\0\0\0`)),
      );
      const broken: LabKernel = { ...kernel, initrd: join(dir, "initrd.gz") };
      const err = await runInLabKernel({ script: "true\n", kernel: broken, timeoutMs: 120_000 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(hasCode(err, "LAB_KERNEL_NO_EXIT_STATUS")).toBe(true);
      expect((err as Error).message).toMatch(/kernel panic: VFS: Unable to mount root fs/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("says how to prepare the kernel when the cache has none, or an incomplete one", () => {
    const cache = mkdtempSync(join(LAB_RUN_PARENT, "vipd-lab-cache-"));
    try {
      expect(() => findLabKernel(cache)).toThrow(/no lab kernel in .*: run scripts\/lab-kernel\.sh/);
      writeFileSync(join(cache, "current"), `${kernel.release}\n`);
      mkdirSync(join(cache, kernel.release));
      copyFileSync(kernel.vmlinuz, join(cache, kernel.release, "vmlinuz"));
      symlinkSync(kernel.modules, join(cache, kernel.release, "modules"));
      expect(() => findLabKernel(cache)).toThrow(
        /incomplete \(.*initrd\.gz is missing\): run scripts\/lab-kernel\.sh/,
      );
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  });

  it("sweepStaleLabKernelRuns removes run directories of dead runners and kills their QEMUs, and only those", async () => {
    const gone = spawn("true");
    await new Promise((r) => gone.on("exit", r));
    // Stands in for a QEMU left running: detached, so it leads its own process group.
    const qemu = spawn("sleep", ["3600"], { detached: true, stdio: "ignore" });
    const qemuPid = qemu.pid!;
    const stale = mkdtempSync(join(LAB_RUN_PARENT, RUN_DIR_PREFIX));
    const live = mkdtempSync(join(LAB_RUN_PARENT, RUN_DIR_PREFIX));
    try {
      writeFileSync(join(stale, OWNER_FILE), `owner ${gone.pid} 1\nkernel ${processIdentity(qemuPid)}\n`);
      writeFileSync(join(live, OWNER_FILE), `owner ${processIdentity(process.pid)}\n`);

      const removed = sweepStaleLabKernelRuns();

      expect(removed).toContain(stale);
      expect(removed).not.toContain(live);
      expect(existsSync(stale)).toBe(false);
      expect(existsSync(live)).toBe(true);
      expect(await waitGone([qemuPid], 5000)).toEqual([]);
    } finally {
      if (pidAlive(qemuPid)) process.kill(qemuPid, "SIGKILL");
      rmSync(stale, { recursive: true, force: true });
      rmSync(live, { recursive: true, force: true });
    }
  });
});
