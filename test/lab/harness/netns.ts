/**
 * Network-namespace lab topologies on the host kernel.
 *
 *   const lab = await Lab.create({ prefix: "vipd" });   // run id "vipd-1a2b3c"
 *   await lab.bridge("lan");                              // namespace vipd-1a2b3c-lan holding bridge br0
 *   await lab.host("d1", { lan: "10.77.0.1/24", ipv6: "fd00::1/64" });  // vipd-1a2b3c-d1, eth0 on lan
 *   await lab.exec("d1", ["ping", "-c1", "10.77.0.2"]);
 *   const p = lab.spawn("d1", ["keepalived", "-n", ...]);
 *   await lab.destroy();                                  // kills processes, deletes every namespace
 *
 * Ownership: before it creates any namespace, a run writes /run/vipd-lab/<id>.pid holding
 * "PID STARTTIME" of its process. Namespaces are named `<id>-<name>`, `<id>` being
 * `<prefix>-<6 hex>`. {@link sweepStale} only deletes namespaces of that exact shape whose owner is
 * no longer alive, so it never touches anyone else's namespaces nor a live run's.
 *
 * Nothing is created in the root namespace: each veth is created inside the bridge namespace and
 * its other end moved straight into the host namespace.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { VipdError } from "../../../src/errors.js";
import { identityAlive, onProcessExit, pidAlive, processIdentity, signalPid, waitGone } from "./proc.js";

export const MARKER_DIR = "/run/vipd-lab";
export const NETNS_DIR = "/run/netns";

/** The Linux bridge device inside every bridge namespace. */
export const BRIDGE_DEVICE = "br0";

const PREFIX_RE = /^[a-z][a-z0-9]{0,11}$/;
const NAME_RE = /^[a-z][a-z0-9]{0,11}$/;
const RESERVED_KEYS = new Set(["ipv6", "sysctls", "routes"]);
const DEFAULT_GRACE_MS = 2000;
const OUTPUT_CAP = 4 * 1024 * 1024;

export interface LabOptions {
  /** Run ids are `<prefix>-<6 hex>`; default "vipd". Lowercase letters and digits, at most 12. */
  prefix?: string;
  /** How long spawned processes get between SIGTERM and SIGKILL on destroy (default 2000 ms). */
  graceMs?: number;
  /** Sweep dead runs of the same prefix before creating this one (default true). */
  sweep?: boolean;
}

/**
 * A host: `eth0`, `eth1`, … one per bridge key, in key order. Every key except the reserved ones
 * names a bridge made with {@link Lab.bridge}; its value is the address or addresses (IPv4 and/or
 * IPv6, with prefix length) of that interface.
 */
export type HostSpec = {
  /** IPv6 address(es) for eth0 (shorthand; IPv6 addresses may also be listed under the bridge key). */
  ipv6?: string | string[];
  /** Applied after the interfaces exist, so per-interface keys work (`net.ipv4.conf.eth0.arp_ignore`). */
  sysctls?: Record<string, string | number>;
  /** `ip route add` arguments, e.g. `["default via 10.77.0.1"]`. */
  routes?: string[];
  [bridge: string]: string | string[] | Record<string, string | number> | undefined;
};

export interface HostInfo {
  name: string;
  netns: string;
  /** bridge name → interface name in the host */
  interfaces: Record<string, string>;
}

