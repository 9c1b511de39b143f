/**
 * Runs a bash script inside the lab kernel: Debian's own amd64 kernel (with IPVS), booted under
 * QEMU in TCG mode with the host filesystem as its root over virtio-9p and a generated init as
 * PID 1. scripts/lab-kernel.sh prepares the kernel and its initramfs (docs/lab.md says why this
 * and not User-Mode Linux or KVM).
 *
 *   const r = await runInLabKernel({ script: "modprobe -a ip_vs && ipvsadm -Ln", timeoutMs: 120_000 });
 *   r.code      // the script's exit status
 *   r.output    // the script's stdout+stderr, exactly (no kernel messages)
 *   r.kernelLog // the serial console: firmware, boot and kernel messages, plus the harness's markers
 *
 * Inside the guest: proc, sysfs, devtmpfs, a tmpfs on /run (so /run/netns and pid files stay in
 * the guest) and on /dev/shm, the kernel's modules bind-mounted on /lib/modules, lo up, PATH
 * including the host's node, HOME and TMPDIR on the guest tmpfs, the working directory the
 * caller's (default: this process's cwd, i.e. the project). Everything else IS the host
 * filesystem: writes under /tmp, /etc, the project… are real writes on the host. Keep scratch
 * state in $TMPDIR.
 *
 * Per run, a directory /tmp/vipd-lab-kernel-XXXXXX holds the init, the script, the script's
 * output file (written by the guest through 9p) and an owner file; it is removed when the run
 * ends. QEMU runs detached in its own process group; on timeout the group is killed (SIGKILL)
 * while its leader is still ours. A guest-side watchdog powers the guest off a few seconds after
 * the timeout even if this process died, and {@link sweepStaleLabKernelRuns} removes what a
 * killed runner left behind.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { VipdError } from "../../../src/errors.js";
import {
  identityAlive,
  onProcessExit,
  processGroupMembers,
  processIdentity,
  signalPid,
  waitGone,
} from "./proc.js";

export const PROJECT_ROOT = fileURLToPath(new URL("../../../", import.meta.url));
export const QEMU = "qemu-system-x86_64";
/** Where per-run directories go: on the host disk, visible to the guest at the same path. */
export const LAB_RUN_PARENT = "/tmp";
export const RUN_DIR_PREFIX = "vipd-lab-kernel-";

export const EXIT_MARKER_RE = /@@VIPD-LAB-EXIT (\d+)@@/g;
const LOG_CAP = 8 * 1024 * 1024;

/** The prepared kernel: what scripts/lab-kernel.sh leaves in its cache. */
export interface LabKernel {
  /** The kernel release, e.g. 6.1.0-57-amd64 (what `uname -r` prints in the guest). */
  release: string;
  vmlinuz: string;
  initrd: string;
  /** Bind-mounted on the guest's /lib/modules. */
  modules: string;
}

export interface LabKernelOptions {
  /** Bash script run inside the guest, from `cwd`, with stdin from /dev/null. */
  script: string;
  /** Kill the guest and reject with LAB_KERNEL_TIMEOUT after this long (boot included). Default 120 s. */
  timeoutMs?: number;
  /** Guest memory in MiB; default 2048. */
  memMb?: number;
  /** Virtual CPUs; default 2 (TCG runs one host thread per vCPU). */
  cpus?: number;
  /** Working directory inside the guest (the same host path, through 9p). Default process.cwd(). */
  cwd?: string;
  /** Extra environment for the script. */
  env?: Record<string, string>;
  /** Receives console text as it arrives (e.g. `(s) => process.stderr.write(s)` to watch a boot). */
  onConsole?: (text: string) => void;
  /** The kernel to boot; default {@link findLabKernel}(). */
  kernel?: LabKernel;
}

export interface LabKernelResult {
  /** The script's exit status. */
  code: number;
  /** The script's stdout and stderr. */
  output: string;
  /** Everything the serial console printed (carriage returns removed). */
  kernelLog: string;
  /** From spawning QEMU to its exit. */
  durationMs: number;
  /** PID of the QEMU process (gone by now). */
  pid: number;
  /** The per-run directory (removed by now). */
  runDir: string;
}

/** The cache folder scripts/lab-kernel.sh fills; $VIPD_LAB_CACHE overrides it (for both). */
export function labKernelCache(): string {
  return process.env.VIPD_LAB_CACHE ?? join(PROJECT_ROOT, ".vipd-lab", "kernel");
}

