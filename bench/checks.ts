/**
 * Health check benchmark: what vipd's checker (docs/health.md) costs and holds, at 1,000, 5,000
 * and 20,000 targets checked every second, and its CPU per check next to keepalived's.
 *
 *   npm run bench:checks                                  # builds, then everything (≈25 min)
 *   npm run bench:checks -- --duration 10 --sizes 1000    # a quick run
 *
 * Flags: --duration S (each measured window, default 60), --sizes 1000,5000,20000,
 * --types tcp,http,https, --warmup S (before each window, default 5; in the lab kernel at least
 * 15 and 1.5 intervals), --interval MS (check interval on the host, default 1000),
 * --lab-interval MS (in the lab kernel, default 30000, see below), --part host|lab|both (default
 * both), --json FILE (also write every figure as JSON).
 *
 * Part 1, on this host, inside a network namespace of its own (vipdbc<pid>, deleted at the end;
 * its sysctls — a wider ephemeral port range, tcp_tw_reuse — are the namespace's, not the
 * host's):
 *   - the real servers: bench/checks-server.mjs, one process, tcp / http / https on 200 ports
 *     each (127.0.1.1..N × 200 ports, see checks-common.ts); https with a P-256 certificate made
 *     by the openssl CLI, whose IP SANs cover every target address, checked with ca_file
 *     (verification on);
 *   - vipd: bench/checks-vipd.ts, one process per (type, size) row: the health worker thread +
 *     HealthManager → IpvsManager over the unit tests' in-memory IPVS kernel, and the VRRP worker
 *     thread running two instances (VRID 51 at 100 ms adverts, VRID 52 at 20 ms) on a veth
 *     (vbA, peer vbB) — both in the same window, a harder case than either alone;
 *   - tcpdump timestamps every advert (kernel timestamps) leaving vbA (the send jitter) and
 *     arriving on vbB (at the peer); the jitter is |gap − interval| between consecutive adverts
 *     of an instance.
 *   Per row: the vipd process's CPU (% of one core, /proc/PID/stat) and peak RSS, the main
 *   thread's event-loop delay p99 (monitorEventLoopDelay), each thread's event-loop
 *   utilisation, check latency and scheduler lag p99 (the worker's histograms over the window;
 *   bucket bounds, src/health/stats.ts), checks/s done (vipd's count and the servers'), false
 *   transitions (every target is healthy and starts `initial: up`: any real_server transition,
 *   from the start of the process, is false), advert jitter p99, and the host's CPU.
 *   HTTPS at 20,000 is skipped when an https row already measured says it cannot hold: its CPU
 *   per check × 20,000/s more than the machine's cores.
 *
 * Part 2, in the lab kernel (Debian's, under QEMU/TCG, test/lab/harness/lab-kernel.ts): this
 * file again (--guest), in a namespace of the guest, runs keepalived's checker (`keepalived -C`,
 * TCP_CHECK, then HTTP_GET, delay_loop 1) and vipd's (checks-vipd, no VRRP) in turn against the
 * same 1,000 targets, for the same window each, and divides their CPU time (keepalived: the
 * parent and its checker child; vipd: its process) by the checks the servers counted.
 * Emulated CPUs are slow: only the ratio, measured in the same boot, means anything. The lab
 * interval is 30 s (33 checks/s) by default, a rate both checkers hold there: at delay_loop 1
 * (--lab-interval 1000) the two emulated vCPUs saturate — the Node real servers alone take a
 * whole vCPU at ~400 accepts/s, keepalived reaches ~410 TCP checks/s and vipd ~230, both then
 * fail checks — and at 10 s vipd's health thread is saturated by 100 HTTP checks/s (every one
 * timing out); CPU per check would then measure the overload, not the checkers.
 *
 * Needs root, tcpdump, openssl, keepalived (Debian's, run only inside the guest), qemu and the
 * lab kernel (scripts/lab-kernel.sh). It prints figures; it never fails on them.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath, pathToFileURL } from "node:url";
import {
  type CheckKind,
  EPHEMERAL_RANGE,
  keepalivedConf,
  PORT_BASE,
  PORTS_PER_ADDRESS,
  targetAddresses,
  type VipdChildSpec,
  type VrrpSpec,
} from "./checks-common.js";
import type { VipdReady, VipdWindowReport } from "./checks-vipd.js";

const PROJECT = fileURLToPath(new URL("../", import.meta.url));
const SERVER = join(PROJECT, "bench", "checks-server.mjs");
/** USER_HZ: the unit of /proc/PID/stat times (100 on every Linux architecture vipd runs on). */
const TICKS_PER_S = 100;
const VRRP: VrrpSpec[] = [
  { vrid: 51, advertIntervalMs: 100, vip: "10.255.0.100" },
  { vrid: 52, advertIntervalMs: 20, vip: "10.255.0.101" },
];
const LAB_SIZE = 1000;

const say = (s: string): void => {
  process.stderr.write(`${s}\n`);
};

// ---------------------------------------------------------------------------------------------
// Flags
// ---------------------------------------------------------------------------------------------

interface Options {
  durationS: number;
  warmupS: number;
  sizes: number[];
  types: CheckKind[];
  intervalMs: number;
  /** The check interval in the lab kernel part (keepalived's delay_loop). */
  labIntervalMs: number;
  part: "host" | "lab" | "both";
  json?: string;
  guest: boolean;
  childDir?: string;
}