export interface ExecOptions {
  /** Written to the command's stdin (stdin is empty otherwise). */
  input?: string;
  /** Kills the command (by PID) and rejects with LAB_EXEC_TIMEOUT after this long; default 60 s. */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  /** Exit code; null when killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface SpawnOptions {
  env?: NodeJS.ProcessEnv;
  /** "pipe" (default) captures stdout/stderr into the LabProcess; "inherit" shares ours (debugging). */
  stdio?: "pipe" | "inherit" | "ignore";
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface SweepReport {
  namespaces: string[];
  killedPids: number[];
  markers: string[];
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function listNetns(): string[] {
  try {
    return readdirSync(NETNS_DIR);
  } catch {
    return [];
  }
}

function toList(v: string | string[] | undefined): string[] {
  if (v === undefined) return [];
  return Array.isArray(v) ? v : [v];
}

/** Runs a command to completion; never throws for a non-zero exit. */
function execFileResult(argv: string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const [file, ...args] = argv;
  if (file === undefined) throw new VipdError("LAB_BAD_COMMAND", "empty command", {});
  const timeoutMs = opts.timeoutMs ?? 60_000;
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ["pipe", "pipe", "pipe"], env: opts.env ?? process.env });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) signalPid(child.pid, "SIGKILL");
    }, timeoutMs);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(
        new VipdError("LAB_EXEC_FAILED", `cannot run ${file}: ${err.message}`, { argv }, { cause: err }),
      );
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (timedOut) {
        reject(
          new VipdError("LAB_EXEC_TIMEOUT", `command did not finish within ${timeoutMs} ms`, {
            argv,
            timeoutMs,
            stdout: stdout.slice(-2000),
            stderr: stderr.slice(-2000),
          }),
        );
        return;
      }
      resolve({ stdout, stderr, code, signal });
    });
    child.stdin.on("error", () => {
      // The command may exit without reading its input (EPIPE); its exit status tells the story.
    });
    child.stdin.end(opts.input ?? "");
  });
}

async function execOk(argv: string[], opts: ExecOptions = {}): Promise<string> {
  const r = await execFileResult(argv, opts);
  if (r.code !== 0) {
    throw new VipdError(
      "LAB_COMMAND_FAILED",
      `${argv.join(" ")} exited ${r.code ?? r.signal}: ${r.stderr.trim()}`,
      {
        argv,
        code: r.code,
        signal: r.signal,
        stdout: r.stdout,
        stderr: r.stderr,
      },
    );
  }
  return r.stdout;
}

/** `ip -n NS -batch -` with one command per line (one process for many changes). */
function ipBatch(netns: string, lines: string[]): Promise<string> {
  return execOk(["ip", "-n", netns, "-batch", "-"], { input: `${lines.join("\n")}\n` });
}

/** Sets sysctls inside a namespace with one process (keys in dotted or slash form). */
function sysctlsIn(netns: string, sysctls: Record<string, string | number>): Promise<string> {
  const writes = Object.entries(sysctls).map(([key, value]) => {
    const path = `/proc/sys/${key.includes("/") ? key : key.replace(/\./g, "/")}`;
    return `printf '%s\\n' ${shellQuote(String(value))} > ${shellQuote(path)}`;
  });
  return execOk(["ip", "netns", "exec", netns, "sh", "-ec", writes.join("\n")]);
}

/** PIDs of processes whose network namespace is `netns` (`ip netns pids`). */
function netnsPidsSync(netns: string): number[] {
  const r = spawnSync("ip", ["netns", "pids", netns], { encoding: "utf8" });
  if (r.status !== 0) return [];
  return r.stdout
    .split(/\s+/)
    .filter((s) => /^\d+$/.test(s))
    .map(Number)
    .filter((pid) => pid !== process.pid);
}

/** Kills whatever runs in the namespaces, then deletes them. Synchronous: usable from 'exit'. */
function deleteNamespacesSync(names: readonly string[]): number[] {
  const killed: number[] = [];
  for (const ns of names) {
    for (const pid of netnsPidsSync(ns)) {
      if (signalPid(pid, "SIGKILL")) killed.push(pid);
    }
  }
  const present = new Set(listNetns());
  const toDelete = names.filter((ns) => present.has(ns));
  if (toDelete.length > 0) {
    spawnSync("ip", ["-force", "-batch", "-"], {
      input: toDelete.map((ns) => `netns del ${ns}\n`).join(""),
      encoding: "utf8",
    });
  }
  return killed;
}

function markerPath(id: string): string {
  return `${MARKER_DIR}/${id}.pid`;
}

/**
 * Deletes the namespaces and markers of earlier runs with this prefix whose owner process is gone
 * (killed with SIGKILL, crashed hard), and kills the processes still running inside them.
 * Namespaces that do not have the exact `<prefix>-<6 hex>-<name>` shape, and runs whose owner is
 * alive, are never touched.
 */