/** The kernel scripts/lab-kernel.sh prepared; LAB_KERNEL_MISSING (saying how to prepare it) if none. */
export function findLabKernel(cache = labKernelCache()): LabKernel {
  let release: string;
  try {
    release = readFileSync(join(cache, "current"), "utf8").trim();
  } catch {
    throw new VipdError(
      "LAB_KERNEL_MISSING",
      `no lab kernel in ${cache}: run scripts/lab-kernel.sh (it takes Debian's kernel with apt-get download)`,
      { cache },
    );
  }
  const dir = join(cache, release);
  const kernel = {
    release,
    vmlinuz: join(dir, "vmlinuz"),
    initrd: join(dir, "initrd.gz"),
    modules: join(dir, "modules"),
  };
  for (const path of [kernel.vmlinuz, kernel.initrd, join(kernel.modules, release, "modules.dep")]) {
    if (!existsSync(path)) {
      throw new VipdError(
        "LAB_KERNEL_MISSING",
        `the lab kernel in ${dir} is incomplete (${path} is missing): run scripts/lab-kernel.sh`,
        { cache, path },
      );
    }
  }
  return kernel;
}

/** Runs scripts/lab-kernel.sh (a no-op when the cache is current) and returns the kernel. */
export function prepareLabKernel(): LabKernel {
  const r = spawnSync(join(PROJECT_ROOT, "scripts", "lab-kernel.sh"), [], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    timeout: 600_000,
  });
  if (r.status !== 0) {
    const why = (r.stderr || r.error?.message || "").trim().split("\n").slice(-5).join("\n");
    throw new VipdError("LAB_KERNEL_MISSING", `scripts/lab-kernel.sh failed (exit ${r.status}):\n${why}`, {
      status: r.status,
    });
  }
  return findLabKernel();
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Creates the empty /lib/modules the guest bind-mounts over (only if it does not exist). */
export function ensureHostModulesDir(): void {
  if (!existsSync("/lib/modules")) mkdirSync("/lib/modules", { recursive: true });
}

function initScript(
  runDir: string,
  cwd: string,
  modules: string,
  env: Record<string, string>,
  watchdogSec: number,
): string {
  const nodeDir = dirname(process.execPath);
  const exports = Object.entries(env)
    .map(([k, v]) => {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) {
        throw new VipdError("LAB_KERNEL_BAD_OPTIONS", `invalid environment variable name ${k}`, { name: k });
      }
      return `export ${k}=${shellQuote(v)}`;
    })
    .join("\n");
  return `#!/bin/bash
# vipd lab: PID 1 of the lab kernel's guest, after the initramfs (generated by test/lab/harness/lab-kernel.ts)
export PATH=${shellQuote(`${nodeDir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`)}
RUN=${shellQuote(runDir)}
finish() {
  # The status goes to a file (read first) and to the console, where a kernel message could
  # interleave with the marker.
  echo "$1" > "$RUN/status"
  sync
  echo "@@VIPD-LAB-EXIT $1@@"
  # No init system to ask: power off through sysrq; QEMU (-no-reboot) then exits.
  echo o > /proc/sysrq-trigger
  sleep 30
}
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm && mount -t devpts devpts /dev/pts && mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs -o mode=0755 tmpfs /run
mount --bind ${shellQuote(modules)} /lib/modules || echo "@@VIPD-LAB-WARN cannot bind the modules on /lib/modules@@"
mkdir -p /run/netns /run/vipd-lab-kernel/tmp /run/vipd-lab-kernel/home
ip link set lo up
# Never outlive the caller's budget, even if the caller is gone.
( sleep ${watchdogSec}; echo "@@VIPD-LAB-WATCHDOG@@"; finish 124 ) &
export HOME=/run/vipd-lab-kernel/home TMPDIR=/run/vipd-lab-kernel/tmp NO_COLOR=1 TERM=dumb VIPD_LAB_KERNEL=1
${exports}
echo "@@VIPD-LAB-BEGIN@@"
{ cd ${shellQuote(cwd)} && bash "$RUN/script.sh"; } </dev/null >"$RUN/output" 2>&1
finish $?
`;
}

interface LiveRun {
  pid: number;
  runDir: string;
  child: ChildProcess;
}
const liveRuns = new Set<LiveRun>();

/** Synchronous last resort on exit/signal: kill QEMU's process group, remove the run directory. */
function killRunSync(run: LiveRun): void {
  // Only while QEMU has not been reaped is its pid (and group id) certainly still ours.
  if (run.child.exitCode === null && run.child.signalCode === null) signalPid(-run.pid, "SIGKILL");
  for (const pid of processGroupMembers(run.pid)) signalPid(pid, "SIGKILL");
  rmSync(run.runDir, { recursive: true, force: true });
}