function parseArgs(argv: readonly string[]): Options {
  const o: Options = {
    durationS: 60,
    warmupS: 5,
    sizes: [1000, 5000, 20000],
    types: ["tcp", "http", "https"],
    intervalMs: 1000,
    labIntervalMs: 30_000,
    part: "both",
    guest: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i] as string;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    const positive = (v: string): number => {
      const n = Number(v);
      if (!Number.isFinite(n) || n <= 0) throw new Error(`${flag}: expected a positive number, got ${v}`);
      return n;
    };
    switch (flag) {
      case "--duration":
        o.durationS = positive(value());
        break;
      case "--warmup":
        o.warmupS = positive(value());
        break;
      case "--interval":
        o.intervalMs = positive(value());
        break;
      case "--lab-interval":
        o.labIntervalMs = positive(value());
        break;
      case "--sizes":
        o.sizes = value()
          .split(",")
          .map((s) => Math.round(positive(s)));
        break;
      case "--types": {
        const types = value().split(",");
        for (const t of types)
          if (t !== "tcp" && t !== "http" && t !== "https") throw new Error(`--types: unknown type ${t}`);
        o.types = types as CheckKind[];
        break;
      }
      case "--part": {
        const p = value();
        if (p !== "host" && p !== "lab" && p !== "both")
          throw new Error(`--part: host, lab or both, got ${p}`);
        o.part = p;
        break;
      }
      case "--json":
        o.json = value();
        break;
      case "--guest":
        o.guest = true;
        break;
      case "--child-dir":
        o.childDir = value();
        break;
      default:
        throw new Error(`unknown flag ${flag}`);
    }
  }
  return o;
}

// ---------------------------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------------------------