export function sweepStale(prefix = "vipd"): SweepReport {
  if (!PREFIX_RE.test(prefix))
    throw new VipdError("LAB_BAD_PREFIX", `invalid lab prefix ${prefix}`, { prefix });
  const idRe = new RegExp(`^(${prefix}-[0-9a-f]{6})-[a-z][a-z0-9]*$`);
  const markerRe = new RegExp(`^(${prefix}-[0-9a-f]{6})\\.pid$`);
  // Namespaces first, markers second: a run writes its marker before its first namespace, so any
  // namespace listed here whose marker is missing afterwards belongs to no live run.
  const namespaces = listNetns();
  let markerFiles: string[] = [];
  try {
    markerFiles = readdirSync(MARKER_DIR);
  } catch {
    markerFiles = [];
  }
  const live = new Set<string>();
  const staleMarkers: string[] = [];
  for (const file of markerFiles) {
    const m = markerRe.exec(file);
    if (!m?.[1]) continue;
    let identity = "";
    try {
      identity = readFileSync(`${MARKER_DIR}/${file}`, "utf8");
    } catch {
      continue; // removed meanwhile by its owner's destroy()
    }
    if (identityAlive(identity)) live.add(m[1]);
    else staleMarkers.push(m[1]);
  }
  const staleNs = namespaces.filter((ns) => {
    const m = idRe.exec(ns);
    return m?.[1] !== undefined && !live.has(m[1]);
  });
  const killedPids = deleteNamespacesSync(staleNs);
  for (const id of staleMarkers) rmSync(markerPath(id), { force: true });
  return { namespaces: staleNs, killedPids, markers: staleMarkers };
}