/**
 * The owner file of a run directory: lines "owner PID STARTTIME" (the runner) and, once started,
 * "kernel PID STARTTIME" (QEMU). Plain text so that scripts/lab-cleanup.sh can read it.
 */
export const OWNER_FILE = "owner";

function parseOwnerFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^(owner|kernel) (\d+ \d+)$/.exec(line.trim());
    if (m?.[1] && m[2]) out[m[1]] = m[2];
  }
  return out;
}

let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  onProcessExit(() => {
    for (const run of liveRuns) killRunSync(run);
    liveRuns.clear();
    exitHookInstalled = false;
  });
}

/**
 * Removes run directories (and kills the QEMU processes) left by runners that died without
 * cleaning up. Only directories with an owner file naming a dead owner are touched; QEMU is killed
 * only when it is the same process (pid + start time) that the owner file recorded.
 */
export function sweepStaleLabKernelRuns(): string[] {
  const removed: string[] = [];
  let entries: string[];
  try {
    entries = readdirSync(LAB_RUN_PARENT);
  } catch {
    return removed;
  }
  for (const entry of entries) {
    if (!entry.startsWith(RUN_DIR_PREFIX)) continue;
    const runDir = join(LAB_RUN_PARENT, entry);
    let owner: Record<string, string>;
    try {
      owner = parseOwnerFile(readFileSync(join(runDir, OWNER_FILE), "utf8"));
    } catch {
      continue;
    }
    if (owner.owner === undefined || identityAlive(owner.owner)) continue;
    if (owner.kernel !== undefined && identityAlive(owner.kernel)) {
      // Still the very process that run started (same pid and start time), leading its own group.
      signalPid(-Number(owner.kernel.split(" ")[0]), "SIGKILL");
    }
    rmSync(runDir, { recursive: true, force: true });
    removed.push(runDir);
  }
  return removed;
}

function qemuArgs(kernel: LabKernel, initPath: string, memMb: number, cpus: number): string[] {
  return [
    // TCG, not KVM: it works whatever the host CPU and whether or not nested virtualisation does.
    "-machine",
    "accel=tcg",
    "-cpu",
    "max",
    "-smp",
    String(cpus),
    "-m",
    String(memMb),
    // No default devices (no NIC, so no iPXE boot ROM; no VGA): only the serial console and 9p.
    "-nodefaults",
    "-no-user-config",
    "-display",
    "none",
    "-serial",
    "stdio",
    "-monitor",
    "none",
    "-no-reboot",
    "-kernel",
    kernel.vmlinuz,
    "-initrd",
    kernel.initrd,
    "-virtfs",
    "local,path=/,mount_tag=hostroot,security_model=passthrough,multidevs=remap,id=hostroot",
    "-append",
    `console=ttyS0 panic=-1 quiet vipd_init=${initPath}`,
  ];
}