function sh(cmd: string, args: string[], input?: string): string {
  const r = spawnSync(cmd, args, { input, encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.status !== 0)
    throw new Error(`${cmd} ${args.join(" ")}: ${(r.stderr || r.error?.message || r.status) ?? ""}`);
  return r.stdout;
}

/** A child process read line by line; lines are consumed in order by waitLine. */
class LineProc {
  readonly proc: ChildProcess;
  readonly pid: number;
  private readonly lines: string[] = [];
  private cursor = 0;
  private partial = "";
  private stderrTail = "";
  private wake: (() => void) | undefined;
  readonly exited: Promise<number | null>;
  exitCode: number | null | undefined;
  onLine: ((line: string) => void) | undefined;

  constructor(cmd: string, args: string[]) {
    this.proc = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"] });
    if (this.proc.pid === undefined) throw new Error(`cannot start ${cmd}`);
    this.pid = this.proc.pid;
    this.proc.stdout?.setEncoding("utf8").on("data", (d: string) => {
      const parts = (this.partial + d).split("\n");
      this.partial = parts.pop() ?? "";
      for (const line of parts) {
        if (this.onLine) this.onLine(line);
        else this.lines.push(line);
      }
      this.wake?.();
    });
    this.proc.stderr?.setEncoding("utf8").on("data", (d: string) => {
      this.stderrTail = (this.stderrTail + d).slice(-8000);
      this.wake?.();
    });
    this.proc.stdin?.on("error", () => undefined);
    this.exited = new Promise((resolve) =>
      this.proc.on("exit", (code) => {
        this.exitCode = code;
        this.wake?.();
        resolve(code);
      }),
    );
  }

  get stderr(): string {
    return this.stderrTail;
  }

  send(line: string): void {
    this.proc.stdin?.write(`${line}\n`);
  }

  async waitLine(re: RegExp, timeoutMs: number, what: string): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.cursor < this.lines.length) {
        const m = re.exec(this.lines[this.cursor++] as string);
        if (m) return m;
      }
      if (this.exitCode !== undefined)
        throw new Error(
          `${what}: the process exited (${this.exitCode}) first; stderr: ${this.stderrTail.trim()}`,
        );
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`${what}: nothing within ${timeoutMs} ms; stderr: ${this.stderrTail.trim()}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 1000));
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`; by PID only. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.exitCode !== undefined) return;
    signal(this.pid, "SIGTERM");
    const timer = setTimeout(() => signal(this.pid, "SIGKILL"), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/**
 * argv run inside network namespace `ns` with the file-descriptor limit raised (to 1,048,576, or
 * to the hard limit where raising that is not permitted), the same PID throughout.
 */
function inNetns(ns: string, argv: string[]): [string, string[]] {
  return [
    "ip",
    [
      "netns",
      "exec",
      ns,
      "bash",
      "-c",
      'ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$@"',
      "bash",
      ...argv,
    ],
  ];
}

// ---------------------------------------------------------------------------------------------
// /proc
// ---------------------------------------------------------------------------------------------

/** utime + stime of a process, in clock ticks. */
function cpuTicks(pid: number): number {
  const text = readFileSync(`/proc/${pid}/stat`, "utf8");
  const rest = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return Number(rest[11]) + Number(rest[12]);
}

function rssMb(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

/** The whole machine: busy and total jiffies over every CPU (/proc/stat). */
function hostCpu(): { busy: number; total: number } {
  const v = (readFileSync("/proc/stat", "utf8").split("\n")[0] as string)
    .trim()
    .split(/\s+/)
    .slice(1, 9)
    .map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  return { busy: total - (v[3] as number) - (v[4] as number), total };
}

function children(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8")
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

// ---------------------------------------------------------------------------------------------
// The vipd child: transpiled next to nothing, its src/ imports pointing at dist/
// ---------------------------------------------------------------------------------------------

/**
 * Extra node flags for the vipd child, from BENCH_CHILD_NODE_ARGS (space-separated): say
 * `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile its threads (NODE_OPTIONS refuses --cpu-prof).
 */
const CHILD_NODE_ARGS = (process.env.BENCH_CHILD_NODE_ARGS ?? "").split(" ").filter((a) => a !== "");

const CHILD_SOURCES = [
  "bench/checks-vipd.ts",
  "bench/checks-common.ts",
  "test/unit/ipvs/fake-ipvs-netlink.ts",
  "test/unit/ipvs/fake-ipvs.ts",
];

/** Writes the child's modules into `dir` as plain ESM; returns the entry point. */
async function prepareChild(dir: string): Promise<string> {
  if (!existsSync(join(PROJECT, "dist", "engine", "health-host.js")))
    throw new Error("dist/ is missing: run `npm run build` (npm run bench:checks does)");
  const ts = (await import("typescript")).default;
  mkdirSync(dir, { recursive: true });
  const outName = (file: string) => file.split("/").pop()?.replace(/\.ts$/, ".mjs") as string;
  for (const file of CHILD_SOURCES) {
    const abs = join(PROJECT, file);
    const { outputText } = ts.transpileModule(readFileSync(abs, "utf8"), {
      fileName: abs,
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    });
    const out = outputText.replace(
      /(\bfrom\s*|\bimport\s*\(?\s*)(["'])(\.\.?\/[^"']+)\2/g,
      (_m, pre: string, q: string, spec: string) => {
        const target = resolve(dirname(abs), spec);
        const rel = relative(PROJECT, target).replace(/\.js$/, ".ts");
        if (CHILD_SOURCES.includes(rel)) return `${pre}${q}./${outName(rel)}${q}`;
        const src = relative(join(PROJECT, "src"), target);
        if (src.startsWith("..")) throw new Error(`${file}: cannot map import ${spec}`);
        const dist = join(PROJECT, "dist", src);
        if (!existsSync(dist)) throw new Error(`${file}: ${dist} is missing (npm run build)`);
        return `${pre}${q}${pathToFileURL(dist).href}${q}`;
      },
    );
    writeFileSync(join(dir, outName(file)), out);
  }
  return join(dir, "checks-vipd.mjs");
}

// ---------------------------------------------------------------------------------------------
// Figures
// ---------------------------------------------------------------------------------------------

function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length, Math.max(1, Math.ceil((p / 100) * s.length))) - 1] as number;
}

interface Jitter {
  adverts: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** The longest gap between two adverts, and their mean. */
  maxGapMs: number;
  meanGapMs: number;
}

function jitter(times: readonly number[], intervalMs: number): Jitter {
  const gaps = times.slice(1).map((t, i) => t - (times[i] as number));
  const dev = gaps.map((g) => Math.abs(g - intervalMs));
  return {
    adverts: times.length,
    p50Ms: percentile(dev, 50),
    p99Ms: percentile(dev, 99),
    maxMs: dev.length ? Math.max(...dev) : Number.NaN,
    maxGapMs: gaps.length ? Math.max(...gaps) : Number.NaN,
    meanGapMs: gaps.length ? gaps.reduce((a, b) => a + b, 0) / gaps.length : Number.NaN,
  };
}

interface HostRow {
  kind: CheckKind;
  size: number;
  skipped?: string;
  error?: string;
  windowS?: number;
  ready?: VipdReady;
  report?: VipdWindowReport;
  vipdCpuPct?: number;
  rssMaxMb?: number;
  serverCpuPct?: number;
  hostBusyPct?: number;
  serverChecksPerS?: number;
  /** Send jitter: the adverts leaving vipd's interface. */
  jitter?: Record<number, Jitter>;
  /** The same adverts arriving at the peer's end of the veth. */
  arrivalJitter?: Record<number, Jitter>;
}

interface LabRun {
  impl: "keepalived" | "vipd";
  kind: "tcp" | "http";
  windowS: number;
  cpuMs: number;
  checks: number;
  /** vipd only: its own result counts; keepalived: log lines that report a failure. */
  failures: number;
  /** The real servers' CPU and the whole guest's busy share over the window. */
  serverCpuPct?: number;
  guestBusyPct?: number;
  note?: string;
  error?: string;
}

const fmtMs = (n: number | undefined, digits = 1): string =>
  n === undefined || Number.isNaN(n) ? "–" : Number.isFinite(n) ? `${n.toFixed(digits)} ms` : "overflow";
const bucket = (n: number | undefined): string =>
  n === undefined ? "–" : Number.isFinite(n) ? `≤ ${n} ms` : "> top bucket";
const pct = (n: number | undefined): string =>
  n === undefined || Number.isNaN(n) ? "–" : `${n.toFixed(0)} %`;
const int = (n: number | undefined): string =>
  n === undefined || Number.isNaN(n) ? "–" : Math.round(n).toLocaleString("en-US");

function markdown(rows: string[][]): string {
  return rows.map((r) => `| ${r.join(" | ")} |`).join("\n");
}

function falseTransitions(r: HostRow): number | undefined {
  return r.report ? r.report.serverTransitions.total : undefined;
}

function hostTable(rows: readonly HostRow[]): string {
  const head = [
    "check",
    "targets",
    "checks/s (vipd / servers)",
    "vipd CPU",
    "RSS",
    "main loop delay p99",
    "thread busy (main / health / vrrp)",
    "check latency p99",
    "scheduler lag p99",
    "false transitions",
    "advert send jitter p99 (100 ms / 20 ms)",
    "at the peer",
    "host CPU (all cores)",
    "servers' CPU",
  ];
  const out = [head, head.map(() => "---")];
  for (const r of rows) {
    const label = r.size === 0 ? "none (VRRP only)" : r.kind.toUpperCase();
    if (r.skipped || r.error || !r.report) {
      out.push([
        label,
        int(r.size),
        `skipped: ${r.skipped ?? r.error ?? "no report"}`,
        ...head.slice(3).map(() => "–"),
      ]);
      continue;
    }
    const rep = r.report;
    const w = (r.windowS as number) || rep.windowMs / 1000;
    const j100 = r.jitter?.[51];
    const j20 = r.jitter?.[52];
    out.push([
      label,
      int(r.size),
      `${int(rep.checks / w)} / ${int(r.serverChecksPerS)}`,
      pct(r.vipdCpuPct),
      `${int(r.rssMaxMb)} MB`,
      fmtMs(rep.loopDelayP99Ms),
      `${pct(rep.elu.main * 100)} / ${pct(rep.elu.health * 100)} / ${rep.elu.vrrp === null ? "–" : pct(rep.elu.vrrp * 100)}`,
      rep.checks > 0 ? bucket(rep.latencyP99Ms) : "–",
      rep.checks > 0 ? bucket(rep.lagP99Ms) : "–",
      String(falseTransitions(r)),
      `${fmtMs(j100?.p99Ms, 2)} / ${fmtMs(j20?.p99Ms, 2)}`,
      `${fmtMs(r.arrivalJitter?.[51]?.p99Ms, 2)} / ${fmtMs(r.arrivalJitter?.[52]?.p99Ms, 2)}`,
      pct(r.hostBusyPct),
      pct(r.serverCpuPct),
    ]);
  }
  return markdown(out);
}

function hostNotes(rows: readonly HostRow[]): string[] {
  const notes: string[] = [];
  for (const r of rows) {
    const rep = r.report;
    if (!rep) continue;
    const name = r.size === 0 ? "VRRP only" : `${r.kind.toUpperCase()} ${int(r.size)}`;
    const bad = Object.entries(rep.results).filter(([code]) => code !== "ok");
    if (bad.length > 0)
      notes.push(`${name}: results other than ok: ${bad.map(([c, n]) => `${c} ${n}`).join(", ")}`);
    if (rep.serverTransitions.total > 0)
      notes.push(`${name}: real_server transitions ${JSON.stringify(rep.serverTransitions.byKind)}`);
    if (rep.vrrp.transitions.length > 0 || rep.vrrp.demotes.length > 0)
      notes.push(`${name}: VRRP in the window: ${[...rep.vrrp.transitions, ...rep.vrrp.demotes].join("; ")}`);
    const j = r.jitter ?? {};
    const seen = VRRP.map((v) => `${j[v.vrid]?.adverts ?? 0}/${rep.vrrp.advertsSent[`vr${v.vrid}`] ?? "?"}`);
    notes.push(
      `${name}: ` +
        (rep.checks > 0
          ? `latency p50 ${bucket(rep.latencyP50Ms)}, lag p50 ${bucket(rep.lagP50Ms)}, max lag since start ${fmtMs(rep.maxLagSinceStartMs, 0)}, `
          : "") +
        `main loop delay max ${fmtMs(rep.loopDelayMaxMs)}, advert jitter max ${fmtMs(j[51]?.maxMs, 2)} / ${fmtMs(j[52]?.maxMs, 2)}, ` +
        `mean advert gap ${fmtMs(j[51]?.meanGapMs, 2)} / ${fmtMs(j[52]?.meanGapMs, 2)}, ` +
        `adverts captured/sent ${seen.join(", ")}, setup ${int(r.ready?.setupMs)} ms, ${r.ready?.probes} probes`,
    );
  }
  return notes;
}

function labTable(runs: readonly LabRun[]): string {
  const head = [
    "check (1,000 targets)",
    "keepalived CPU / checks",
    "keepalived CPU ms per 1,000 checks",
    "vipd CPU / checks",
    "vipd CPU ms per 1,000 checks",
    "vipd / keepalived",
  ];
  const out = [head, head.map(() => "---")];
  for (const kind of ["tcp", "http"] as const) {
    const k = runs.find((r) => r.impl === "keepalived" && r.kind === kind);
    const v = runs.find((r) => r.impl === "vipd" && r.kind === kind);
    const per = (r: LabRun | undefined) => (r && r.checks > 0 ? (1000 * r.cpuMs) / r.checks : Number.NaN);
    const cell = (r: LabRun | undefined) =>
      !r
        ? "–"
        : r.error
          ? `failed: ${r.error}`
          : `${int(r.cpuMs)} ms / ${int(r.checks)} (${int(r.checks / r.windowS)}/s)`;
    const ratio = per(v) / per(k);
    out.push([
      kind === "tcp" ? "TCP (TCP_CHECK)" : "HTTP (HTTP_GET)",
      cell(k),
      fmtMs(per(k)),
      cell(v),
      fmtMs(per(v)),
      Number.isNaN(ratio) ? "–" : ratio.toFixed(2),
    ]);
  }
  return markdown(out);
}

// ---------------------------------------------------------------------------------------------
// Part 1: the host
// ---------------------------------------------------------------------------------------------

interface Sandbox {
  ns: string;
  dir: string;
  childEntry: string;
  cleanups: Array<() => void>;
}

async function hostPart(o: Options, sandbox: Sandbox): Promise<HostRow[]> {
  const { ns, dir } = sandbox;
  const run = (args: string[]) => sh("ip", ["-n", ns, ...args]);
  sh("ip", ["netns", "add", ns]);
  sandbox.cleanups.push(() => spawnSync("ip", ["netns", "del", ns]));
  run(["link", "set", "lo", "up"]);
  run(["link", "add", "vbA", "type", "veth", "peer", "name", "vbB"]);
  run(["addr", "add", "10.255.0.1/24", "dev", "vbA"]);
  run(["link", "set", "vbA", "up"]);
  run(["link", "set", "vbB", "up"]);
  sh("ip", [
    "netns",
    "exec",
    ns,
    "sysctl",
    "-q",
    "-w",
    `net.ipv4.ip_local_port_range=${EPHEMERAL_RANGE}`,
    "net.ipv4.tcp_tw_reuse=1",
    "net.core.somaxconn=65535",
  ]);

  // The certificate: P-256, self-signed, an IP SAN for every target address; the checks trust it.
  const maxSize = Math.max(...o.sizes);
  const cert = join(dir, "cert.pem");
  const key = join(dir, "key.pem");
  const sans = targetAddresses(maxSize)
    .map((a) => `IP:${a}`)
    .join(",");
  sh("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    key,
    "-out",
    cert,
    "-days",
    "2",
    "-subj",
    "/CN=vipd-bench",
    "-addext",
    `subjectAltName=${sans}`,
  ]);

  const ports = (k: CheckKind) => [PORT_BASE[k], PORTS_PER_ADDRESS];
  const server = new LineProc(
    ...inNetns(ns, [
      process.execPath,
      SERVER,
      JSON.stringify({ tcp: ports("tcp"), http: ports("http"), https: ports("https"), cert, key }),
    ]),
  );
  sandbox.cleanups.push(() => signal(server.pid, "SIGKILL"));
  await server.waitLine(/^ready$/, 30_000, "the real servers");
  const counts: Counts = async () => {
    server.send("count");
    const m = await server.waitLine(/^(\{.*\})$/, 30_000, "the servers' count");
    return JSON.parse(m[1] as string);
  };

  // Adverts with kernel timestamps, twice: leaving vipd's interface (the send, which is what the
  // VRRP worker controls) and arriving at the peer's end of the veth (the send plus this host's
  // receive path, which a loaded host's softirq backlog delays).
  const taps: LineProc[] = [];
  const adverts: AdvertTaps = {
    sent: await captureAdverts(ns, "vbA", sandbox, taps),
    arrived: await captureAdverts(ns, "vbB", sandbox, taps),
  };

  const rows: HostRow[] = [];
  const cores = cpus().length;
  // First the reference: the VRRP instances with no checks at all.
  const plan: Array<[CheckKind, number]> = [["tcp", 0]];
  for (const kind of o.types) for (const size of o.sizes) plan.push([kind, size]);
  for (const [kind, size] of plan) {
    const row: HostRow = { kind, size };
    rows.push(row);
    // HTTPS at 20,000 is skipped when a smaller https row shows it cannot hold (its CPU per
    // check × the rate > every core of the machine).
    const measured = rows.filter(
      (r) => r.kind === kind && r.size > 0 && r.report && r.vipdCpuPct !== undefined,
    );
    const last = measured.at(-1);
    if (kind === "https" && size >= 20000 && last?.report && last.vipdCpuPct !== undefined && last.windowS) {
      const perCheckMs = (10 * (last.vipdCpuPct * last.windowS)) / last.report.checks;
      const needCores = (perCheckMs * size * (1000 / o.intervalMs)) / 1000;
      if (needCores > cores) {
        row.skipped =
          `${int(last.size)} ${kind} cost ${perCheckMs.toFixed(2)} ms of CPU per check in vipd alone: ` +
          `${int(size)} per ${o.intervalMs / 1000} s would need ${needCores.toFixed(1)} cores, the machine has ${cores}`;
        say(`${kind} ${size}: skipped (${row.skipped})`);
        continue;
      }
    }
    say(
      `${size === 0 ? "VRRP only" : `${kind} ${size}`}: starting vipd (${o.warmupS} s warm-up, ${o.durationS} s window)`,
    );
    try {
      await hostRow(o, sandbox, row, counts, server, adverts);
      const rep = row.report as VipdWindowReport;
      say(
        `  ${int(rep.checks / (row.windowS as number))} checks/s, vipd CPU ${pct(row.vipdCpuPct)}, ` +
          `false transitions ${falseTransitions(row)}, jitter p99 ${fmtMs(row.jitter?.[51]?.p99Ms, 2)} / ${fmtMs(row.jitter?.[52]?.p99Ms, 2)}`,
      );
    } catch (err) {
      row.error = err instanceof Error ? err.message : String(err);
      say(`  failed: ${row.error}`);
    }
  }
  server.proc.stdin?.end();
  await server.stop(5000);
  await Promise.all(taps.map((t) => t.stop(5000)));
  return rows;
}

/** Advert timestamps (epoch ms) by VRID, as a tcpdump on one interface saw them. */
type AdvertTimes = Map<number, number[]>;

interface AdvertTaps {
  sent: AdvertTimes;
  arrived: AdvertTimes;
}

/** Starts a tcpdump of the adverts on `ifname` (added to `procs`); returns the times it collects. */
async function captureAdverts(
  ns: string,
  ifname: string,
  sandbox: Sandbox,
  procs: LineProc[],
): Promise<AdvertTimes> {
  const adverts: AdvertTimes = new Map(VRRP.map((v) => [v.vrid, []]));
  const dump = new LineProc(
    ...inNetns(ns, [
      "tcpdump",
      "-i",
      ifname,
      "-Q",
      ifname === "vbA" ? "out" : "in",
      "-n",
      "-l",
      "-tt",
      "--immediate-mode",
      "--time-stamp-precision=micro",
      "-B",
      "8192",
      "ip proto 112",
    ]),
  );
  procs.push(dump);
  sandbox.cleanups.push(() => signal(dump.pid, "SIGKILL"));
  dump.onLine = (line) => {
    const m = /^(\d+\.\d+) .*vrid (\d+),/.exec(line);
    if (m) adverts.get(Number(m[2]))?.push(Number(m[1]) * 1000);
  };
  for (let i = 0; i < 100 && !dump.stderr.includes("listening on"); i++) await sleep(100);
  if (!dump.stderr.includes("listening on"))
    throw new Error(`tcpdump on ${ifname} did not start: ${dump.stderr}`);
  return adverts;
}

function windowJitter(times: AdvertTimes, from: number, to: number): Record<number, Jitter> {
  const out: Record<number, Jitter> = {};
  for (const v of VRRP)
    out[v.vrid] = jitter(
      (times.get(v.vrid) ?? []).filter((t) => t >= from && t <= to),
      v.advertIntervalMs,
    );
  return out;
}

async function hostRow(
  o: Options,
  sandbox: Sandbox,
  row: HostRow,
  counts: Counts,
  server: LineProc,
  adverts: AdvertTaps,
): Promise<void> {
  const stateDir = join(sandbox.dir, `state-${row.kind}-${row.size}`);
  mkdirSync(stateDir, { recursive: true });
  const spec: VipdChildSpec = {
    kind: row.kind,
    size: row.size,
    intervalMs: o.intervalMs,
    vrrp: VRRP,
    vrrpInterface: "vbA",
    measureLoop: true,
    stateDir,
    caFile: join(sandbox.dir, "cert.pem"),
  };
  const vipd = new LineProc(
    ...inNetns(sandbox.ns, [process.execPath, ...CHILD_NODE_ARGS, sandbox.childEntry, JSON.stringify(spec)]),
  );
  const kill = () => signal(vipd.pid, "SIGKILL");
  sandbox.cleanups.push(kill);
  try {
    const ready = await vipd.waitLine(/^ready (.*)$/, 180_000, "vipd start");
    row.ready = JSON.parse(ready[1] as string) as VipdReady;
    await sleep(o.warmupS * 1000);
    const c0 = await counts();
    const cpu0 = cpuTicks(vipd.pid);
    const srv0 = cpuTicks(server.pid);
    const host0 = hostCpu();
    vipd.send("mark");
    const marked = JSON.parse((await vipd.waitLine(/^marked (.*)$/, 30_000, "vipd mark"))[1] as string) as {
      at: number;
    };
    const t0 = Date.now();
    let rssMax = rssMb(vipd.pid);
    const end = t0 + o.durationS * 1000;
    while (Date.now() < end) {
      await sleep(Math.min(1000, end - Date.now()));
      rssMax = Math.max(rssMax, rssMb(vipd.pid));
    }
    vipd.send("report");
    const report = JSON.parse(
      (await vipd.waitLine(/^report (.*)$/, 60_000, "vipd report"))[1] as string,
    ) as VipdWindowReport;
    const t1 = Date.now();
    const cpu1 = cpuTicks(vipd.pid);
    const srv1 = cpuTicks(server.pid);
    const host1 = hostCpu();
    const c1 = await counts();
    const windowS = (t1 - t0) / 1000;
    row.windowS = windowS;
    row.report = report;
    row.vipdCpuPct = (100 * (cpu1 - cpu0)) / TICKS_PER_S / windowS;
    row.serverCpuPct = (100 * (srv1 - srv0)) / TICKS_PER_S / windowS;
    row.hostBusyPct = (100 * (host1.busy - host0.busy)) / (host1.total - host0.total);
    row.rssMaxMb = rssMax;
    row.serverChecksPerS = (c1[row.kind] - c0[row.kind]) / ((c1.at - c0.at) / 1000);
    row.jitter = windowJitter(adverts.sent, marked.at, t1);
    row.arrivalJitter = windowJitter(adverts.arrived, marked.at, t1);
    vipd.send("stop");
    await Promise.race([vipd.waitLine(/^stopped/, 20_000, "vipd stop"), vipd.exited]);
  } finally {
    await vipd.stop(5000);
    sandbox.cleanups.splice(sandbox.cleanups.indexOf(kill), 1);
    rmSync(stateDir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Part 2: the lab kernel (host side, then guest side)
// ---------------------------------------------------------------------------------------------

async function labPart(
  o: Options,
  sandbox: Sandbox,
): Promise<{ runs: LabRun[]; release: string; error?: string }> {
  const { prepareLabKernel, runInLabKernel } = await import("../test/lab/harness/lab-kernel.js");
  const kernel = prepareLabKernel();
  say(
    `lab kernel ${kernel.release}: keepalived and vipd, ${LAB_SIZE} targets every ${o.labIntervalMs / 1000} s, ${o.durationS} s each…`,
  );
  // Every probe has run at least once (the first runs are spread over an interval) before the window.
  const warmup = Math.max(15, o.warmupS, Math.ceil((1.5 * o.labIntervalMs) / 1000));
  const args = [
    "--guest",
    "--duration",
    String(o.durationS),
    "--warmup",
    String(warmup),
    "--interval",
    String(o.labIntervalMs),
    "--child-dir",
    dirname(sandbox.childEntry),
  ];
  const r = await runInLabKernel({
    kernel,
    script: [
      "set -e",
      "modprobe -a ip_vs ip_vs_wlc",
      'ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)"',
      `node --import ./test/lab/fixtures/ts-loader.mjs bench/checks.ts ${args.join(" ")}`,
      "uname -r",
    ].join("\n"),
    timeoutMs: 900_000 + 4 * (o.durationS + warmup + 180) * 1000,
  });
  const runs = [...r.output.matchAll(/^@@CHECKS-LAB (.*)$/gm)].map(
    (m) => JSON.parse(m[1] as string) as LabRun,
  );
  const other = r.output.replace(/^@@CHECKS-LAB .*\n?/gm, "").trim();
  const release = other.split("\n").pop() ?? kernel.release;
  if (r.code !== 0 || runs.length === 0)
    return { runs, release: kernel.release, error: `the guest exited ${r.code}: ${other.slice(-3000)}` };
  if (other.length > 0) say(`guest output:\n${other}`);
  return { runs, release };
}

async function guestPart(o: Options): Promise<void> {
  if (!o.childDir) throw new Error("--guest needs --child-dir");
  const childEntry = join(o.childDir, "checks-vipd.mjs");
  const ns = `vipdbc${process.pid}g`;
  const dir = join(process.env.TMPDIR ?? tmpdir(), `vipdbc${process.pid}`);
  mkdirSync(dir, { recursive: true });
  const procs: LineProc[] = [];
  const emit = (run: LabRun) => process.stdout.write(`@@CHECKS-LAB ${JSON.stringify(run)}\n`);
  sh("ip", ["netns", "add", ns]);
  try {
    sh("ip", ["-n", ns, "link", "set", "lo", "up"]);
    sh("ip", [
      "netns",
      "exec",
      ns,
      "sysctl",
      "-q",
      "-w",
      `net.ipv4.ip_local_port_range=${EPHEMERAL_RANGE}`,
      "net.ipv4.tcp_tw_reuse=1",
    ]);
    const server = new LineProc(
      ...inNetns(ns, [
        process.execPath,
        SERVER,
        JSON.stringify({
          tcp: [PORT_BASE.tcp, PORTS_PER_ADDRESS],
          http: [PORT_BASE.http, PORTS_PER_ADDRESS],
        }),
      ]),
    );
    procs.push(server);
    await server.waitLine(/^ready$/, 120_000, "the real servers");
    const counts = async (): Promise<Record<CheckKind, number> & { at: number }> => {
      server.send("count");
      return JSON.parse((await server.waitLine(/^(\{.*\})$/, 60_000, "the servers' count"))[1] as string);
    };
    // Alternate the order: TCP keepalived first, HTTP vipd first.
    const plan: Array<[LabRun["impl"], LabRun["kind"]]> = [
      ["keepalived", "tcp"],
      ["vipd", "tcp"],
      ["vipd", "http"],
      ["keepalived", "http"],
    ];
    for (const [impl, kind] of plan) {
      const base: LabRun = { impl, kind, windowS: 0, cpuMs: 0, checks: 0, failures: 0 };
      try {
        emit(
          impl === "keepalived"
            ? await guestKeepalived(o, ns, dir, kind, counts, server.pid, procs)
            : await guestVipd(o, ns, dir, childEntry, kind, counts, server.pid, procs),
        );
      } catch (err) {
        emit({ ...base, error: err instanceof Error ? err.message.slice(0, 500) : String(err) });
      }
    }
    server.proc.stdin?.end();
    await server.stop(5000);
  } finally {
    for (const p of procs) signal(p.pid, "SIGKILL");
    spawnSync("ip", ["netns", "del", ns]);
  }
}

type Counts = () => Promise<Record<CheckKind, number> & { at: number }>;

async function measure(
  o: Options,
  kind: "tcp" | "http",
  pids: () => number[],
  counts: Counts,
  serverPid: number,
): Promise<{ windowS: number; cpuMs: number; checks: number; serverCpuPct: number; guestBusyPct: number }> {
  const ticks = () => pids().reduce((n, p) => n + cpuTicks(p), 0);
  const c0 = await counts();
  const cpu0 = ticks();
  const srv0 = cpuTicks(serverPid);
  const host0 = hostCpu();
  await sleep(o.durationS * 1000);
  const cpu1 = ticks();
  const srv1 = cpuTicks(serverPid);
  const host1 = hostCpu();
  const c1 = await counts();
  const windowS = (c1.at - c0.at) / 1000;
  return {
    windowS,
    cpuMs: ((cpu1 - cpu0) * 1000) / TICKS_PER_S,
    checks: c1[kind] - c0[kind],
    serverCpuPct: (100 * (srv1 - srv0)) / TICKS_PER_S / windowS,
    guestBusyPct: (100 * (host1.busy - host0.busy)) / (host1.total - host0.total),
  };
}

async function guestKeepalived(
  o: Options,
  ns: string,
  dir: string,
  kind: "tcp" | "http",
  counts: Counts,
  serverPid: number,
  procs: LineProc[],
): Promise<LabRun> {
  const conf = join(dir, `keepalived-${kind}.conf`);
  writeFileSync(conf, keepalivedConf(kind, LAB_SIZE, o.intervalMs));
  const ka = new LineProc(
    ...inNetns(ns, [
      "keepalived",
      "--dont-fork",
      "--check",
      "--log-console",
      "--log-detail",
      "--no-syslog",
      "--dont-respawn",
      "-f",
      conf,
      "-p",
      join(dir, "keepalived.pid"),
      "-c",
      join(dir, "keepalived-checkers.pid"),
    ]),
  );
  procs.push(ka);
  let logLines = 0;
  let failures = 0;
  const onLog = (line: string) => {
    logLines++;
    if (/fail|timeout|DOWN|Removing/i.test(line)) failures++;
  };
  ka.onLine = onLog;
  ka.proc.stderr?.on("data", (d: string) => {
    for (const line of String(d).split("\n")) if (line) onLog(line);
  });
  try {
    let checker: number | undefined;
    for (let i = 0; i < 600 && checker === undefined; i++) {
      if (ka.exitCode !== undefined)
        throw new Error(`keepalived exited ${ka.exitCode}: ${ka.stderr.slice(-500)}`);
      checker = children(ka.pid)[0];
      if (checker === undefined) await sleep(100);
    }
    if (checker === undefined) throw new Error("keepalived started no checker process");
    await sleep(o.warmupS * 1000);
    const dests = sh("ip", ["netns", "exec", ns, "ipvsadm", "-Ln"])
      .split("\n")
      .filter((l) => l.includes("->") && l.includes("127.0.1.")).length;
    const before = failures;
    const linesBefore = logLines;
    const m = await measure(o, kind, () => [ka.pid, checker as number], counts, serverPid);
    return {
      impl: "keepalived",
      kind,
      ...m,
      failures: failures - before,
      note: `checker pid ${checker}; ${dests} IPVS destinations; ${logLines - linesBefore} log lines in the window`,
    };
  } finally {
    await ka.stop(15_000);
  }
}

async function guestVipd(
  o: Options,
  ns: string,
  dir: string,
  childEntry: string,
  kind: "tcp" | "http",
  counts: Counts,
  serverPid: number,
  procs: LineProc[],
): Promise<LabRun> {
  const stateDir = join(dir, `state-${kind}`);
  mkdirSync(stateDir, { recursive: true });
  const spec: VipdChildSpec = {
    kind,
    size: LAB_SIZE,
    intervalMs: o.intervalMs,
    vrrp: [],
    vrrpInterface: "lo",
    measureLoop: false,
    stateDir,
  };
  const vipd = new LineProc(...inNetns(ns, [process.execPath, childEntry, JSON.stringify(spec)]));
  procs.push(vipd);
  try {
    await vipd.waitLine(/^ready (.*)$/, 600_000, "vipd start");
    await sleep(o.warmupS * 1000);
    vipd.send("mark");
    await vipd.waitLine(/^marked /, 60_000, "vipd mark");
    const m = await measure(o, kind, () => [vipd.pid], counts, serverPid);
    vipd.send("report");
    const rep = JSON.parse(
      (await vipd.waitLine(/^report (.*)$/, 120_000, "vipd report"))[1] as string,
    ) as VipdWindowReport;
    vipd.send("stop");
    await Promise.race([vipd.waitLine(/^stopped/, 60_000, "vipd stop"), vipd.exited]);
    const bad = Object.entries(rep.results).filter(([c]) => c !== "ok");
    const codes = Object.entries(rep.results)
      .map(([c, n]) => `${c} ${n}`)
      .join(", ");
    return {
      impl: "vipd",
      kind,
      ...m,
      failures: bad.reduce((n, [, v]) => n + v, 0),
      note: `vipd counted ${rep.checks} checks (${codes}); real_server transitions ${rep.serverTransitions.total}; health thread busy ${pct(rep.elu.health * 100)}`,
    };
  } finally {
    await vipd.stop(10_000);
  }
}

// ---------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------

function targetsVerdict(rows: readonly HostRow[], lab: readonly LabRun[], intervalMs: number): string[] {
  const lines: string[] = [];
  const row = (kind: CheckKind, size: number) => rows.find((r) => r.kind === kind && r.size === size);
  const held = (r: HostRow | undefined) =>
    r?.report && r.windowS ? r.report.checks / r.windowS / (r.size * (1000 / intervalMs)) : Number.NaN;
  const h5 = row("http", 5000);
  if (h5?.report) {
    const rate = held(h5);
    const j100 = h5.jitter?.[51]?.p99Ms ?? Number.NaN;
    const j20 = h5.jitter?.[52]?.p99Ms ?? Number.NaN;
    const base = row("tcp", 0);
    const ok = rate >= 0.97 && falseTransitions(h5) === 0 && j100 < 2 && j20 < 2;
    lines.push(
      `- 5,000 HTTP targets at 1 s, zero false transitions, advert jitter p99 < 2 ms: ${ok ? "met" : "NOT met"} ` +
        `(${(rate * 100).toFixed(1)} % of the checks due done, ${falseTransitions(h5)} false transitions, ` +
        `jitter p99 ${fmtMs(j100, 2)} at 100 ms / ${fmtMs(j20, 2)} at 20 ms; with no checks at all ` +
        `${fmtMs(base?.jitter?.[51]?.p99Ms, 2)} / ${fmtMs(base?.jitter?.[52]?.p99Ms, 2)})`,
    );
  } else lines.push("- 5,000 HTTP targets: not measured in this run");
  const t20 = row("tcp", 20000);
  if (t20?.report) {
    const rate = held(t20);
    const ok = rate >= 0.97 && falseTransitions(t20) === 0;
    lines.push(
      `- 20,000 TCP targets at 1 s without a false transition: ${ok ? "met" : "NOT met"} ` +
        `(${(rate * 100).toFixed(1)} % of the checks due done, ${falseTransitions(t20)} false transitions)`,
    );
  } else lines.push("- 20,000 TCP targets: not measured in this run");
  for (const kind of ["tcp", "http"] as const) {
    const k = lab.find((r) => r.impl === "keepalived" && r.kind === kind && !r.error);
    const v = lab.find((r) => r.impl === "vipd" && r.kind === kind && !r.error);
    if (!k || !v || k.checks === 0 || v.checks === 0) {
      lines.push(`- CPU per ${kind.toUpperCase()} check vs keepalived: not measured`);
      continue;
    }
    const ratio = v.cpuMs / v.checks / (k.cpuMs / k.checks);
    lines.push(
      `- CPU per ${kind.toUpperCase()} check no worse than keepalived's: ${ratio <= 1 ? "met" : "NOT met"} (vipd/keepalived ${ratio.toFixed(2)})`,
    );
  }
  return lines;
}

async function main(): Promise<number> {
  const o = parseArgs(process.argv.slice(2));
  if (o.guest) {
    await guestPart(o);
    return 0;
  }
  if (process.getuid?.() !== 0) {
    say("bench:checks needs root (network namespaces, tcpdump, the lab kernel)");
    return 1;
  }
  const started = Date.now();
  const dir = join(tmpdir(), `vipdbc${process.pid}`);
  const sandbox: Sandbox = { ns: `vipdbc${process.pid}`, dir, childEntry: "", cleanups: [] };
  const { onProcessExit } = await import("../test/lab/harness/proc.js");
  const unhook = onProcessExit(() => {
    for (const fn of sandbox.cleanups.splice(0).reverse()) fn();
    rmSync(dir, { recursive: true, force: true });
  });
  mkdirSync(dir, { recursive: true });
  let rows: HostRow[] = [];
  let lab: { runs: LabRun[]; release: string; error?: string } | undefined;
  const errors: string[] = [];
  try {
    sandbox.childEntry = await prepareChild(join(dir, "child"));
    if (o.part !== "lab") {
      try {
        rows = await hostPart(o, sandbox);
      } catch (err) {
        errors.push(`host part: ${err instanceof Error ? err.message : String(err)}`);
      } finally {
        for (const fn of sandbox.cleanups.splice(0).reverse()) fn();
      }
    }
    if (o.part !== "host") {
      try {
        lab = await labPart(o, sandbox);
        if (lab.error) errors.push(`lab part: ${lab.error}`);
      } catch (err) {
        errors.push(`lab part: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  } finally {
    for (const fn of sandbox.cleanups.splice(0).reverse()) fn();
    rmSync(dir, { recursive: true, force: true });
    unhook();
  }
  const minutes = ((Date.now() - started) / 60_000).toFixed(1);
  const out: string[] = [];
  const cores = cpus().length;
  if (o.part !== "lab") {
    out.push(
      "",
      `Part 1 — vipd's checker on this host (${cores} cores, node ${process.version}), loopback targets in a namespace of its own,` +
        ` interval ${o.intervalMs} ms, ${o.warmupS} s warm-up then a ${o.durationS} s window per row;` +
        " VRRP instances at 100 ms and 20 ms adverts in the same VRRP worker:",
      "",
      hostTable(rows),
      "",
      "CPU in % of one core; thread busy = event-loop utilisation; latency and lag are histogram bucket bounds;" +
        " false transitions = real_server transitions since the process started (every target is up).",
      ...hostNotes(rows).map((n) => `- ${n}`),
    );
  }
  if (o.part !== "host") {
    out.push(
      "",
      `Part 2 — CPU per check, keepalived ${keepalivedVersion()} vs vipd, ${int(LAB_SIZE)} targets every ${o.labIntervalMs / 1000} s (delay_loop),` +
        ` ${o.durationS} s each, in the lab kernel ${lab?.release ?? "?"} under QEMU/TCG (same boot; only the ratio counts):`,
      "",
      labTable(lab?.runs ?? []),
      "",
      "CPU = utime + stime over the window (keepalived: parent + checker child; vipd: its process, every thread);" +
        " checks = connections (TCP) or requests (HTTP) the servers counted in the window.",
      ...(lab?.runs ?? []).map(
        (r) =>
          `- ${r.impl} ${r.kind}: ${r.error ? `failed: ${r.error}` : `${r.failures} failures; servers' CPU ${pct(r.serverCpuPct)}, guest CPU ${pct(r.guestBusyPct)} of all vCPUs${r.note ? `; ${r.note}` : ""}`}`,
      ),
    );
  }
  out.push(
    "",
    "Targets:",
    ...targetsVerdict(rows, lab?.runs ?? [], o.intervalMs),
    "",
    `${minutes} min in all.`,
  );
  if (errors.length > 0) out.push("", "Broken:", ...errors.map((e) => `- ${e}`));
  process.stdout.write(`${out.join("\n")}\n`);
  if (o.json) writeFileSync(o.json, `${JSON.stringify({ options: o, rows, lab }, null, 2)}\n`);
  return errors.length > 0 ? 1 : 0;
}

function keepalivedVersion(): string {
  const r = spawnSync("keepalived", ["--version"], { encoding: "utf8" });
  return /Keepalived v(\S+)/.exec(`${r.stdout}${r.stderr}`)?.[1] ?? "?";
}

process.exitCode = await main();