/** A long-running process started in a lab namespace; its output is captured when stdio is "pipe". */
export class LabProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly host: string;
  readonly argv: readonly string[];
  /** Resolves once the process has exited (never rejects). */
  readonly exited: Promise<ExitStatus>;
  private out = "";
  private err = "";
  private all = "";
  private status: ExitStatus | undefined;
  private readonly waiters = new Set<() => void>();

  constructor(child: ChildProcess, host: string, argv: readonly string[]) {
    if (child.pid === undefined) {
      throw new VipdError("LAB_SPAWN_FAILED", `could not start ${argv.join(" ")} in ${host}`, { host, argv });
    }
    this.child = child;
    this.pid = child.pid;
    this.host = host;
    this.argv = argv;
    const cap = (s: string): string => (s.length > OUTPUT_CAP ? s.slice(-OUTPUT_CAP / 2) : s);
    child.stdout?.setEncoding("utf8").on("data", (d: string) => {
      this.out = cap(this.out + d);
      this.all = cap(this.all + d);
      this.notify();
    });
    child.stderr?.setEncoding("utf8").on("data", (d: string) => {
      this.err = cap(this.err + d);
      this.all = cap(this.all + d);
      this.notify();
    });
    this.exited = new Promise((resolve) => {
      child.on("error", () => {
        // 'exit' may not follow an 'error' (e.g. spawn failure after the pid was assigned).
        if (this.status === undefined) {
          this.status = { code: null, signal: null };
          resolve(this.status);
          this.notify();
        }
      });
      child.on("exit", (code, signal) => {
        this.status = { code, signal };
        resolve(this.status);
        this.notify();
      });
    });
  }

  get stdout(): string {
    return this.out;
  }

  get stderr(): string {
    return this.err;
  }

  /** stdout and stderr interleaved in arrival order. */
  get output(): string {
    return this.all;
  }

  get running(): boolean {
    return this.status === undefined;
  }

  get exitStatus(): ExitStatus | undefined {
    return this.status;
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }

  /**
   * Resolves with the first match of `pattern` in the output (already received or to come).
   * Rejects with LAB_WAIT_TIMEOUT after `timeoutMs`, or LAB_PROCESS_EXITED if the process ends first.
   */
  waitForOutput(pattern: RegExp | string, timeoutMs = 30_000): Promise<RegExpMatchArray> {
    const re =
      typeof pattern === "string" ? new RegExp(pattern.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")) : pattern;
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const check = (): void => {
        const m = this.all.match(re);
        if (m) {
          done();
          resolve(m);
        } else if (this.status !== undefined) {
          done();
          reject(
            new VipdError("LAB_PROCESS_EXITED", `${this.argv.join(" ")} exited before printing ${re}`, {
              host: this.host,
              pid: this.pid,
              status: this.status,
              output: this.all.slice(-4000),
            }),
          );
        }
      };
      const done = (): void => {
        this.waiters.delete(check);
        if (timer) clearTimeout(timer);
      };
      timer = setTimeout(() => {
        done();
        reject(
          new VipdError("LAB_WAIT_TIMEOUT", `no ${re} from ${this.argv.join(" ")} within ${timeoutMs} ms`, {
            host: this.host,
            pid: this.pid,
            output: this.all.slice(-4000),
          }),
        );
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  /** Sends a signal to this process (by PID). */
  signal(sig: NodeJS.Signals): boolean {
    return this.status === undefined && signalPid(this.pid, sig);
  }

  /** SIGTERM, then SIGKILL if it is still running after `graceMs`; resolves with its exit status. */
  async stop(graceMs = DEFAULT_GRACE_MS): Promise<ExitStatus> {
    if (this.status !== undefined) return this.status;
    this.signal("SIGTERM");
    const timer = setTimeout(() => this.signal("SIGKILL"), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

export class Lab {
  readonly id: string;
  readonly prefix: string;
  private readonly graceMs: number;
  private readonly bridges = new Map<string, string>();
  private readonly hosts = new Map<string, HostInfo>();
  /** Every namespace of this run, in creation order. */
  private readonly namespaces: string[] = [];
  private readonly processes = new Set<LabProcess>();
  private destroyed = false;
  private readonly unregisterExit: () => void;

  private constructor(id: string, prefix: string, graceMs: number) {
    this.id = id;
    this.prefix = prefix;
    this.graceMs = graceMs;
    this.unregisterExit = onProcessExit(() => this.destroySync());
  }

  static async create(opts: LabOptions = {}): Promise<Lab> {
    const prefix = opts.prefix ?? "vipd";
    if (!PREFIX_RE.test(prefix)) {
      throw new VipdError("LAB_BAD_PREFIX", `lab prefix must match ${PREFIX_RE}`, { prefix });
    }
    if (opts.sweep ?? true) sweepStale(prefix);
    const identity = processIdentity(process.pid);
    if (identity === undefined) throw new VipdError("LAB_NO_PROC", "cannot read /proc/self/stat", {});
    mkdirSync(MARKER_DIR, { recursive: true });
    for (let attempt = 0; attempt < 20; attempt++) {
      const id = `${prefix}-${randomBytes(3).toString("hex")}`;
      if (listNetns().some((ns) => ns.startsWith(`${id}-`))) continue;
      try {
        writeFileSync(markerPath(id), `${identity}\n`, { flag: "wx" });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "EEXIST") continue;
        throw err;
      }
      return new Lab(id, prefix, opts.graceMs ?? DEFAULT_GRACE_MS);
    }
    throw new VipdError("LAB_NO_ID", "could not pick an unused lab id", { prefix });
  }

  /** The namespace name of a host or bridge of this run. */
  nsName(name: string): string {
    if (this.hosts.has(name)) return this.hosts.get(name)!.netns;
    const br = this.bridges.get(name);
    if (br !== undefined) return br;
    throw new VipdError("LAB_NO_SUCH_HOST", `no host or bridge ${name} in lab ${this.id}`, {
      id: this.id,
      name,
    });
  }

  /** `/run/netns/<namespace>`: for setns-based tools and for vipd's own namespace options. */
  nsPath(name: string): string {
    return `${NETNS_DIR}/${this.nsName(name)}`;
  }

  hostInfo(name: string): HostInfo {
    const h = this.hosts.get(name);
    if (!h)
      throw new VipdError("LAB_NO_SUCH_HOST", `no host ${name} in lab ${this.id}`, { id: this.id, name });
    return h;
  }

  /** Every namespace this run created and has not deleted yet. */
  get netnsNames(): readonly string[] {
    return this.namespaces;
  }

  private checkName(name: string): string {
    if (this.destroyed) throw new VipdError("LAB_DESTROYED", `lab ${this.id} is destroyed`, { id: this.id });
    if (!NAME_RE.test(name) || RESERVED_KEYS.has(name)) {
      throw new VipdError(
        "LAB_BAD_NAME",
        `lab names must match ${NAME_RE} and not be ${[...RESERVED_KEYS]}`,
        {
          name,
        },
      );
    }
    if (this.hosts.has(name) || this.bridges.has(name)) {
      throw new VipdError("LAB_DUPLICATE_NAME", `${name} already exists in lab ${this.id}`, {
        id: this.id,
        name,
      });
    }
    return `${this.id}-${name}`;
  }

  private async addNetns(netns: string): Promise<void> {
    // Recorded before creation so that a failure half-way still gets it deleted.
    this.namespaces.push(netns);
    await execOk(["ip", "netns", "add", netns]);
  }

  /** A namespace holding the Linux bridge `br0` (no STP, no multicast snooping, no IPv6 of its own). */
  async bridge(name: string): Promise<string> {
    const netns = this.checkName(name);
    this.bridges.set(name, netns);
    await this.addNetns(netns);
    await sysctlsIn(netns, { "net.ipv6.conf.all.disable_ipv6": 1, "net.ipv6.conf.default.disable_ipv6": 1 });
    await ipBatch(netns, [
      "link set lo up",
      `link add ${BRIDGE_DEVICE} type bridge stp_state 0 forward_delay 0 mcast_snooping 0`,
      `link set ${BRIDGE_DEVICE} up`,
    ]);
    return netns;
  }

  /**
   * A namespace `<id>-<name>` with lo up and one veth per bridge key (eth0, eth1, …) whose peer
   * (`v<name>`) is a port of that bridge. IPv6 DAD is off and addresses survive link down, so
   * addresses are usable at once and again after {@link linkUp}.
   */
  async host(name: string, spec: HostSpec = {}): Promise<HostInfo> {
    const netns = this.checkName(name);
    const interfaces: Record<string, string> = {};
    const addrs: Array<[string, string[]]> = [];
    for (const [key, value] of Object.entries(spec)) {
      if (RESERVED_KEYS.has(key)) continue;
      const bridgeNs = this.bridges.get(key);
      if (bridgeNs === undefined) {
        throw new VipdError(
          "LAB_NO_SUCH_BRIDGE",
          `host ${name} names bridge ${key}, which this lab does not have`,
          {
            id: this.id,
            host: name,
            bridge: key,
          },
        );
      }
      if (value !== undefined && typeof value !== "string" && !Array.isArray(value)) {
        throw new VipdError("LAB_BAD_SPEC", `addresses for ${name} on ${key} must be a string or an array`, {
          host: name,
          bridge: key,
        });
      }
      const ifname = `eth${addrs.length}`;
      interfaces[key] = ifname;
      addrs.push([ifname, toList(value)]);
    }
    if (spec.ipv6 !== undefined) {
      const eth0 = addrs[0];
      if (!eth0) throw new VipdError("LAB_BAD_SPEC", `host ${name} has ipv6 but no bridge`, { host: name });
      eth0[1].push(...toList(spec.ipv6));
    }
    const info: HostInfo = { name, netns, interfaces };
    this.hosts.set(name, info);
    await this.addNetns(netns);
    for (const [bridge, ifname] of Object.entries(interfaces)) {
      const bridgeNs = this.bridges.get(bridge)!;
      const peer = `v${name}`;
      await ipBatch(bridgeNs, [
        `link add ${peer} type veth peer name ${ifname} netns ${netns}`,
        `link set ${peer} master ${BRIDGE_DEVICE}`,
        `link set ${peer} up`,
      ]);
    }
    const sysctls: Record<string, string | number> = {
      "net.ipv6.conf.all.accept_dad": 0,
      "net.ipv6.conf.default.accept_dad": 0,
      "net.ipv6.conf.all.keep_addr_on_down": 1,
      "net.ipv6.conf.default.keep_addr_on_down": 1,
    };
    for (const [ifname] of addrs) {
      sysctls[`net.ipv6.conf.${ifname}.accept_dad`] = 0;
      sysctls[`net.ipv6.conf.${ifname}.keep_addr_on_down`] = 1;
    }
    Object.assign(sysctls, spec.sysctls ?? {});
    await sysctlsIn(netns, sysctls);
    const lines = ["link set lo up"];
    for (const [ifname, list] of addrs) {
      for (const a of list) lines.push(`addr add ${a} dev ${ifname}${a.includes(":") ? " nodad" : ""}`);
      lines.push(`link set ${ifname} up`);
    }
    for (const r of spec.routes ?? []) lines.push(`route add ${r}`);
    await ipBatch(netns, lines);
    return info;
  }

  /**
   * Runs a command inside a host's (or bridge's) namespace and waits for it to exit and its output
   * to close (a daemon it backgrounds must redirect its stdout/stderr). Never throws on exit codes.
   */
  exec(host: string, cmd: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    return execFileResult(["ip", "netns", "exec", this.nsName(host), ...cmd], opts);
  }

  /** Like {@link exec} but throws LAB_COMMAND_FAILED unless the command exits 0; returns stdout. */
  run(host: string, cmd: readonly string[], opts: ExecOptions = {}): Promise<string> {
    return execOk(["ip", "netns", "exec", this.nsName(host), ...cmd], opts);
  }

  /**
   * Starts a long-running process in a namespace. It is tracked by PID and stopped (SIGTERM, then
   * SIGKILL after the grace period) by {@link destroy}. `ip netns exec` execs the command, so the
   * PID is the command's own.
   */
  spawn(host: string, cmd: readonly string[], opts: SpawnOptions = {}): LabProcess {
    const netns = this.nsName(host);
    if (this.destroyed) throw new VipdError("LAB_DESTROYED", `lab ${this.id} is destroyed`, { id: this.id });
    const stdio = opts.stdio ?? "pipe";
    const child = spawn("ip", ["netns", "exec", netns, ...cmd], {
      stdio: ["ignore", stdio, stdio],
      env: opts.env ?? process.env,
    });
    const proc = new LabProcess(child, host, cmd);
    this.processes.add(proc);
    return proc;
  }

  /** Sets an interface of a host down (default eth0): its bridge port loses carrier too. */
  async linkDown(host: string, ifname = "eth0"): Promise<void> {
    await execOk(["ip", "-n", this.nsName(host), "link", "set", ifname, "down"]);
  }

  async linkUp(host: string, ifname = "eth0"): Promise<void> {
    await execOk(["ip", "-n", this.nsName(host), "link", "set", ifname, "up"]);
  }

  /**
   * Stops tracked processes (SIGTERM, SIGKILL after the grace period), kills anything else still
   * running inside the run's namespaces, deletes every namespace and the ownership marker.
   * Idempotent. Throws LAB_CLEANUP_FAILED if a namespace or process survived.
   */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    this.unregisterExit();
    await Promise.all([...this.processes].map((p) => p.stop(this.graceMs)));
    const killed = deleteNamespacesSync(this.namespaces);
    const survivors = await waitGone(killed, 5000);
    // Namespace deletion is asynchronous in the kernel only for its devices; the mount is gone now.
    let leftover = this.namespaces.filter((ns) => existsSync(`${NETNS_DIR}/${ns}`));
    for (let i = 0; leftover.length > 0 && i < 50; i++) {
      await sleep(20);
      deleteNamespacesSync(leftover);
      leftover = leftover.filter((ns) => existsSync(`${NETNS_DIR}/${ns}`));
    }
    const stillRunning = [...this.processes].filter((p) => pidAlive(p.pid)).map((p) => p.pid);
    if (leftover.length === 0) rmSync(markerPath(this.id), { force: true });
    if (leftover.length > 0 || survivors.length > 0 || stillRunning.length > 0) {
      throw new VipdError("LAB_CLEANUP_FAILED", `lab ${this.id} was not fully cleaned up`, {
        id: this.id,
        namespaces: leftover,
        pids: [...survivors, ...stillRunning],
      });
    }
  }

  /** The synchronous last resort run on process exit or a terminating signal. */
  private destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const p of this.processes) if (p.running) p.signal("SIGKILL");
    deleteNamespacesSync(this.namespaces);
    rmSync(markerPath(this.id), { force: true });
  }
}

/** Creates a lab, runs `fn`, and destroys the lab whatever `fn` did (its error, if any, is rethrown). */
export async function withLab<T>(opts: LabOptions, fn: (lab: Lab) => Promise<T>): Promise<T> {
  const lab = await Lab.create(opts);
  let result: T;
  try {
    result = await fn(lab);
  } catch (err) {
    // The body's failure is the one to report; a cleanup failure on top of it goes to stderr
    // (and whatever survived is left to sweepStale).
    await lab.destroy().catch((cleanupErr: unknown) => {
      process.stderr.write(
        `withLab: cleanup of ${lab.id} after a failure also failed: ${String(cleanupErr)}\n`,
      );
    });
    throw err;
  }
  await lab.destroy();
  return result;
}