/** Boots the lab kernel, runs the script inside, powers off; see the module comment. */
export async function runInLabKernel(opts: LabKernelOptions): Promise<LabKernelResult> {
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const memMb = opts.memMb ?? 2048;
  const cpus = opts.cpus ?? 2;
  const cwd = opts.cwd ?? process.cwd();
  if (!Number.isInteger(memMb) || memMb < 256) {
    throw new VipdError("LAB_KERNEL_BAD_OPTIONS", "memMb must be an integer >= 256", { memMb });
  }
  if (!Number.isInteger(cpus) || cpus < 1) {
    throw new VipdError("LAB_KERNEL_BAD_OPTIONS", "cpus must be a positive integer", { cpus });
  }
  if (!(timeoutMs > 0)) {
    throw new VipdError("LAB_KERNEL_BAD_OPTIONS", "timeoutMs must be positive", { timeoutMs });
  }
  const kernel = opts.kernel ?? findLabKernel();
  ensureHostModulesDir();
  sweepStaleLabKernelRuns();

  const runDir = mkdtempSync(join(LAB_RUN_PARENT, RUN_DIR_PREFIX));
  const ownerIdentity = processIdentity(process.pid) ?? `${process.pid} 0`;
  const writeOwner = (kernelIdentity?: string): void =>
    writeFileSync(
      join(runDir, OWNER_FILE),
      `owner ${ownerIdentity}\n${kernelIdentity === undefined ? "" : `kernel ${kernelIdentity}\n`}`,
    );
  let run: LiveRun | undefined;
  try {
    writeOwner();
    const initPath = join(runDir, "init.sh");
    const watchdogSec = Math.ceil(timeoutMs / 1000) + 5;
    writeFileSync(initPath, initScript(runDir, cwd, kernel.modules, opts.env ?? {}, watchdogSec), {
      mode: 0o755,
    });
    writeFileSync(join(runDir, "script.sh"), opts.script, { mode: 0o644 });
    writeFileSync(join(runDir, "output"), "");

    const started = Date.now();
    const child = spawn(QEMU, qemuArgs(kernel, initPath, memMb, cpus), {
      cwd: runDir,
      detached: true,
      // No console input at all: CI has no stdin.
      stdio: ["ignore", "pipe", "pipe"],
    });
    if (child.pid === undefined) {
      // spawn() reports the failure asynchronously through 'error'.
      const err = await new Promise<Error>((resolve) => child.once("error", resolve));
      throw new VipdError(
        "LAB_KERNEL_SPAWN_FAILED",
        `cannot start ${QEMU}: ${err.message} (Debian package qemu-system-x86)`,
        { qemu: QEMU },
        { cause: err },
      );
    }
    const pid = child.pid;
    run = { pid, runDir, child };
    liveRuns.add(run);
    installExitHook();
    writeOwner(processIdentity(pid));

    let kernelLog = "";
    const onData = (d: string): void => {
      const text = d.replace(/\r/g, "");
      kernelLog += text;
      if (kernelLog.length > LOG_CAP) kernelLog = kernelLog.slice(-LOG_CAP / 2);
      opts.onConsole?.(text);
    };
    child.stdout.setEncoding("utf8").on("data", onData);
    child.stderr.setEncoding("utf8").on("data", onData);

    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      child.on("exit", (code, signal) => resolve({ code, signal }));
    });
    const closed = new Promise<void>((resolve) => child.on("close", () => resolve()));
    let timedOut = false;
    const timer = setTimeout(() => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      timedOut = true;
      // The leader has not been reaped yet (no 'exit' seen), so the group id is still ours.
      signalPid(-pid, "SIGKILL");
    }, timeoutMs);
    const status = await exited;
    clearTimeout(timer);
    const durationMs = Date.now() - started;
    // Anything QEMU left in its group goes too (by PID: the group id cannot be reused while
    // members exist, and the scan only finds members).
    const leftovers = processGroupMembers(pid);
    for (const p of leftovers) signalPid(p, "SIGKILL");
    await waitGone(leftovers, 5000);
    await closed;

    const output = readFileSync(join(runDir, "output"), "utf8");
    const codes = [...kernelLog.matchAll(EXIT_MARKER_RE)].map((m) => Number(m[1]));
    const statusText = existsSync(join(runDir, "status"))
      ? readFileSync(join(runDir, "status"), "utf8").trim()
      : "";
    if (/^\d+$/.test(statusText)) codes.push(Number(statusText));
    const context = {
      pid,
      runDir,
      release: kernel.release,
      timeoutMs,
      durationMs,
      status,
      output: output.slice(-4000),
      kernelLog: kernelLog.slice(-4000),
    };
    if (timedOut) {
      throw new VipdError(
        "LAB_KERNEL_TIMEOUT",
        `lab kernel guest did not finish within ${timeoutMs} ms`,
        context,
      );
    }
    const code = codes.at(-1);
    if (code === undefined) {
      throw new VipdError(
        "LAB_KERNEL_NO_EXIT_STATUS",
        `lab kernel guest ended without reporting the script's exit status (${bootFailure(kernelLog, status)})`,
        context,
      );
    }
    if (kernelLog.includes("@@VIPD-LAB-WATCHDOG@@")) {
      throw new VipdError("LAB_KERNEL_TIMEOUT", "lab kernel guest watchdog fired", context);
    }
    return { code, output, kernelLog, durationMs, pid, runDir };
  } finally {
    if (run) liveRuns.delete(run);
    rmSync(runDir, { recursive: true, force: true });
  }
}

/** The likeliest cause of a guest that never reported, from what its console printed. */
export function bootFailure(
  kernelLog: string,
  status: { code: number | null; signal: NodeJS.Signals | null },
): string {
  const initrd = /@@VIPD-LAB-INITRD-FAIL (.*?)@@/.exec(kernelLog);
  if (initrd) return `the initramfs failed: ${initrd[1]}`;
  const panic = /Kernel panic - not syncing: (.*)/.exec(kernelLog);
  if (panic) return `kernel panic: ${panic[1]?.trim()}`;
  if (!kernelLog.includes("@@VIPD-LAB-BEGIN@@")) {
    const last = kernelLog.trim().split("\n").slice(-3).join(" | ");
    return `the guest never reached the script; QEMU exited with ${status.code ?? status.signal}; last console lines: ${last}`;
  }
  return `the script started but no exit status followed; QEMU exited with ${status.code ?? status.signal}`;
}
