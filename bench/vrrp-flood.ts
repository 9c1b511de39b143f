/**
 * VRRP flood benchmark: what a flood of VRRP-protocol packets from a third host does to a vipd
 * pair. It backs two hardening features of the VRRP sockets (src/sys/vrrp-socket.ts): the kernel
 * classic-BPF filter that lets through only the VRIDs of the socket's instances (src/sys/bpf.ts),
 * and the 4 MiB receive queue with SO_RXQ_OVFL, whose losses are counted as `queue_overflow`.
 *
 *   npm run bench:flood                     # builds, then runs every row (≈1 min)
 *   BENCH_SECONDS=5 npm run bench:flood     # shorter floods
 *
 * Environment:
 *   BENCH_SECONDS  length of each row (the flood, and the no-flood baseline), default 10
 *   BENCH_BURST    packets per send burst of the flooder (a setImmediate yield between bursts),
 *                  default 256
 *
 * Topology (test/lab/harness/directors.ts): directors d1 (priority 150, master) and d2 (priority
 * 100, backup) run vipd, VRRPv3, adverts every 100 ms, VRID 51; the flooder runs in the injector
 * host x (a child process: the measuring process stays idle); the client namespace cl is a
 * bystander that timestamps every advert of d1 and d2 on the segment.
 *
 * Rows:
 *   no flood                 the baseline: CPU and the master's advert timing over the same time
 *   foreign VRID             well-formed adverts for VRID 52, which the pair does not run: the
 *                            kernel filter should drop them (no CPU, no drops counted)
 *   own VRID, bad checksum   VRID 51, priority 254, a broken checksum: they pass the filter, the
 *                            VRRP worker validates them and counts `checksum` (and
 *                            `queue_overflow` when it cannot keep up)
 *
 * For each row and director: the vipd process's CPU (from /proc/PID/stat) and its busiest threads
 * (/proc/PID/task/TID/stat), the drops counted per reason over the row (the daemon's status over
 * its API socket, just before and 1 s after the flood), its transitions, and its adverts sent and
 * received; for the segment: the master's adverts seen by the bystander, with the largest gap
 * between two of them (a gap of Master_Down_Interval would have let the backup take over).
 *
 * It needs root (network namespaces). It prints figures; it never fails on them. It exits
 * non-zero only when something broke (the lab or a daemon did not start, the pair did not settle
 * again after a flood, the flooder failed).
 */

import { readdirSync, readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { fetchStatus } from "../src/api/client.js";
import type { VrrpInstanceStatus } from "../src/api/status.js";
import { VRRP_TTL } from "../src/vrrp/packet.js";
import {
  createDirectorLab,
  type DirectorLab,
  masterDownMs,
  NET,
  startDirector,
  waitForSettled,
} from "../test/lab/harness/directors.js";
import { nowMs } from "../test/lab/harness/lines.js";
import type { LabProcess } from "../test/lab/harness/netns.js";
import type { Vipd } from "../test/lab/harness/vipd.js";
import {
  type AdvertBase,
  AdvertWatcher,
  Injector,
  malformedAdvert,
  type SeenAdvert,
  validAdvert,
} from "../test/lab/harness/vrrp-inject.js";
import { envInt } from "./env.js";

const VERSION = 3;
const ADVERT_INTERVAL_MS = 100;
const MASTER_PRIORITY = 150;
const BACKUP_PRIORITY = 100;
/** After a flood: time for the daemons to drain their queues before the counters are read. */
const DRAIN_MS = 1000;
/** Any single wait for the pair (start-up, settling again). */
const WAIT_MS = 15_000;
/** USER_HZ: the unit of the times in /proc/PID/stat (100 on every Linux architecture vipd runs on). */
const CLOCK_TICKS_PER_S = 100;

const SELF = fileURLToPath(import.meta.url);
const TS_LOADER = fileURLToPath(new URL("../test/lab/fixtures/ts-loader.mjs", import.meta.url));
const CHILD_FLAG = "--flood-child";

type FloodKind = "foreign_vrid" | "own_vrid_bad_checksum";
type RowKind = "none" | FloodKind;

const ROWS: ReadonlyArray<{ kind: RowKind; label: string }> = [
  { kind: "none", label: "no flood" },
  { kind: "foreign_vrid", label: "foreign VRID" },
  { kind: "own_vrid_bad_checksum", label: "own VRID, bad checksum" },
];

type DirectorName = "d1" | "d2";
const DIRECTOR_NAMES: readonly DirectorName[] = ["d1", "d2"];

const say = (s: string): void => {
  process.stderr.write(`${s}\n`);
};

const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

// ---------------------------------------------------------------------------------------------
// The flooder (a child process in the injector's namespace)
// ---------------------------------------------------------------------------------------------

interface FloodSpec {
  kind: FloodKind;
  netns: string;
  seconds: number;
  burst: number;
}

interface FloodResult {
  sent: number;
  errors: number;
  firstError?: string;
  /** Epoch ms of the first and after the last send. */
  start: number;
  stop: number;
  /** The flooder's own CPU time over the flood (user + system), ms. */
  cpuMs: number;
}

/** The packet a flood of `kind` repeats, built as a peer on the segment (x) would. */
function floodPacket(kind: FloodKind): { payload: Buffer; ttl: number } {
  const base: AdvertBase = {
    version: VERSION,
    vrid: NET.vrid,
    priority: BACKUP_PRIORITY,
    advertIntervalMs: ADVERT_INTERVAL_MS,
    addresses: [NET.vip],
    src: NET.injector,
  };
  if (kind === "foreign_vrid") return { payload: validAdvert(base, { vrid: NET.vrid + 1 }), ttl: VRRP_TTL };
  // Priority 254: were the checksum not checked, these would take the VIP from d1.
  const bad = malformedAdvert("higher_priority_bad_checksum", base);
  return { payload: bad.payload, ttl: bad.ttl };
}

/**
 * Child mode: opens the injector socket, prints `ready`, waits for SIGUSR2, floods for
 * `spec.seconds` (printing `start <ms>` first), then prints `done <json>`.
 */
async function floodChild(spec: FloodSpec): Promise<number> {
  const { payload, ttl } = floodPacket(spec.kind);
  const inj = Injector.open(spec.netns, "eth0");
  let sent = 0;
  let errors = 0;
  let firstError: string | undefined;
  // The parent reads its "before" counters between "ready" and the go signal.
  // (A signal listener does not keep the process alive, the unref'd socket neither: the timer does.)
  const go = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no go signal (SIGUSR2) within 30 s")), 30_000);
    process.once("SIGUSR2", () => {
      clearTimeout(timer);
      resolve();
    });
  });
  process.stdout.write("ready\n");
  await go;
  const cpu0 = process.cpuUsage();
  const start = nowMs();
  const end = start + spec.seconds * 1000;
  process.stdout.write(`start ${start}\n`);
  await new Promise<void>((resolve) => {
    const burst = (): void => {
      for (let i = 0; i < spec.burst; i++) {
        try {
          inj.send(payload, { ttl });
          sent++;
        } catch (err) {
          errors++;
          firstError ??= errorText(err);
        }
      }
      if (nowMs() < end) setImmediate(burst);
      else resolve();
    };
    burst();
  });
  const stop = nowMs();
  const cpu = process.cpuUsage(cpu0);
  inj.close();
  const result: FloodResult = {
    sent,
    errors,
    ...(firstError !== undefined ? { firstError } : {}),
    start,
    stop,
    cpuMs: (cpu.user + cpu.system) / 1000,
  };
  process.stdout.write(`done ${JSON.stringify(result)}\n`);
  return 0;
}

// ---------------------------------------------------------------------------------------------
// The bystander: adverts of d1 and d2 as seen from cl
// ---------------------------------------------------------------------------------------------

interface AdvertTiming {
  /** d1's adverts that arrived within the row. */
  count: number;
  medianGapMs: number;
  maxGapMs: number;
  /** d2's adverts within the row (it sends none while backup). */
  backupAdverts: number;
}

/**
 * d1's advert timing over [from, to]: the gaps between consecutive adverts, including the gap
 * from the last one before `from` and the one to the first one after `to`.
 */
function advertTiming(seen: readonly SeenAdvert[], from: number, to: number): AdvertTiming {
  const master = seen.filter((s) => s.src === NET.d1).map((s) => s.at);
  const inside = master.filter((t) => t >= from && t <= to);
  const before = master.filter((t) => t < from).at(-1);
  const after = master.find((t) => t > to);
  const series = [
    ...(before !== undefined ? [before] : []),
    ...inside,
    ...(after !== undefined ? [after] : []),
  ];
  const gaps = series.slice(1).map((t, i) => t - series[i]!);
  return {
    count: inside.length,
    medianGapMs: median(gaps),
    maxGapMs: gaps.length > 0 ? Math.max(...gaps) : Number.NaN,
    backupAdverts: seen.filter((s) => s.src === NET.d2 && s.at >= from && s.at <= to).length,
  };
}

function median(v: readonly number[]): number {
  const s = [...v].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

// ---------------------------------------------------------------------------------------------
// CPU accounting from /proc
// ---------------------------------------------------------------------------------------------

interface Task {
  comm: string;
  ticks: number;
}

interface CpuSample {
  at: number;
  /** utime + stime of the whole process, clock ticks. */
  ticks: number;
  threads: Map<number, Task>;
}

/** comm and utime + stime from a /proc/…/stat line (comm may hold spaces and parentheses). */
function parseStat(text: string): Task {
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  const rest = text.slice(close + 2).split(" ");
  // rest[0] is field 3 (state); utime and stime are fields 14 and 15.
  return { comm: text.slice(open + 1, close), ticks: Number(rest[11]) + Number(rest[12]) };
}

function sampleCpu(pid: number): CpuSample {
  const at = nowMs();
  const { ticks } = parseStat(readFileSync(`/proc/${pid}/stat`, "utf8"));
  const threads = new Map<number, Task>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      threads.set(Number(tid), parseStat(readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8")));
    } catch {
      // the thread ended meanwhile
    }
  }
  return { at, ticks, threads };
}

interface ThreadCpu {
  tid: number;
  name: string;
  pct: number;
}

interface ProcessCpu {
  pct: number;
  threads: ThreadCpu[];
}

/** CPU % of one core between two samples, for the process and each thread (busiest first). */
function cpuBetween(a: CpuSample, b: CpuSample, roles: ReadonlyMap<number, string>): ProcessCpu {
  const seconds = (b.at - a.at) / 1000;
  const pct = (ticks: number): number => (100 * ticks) / CLOCK_TICKS_PER_S / seconds;
  const threads: ThreadCpu[] = [];
  for (const [tid, t] of b.threads) {
    const before = a.threads.get(tid)?.ticks ?? 0;
    const role = roles.get(tid);
    threads.push({ tid, name: `${t.comm}/${role ?? tid}`, pct: pct(t.ticks - before) });
  }
  threads.sort((x, y) => y.pct - x.pct);
  return { pct: pct(b.ticks - a.ticks), threads };
}

/**
 * Node does not name its threads (every comm is "node"), so the VRRP worker thread is told apart
 * by what its threads wait in: event-loop threads sit in epoll_pwait/epoll_wait, V8's platform
 * threads in futex. The event-loop threads other than the main one are Node's delayed-task
 * scheduler (started first, at start-up) and the worker threads; vipd starts one worker, the
 * VRRP worker, so the most recently started event-loop thread is taken for it.
 */
function threadRoles(pid: number): Map<number, string> {
  const EPOLL_SYSCALLS = new Set(["232", "281", "441"]); // x86-64: epoll_wait, epoll_pwait, epoll_pwait2
  const roles = new Map<number, string>([[pid, "main"]]);
  const loops: number[] = [];
  for (const tid of readdirSync(`/proc/${pid}/task`).map(Number)) {
    if (tid === pid) continue;
    try {
      const nr = readFileSync(`/proc/${pid}/task/${tid}/syscall`, "utf8").split(" ")[0]!;
      if (EPOLL_SYSCALLS.has(nr)) loops.push(tid);
    } catch {
      // gone, or not readable
    }
  }
  loops.sort((a, b) => a - b);
  if (loops.length >= 2) roles.set(loops.at(-1)!, "vrrp-worker");
  return roles;
}

/** Whole-host CPU: busy and total jiffies over all CPUs (/proc/stat). */
function hostCpu(): { busy: number; total: number } {
  const line = readFileSync("/proc/stat", "utf8").split("\n")[0]!;
  const v = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  const idle = v[3]! + v[4]!;
  return { busy: total - idle, total };
}

// ---------------------------------------------------------------------------------------------
// One row
// ---------------------------------------------------------------------------------------------

interface DirectorRow {
  director: DirectorName;
  cpu: ProcessCpu;
  /** Drops counted over the row, by reason (non-zero only). */
  drops: Record<string, number>;
  transitions: string[];
  advertsSent: number;
  advertsReceived: number;
  /** Packets eth0 of the director received from just before the row to 1 s after it. */
  rxPackets: number;
}

interface Row {
  kind: RowKind;
  label: string;
  durationMs: number;
  flood: FloodResult | undefined;
  /** Busy share of the whole host (all CPUs), %. */
  hostBusyPct: number;
  adverts: AdvertTiming;
  directors: DirectorRow[];
}

interface Pair {
  dl: DirectorLab;
  daemons: Record<DirectorName, Vipd>;
  roles: Record<DirectorName, Map<number, string>>;
  watcher: AdvertWatcher;
}

async function instanceStatus(v: Vipd): Promise<VrrpInstanceStatus> {
  const st = await fetchStatus(v.apiSocket, { timeoutMs: 10_000 });
  const inst = st.vrrp?.instances.find((i) => i.name === "web");
  if (!inst) throw new Error(`${v.host}: no VRRP instance "web" in its status`);
  return inst;
}

async function rxPackets(pair: Pair, d: DirectorName): Promise<number> {
  const out = await pair.dl.lab.run(d, ["ip", "-s", "-j", "link", "show", "dev", "eth0"]);
  const [link] = JSON.parse(out) as Array<{ stats64?: { rx?: { packets?: number } } }>;
  return link?.stats64?.rx?.packets ?? Number.NaN;
}

async function runRow(pair: Pair, row: (typeof ROWS)[number], seconds: number, burst: number): Promise<Row> {
  const counters = async () => ({
    status: await Promise.all(DIRECTOR_NAMES.map((d) => instanceStatus(pair.daemons[d]))),
    rx: await Promise.all(DIRECTOR_NAMES.map((d) => rxPackets(pair, d))),
    marks: DIRECTOR_NAMES.map((d) => pair.daemons[d].mark),
  });
  let c0: Awaited<ReturnType<typeof counters>>;
  let flood: FloodResult | undefined;
  let cpu0: CpuSample[];
  let cpu1: CpuSample[];
  let host0: { busy: number; total: number };
  let host1: { busy: number; total: number };
  let from: number;
  let to: number;
  const pids = DIRECTOR_NAMES.map((d) => pair.daemons[d].proc.pid);
  if (row.kind === "none") {
    c0 = await counters();
    cpu0 = pids.map(sampleCpu);
    host0 = hostCpu();
    from = nowMs();
    await sleep(seconds * 1000);
    to = nowMs();
    cpu1 = pids.map(sampleCpu);
    host1 = hostCpu();
  } else {
    const spec: FloodSpec = { kind: row.kind, netns: pair.dl.lab.nsPath("x"), seconds, burst };
    const child: LabProcess = pair.dl.lab.spawn("x", [
      process.execPath,
      "--import",
      TS_LOADER,
      SELF,
      CHILD_FLAG,
      JSON.stringify(spec),
    ]);
    try {
      await child.waitForOutput(/^ready$/m, 30_000);
      c0 = await counters();
      child.signal("SIGUSR2");
      await child.waitForOutput(/^start \S+$/m, 10_000);
      cpu0 = pids.map(sampleCpu);
      host0 = hostCpu();
      const done = await child.waitForOutput(/^done (\{.*\})$/m, seconds * 1000 + 30_000);
      cpu1 = pids.map(sampleCpu);
      host1 = hostCpu();
      flood = JSON.parse(done[1]!) as FloodResult;
      from = flood.start;
      to = flood.stop;
      await child.exited;
    } finally {
      await child.stop();
    }
  }
  await sleep(DRAIN_MS);
  const c1 = await counters();
  const directors = DIRECTOR_NAMES.map((d, i): DirectorRow => {
    const b = c0.status[i]!;
    const a = c1.status[i]!;
    const drops: Record<string, number> = {};
    for (const [reason, n] of Object.entries(a.drops)) {
      const delta = n - (b.drops[reason] ?? 0);
      if (delta > 0) drops[reason] = delta;
    }
    return {
      director: d,
      cpu: cpuBetween(cpu0[i]!, cpu1[i]!, pair.roles[d]),
      drops,
      transitions: pair.daemons[d].transitions(c0.marks[i]).map((t) => `${t.from}→${t.to} (${t.reason})`),
      advertsSent: a.advertsSent - b.advertsSent,
      advertsReceived: a.advertsReceived - b.advertsReceived,
      rxPackets: c1.rx[i]! - c0.rx[i]!,
    };
  });
  return {
    kind: row.kind,
    label: row.label,
    durationMs: to - from,
    flood,
    hostBusyPct: (100 * (host1.busy - host0.busy)) / (host1.total - host0.total),
    adverts: advertTiming(pair.watcher.seen, from, to),
    directors,
  };
}

// ---------------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------------

const pct = (n: number): string => (Number.isNaN(n) ? "–" : `${n.toFixed(1)} %`);
const ms = (n: number): string => (Number.isNaN(n) ? "–" : `${Math.round(n)} ms`);
const count = (n: number): string => (Number.isNaN(n) ? "–" : n.toLocaleString("en-US"));

function markdown(rows: string[][]): string {
  return rows.map((r) => `| ${r.join(" | ")} |`).join("\n");
}

function floodTable(rows: readonly Row[]): string {
  const head = [
    "flood",
    "packets sent",
    "rate",
    "flooder CPU",
    "host CPU busy",
    "rx d1 / d2 eth0",
    "master adverts",
    "median gap",
    "max gap",
    "d2 adverts",
  ];
  const out = [head, head.map(() => "---")];
  for (const r of rows) {
    const f = r.flood;
    const s = r.durationMs / 1000;
    const [d1, d2] = r.directors;
    out.push([
      r.label,
      f ? `${count(f.sent)}${f.errors > 0 ? ` (+${count(f.errors)} failed: ${f.firstError})` : ""}` : "–",
      f ? `${count(Math.round(f.sent / s))}/s` : "–",
      f ? pct((100 * f.cpuMs) / r.durationMs) : "–",
      pct(r.hostBusyPct),
      `${count(d1!.rxPackets)} / ${count(d2!.rxPackets)}`,
      String(r.adverts.count),
      ms(r.adverts.medianGapMs),
      ms(r.adverts.maxGapMs),
      String(r.adverts.backupAdverts),
    ]);
  }
  return markdown(out);
}

function directorTable(rows: readonly Row[]): string {
  const head = [
    "flood",
    "director",
    "vipd CPU",
    "vs no flood",
    "top threads",
    "drops counted",
    "adverts sent / rcvd",
    "transitions",
  ];
  const out = [head, head.map(() => "---")];
  const baseline = rows.find((r) => r.kind === "none");
  for (const r of rows) {
    for (const d of r.directors) {
      const base = baseline?.directors.find((b) => b.director === d.director)?.cpu.pct;
      const delta =
        base === undefined || r === baseline
          ? "–"
          : `${d.cpu.pct - base >= 0 ? "+" : ""}${(d.cpu.pct - base).toFixed(1)}`;
      const threads = d.cpu.threads
        .slice(0, 3)
        .map((t) => `${t.name} ${t.pct.toFixed(1)}`)
        .join(", ");
      const drops = Object.entries(d.drops)
        .map(([reason, n]) => `${reason} ${count(n)}`)
        .join(", ");
      out.push([
        r.label,
        d.director,
        pct(d.cpu.pct),
        delta,
        threads,
        drops || "none",
        `${d.advertsSent} / ${d.advertsReceived}`,
        d.transitions.length === 0 ? "0" : `${d.transitions.length}: ${d.transitions.join("; ")}`,
      ]);
    }
  }
  return markdown(out);
}

// ---------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------

async function startPair(dl: DirectorLab): Promise<Record<DirectorName, Vipd>> {
  const spec = (priority: number) =>
    ({ version: VERSION, advertIntervalMs: ADVERT_INTERVAL_MS, priority }) as const;
  const [d1, d2] = (await Promise.all([
    startDirector("vipd", dl, "d1", spec(MASTER_PRIORITY)),
    startDirector("vipd", dl, "d2", spec(BACKUP_PRIORITY)),
  ])) as [Vipd, Vipd];
  await d1.waitForState("MASTER", { timeoutMs: WAIT_MS });
  await waitForSettled(dl.lab, d1, d2, WAIT_MS);
  return { d1, d2 };
}

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) {
    say("bench:flood needs root (network namespaces)");
    return 1;
  }
  const seconds = envInt("BENCH_SECONDS", 10);
  const burst = envInt("BENCH_BURST", 256);
  say(`VRRP flood benchmark: ${ROWS.length} rows of ${seconds} s, flooder bursts of ${burst} packets`);
  const started = Date.now();
  const rows: Row[] = [];
  const errors: string[] = [];
  let dl: DirectorLab | undefined;
  let watcher: AdvertWatcher | undefined;
  let daemons: Record<DirectorName, Vipd> | undefined;
  try {
    dl = await createDirectorLab({ prefix: "vflood", injector: true, httpServers: false });
    watcher = AdvertWatcher.open(dl.lab.nsPath("cl"), "eth0", { sources: [NET.d1, NET.d2] }).record();
    daemons = await startPair(dl);
    // Let both settle into their steady state (the worker started, the first adverts out).
    await sleep(1000);
    const roles = {
      d1: threadRoles(daemons.d1.proc.pid),
      d2: threadRoles(daemons.d2.proc.pid),
    };
    for (const d of DIRECTOR_NAMES) {
      const found = [...roles[d]].find(([, r]) => r === "vrrp-worker");
      say(
        `  ${d}: vipd pid ${daemons[d].proc.pid}, VRRP worker thread ${found ? found[0] : "not identified"}`,
      );
    }
    const pair: Pair = { dl, daemons, roles, watcher };
    for (const row of ROWS) {
      say(`${row.label} (${seconds} s)`);
      const r = await runRow(pair, row, seconds, burst);
      rows.push(r);
      say(
        `  ${r.flood ? `${count(r.flood.sent)} packets sent, ` : ""}` +
          r.directors.map((d) => `${d.director} vipd ${pct(d.cpu.pct)}`).join(", ") +
          `, master's max advert gap ${ms(r.adverts.maxGapMs)}`,
      );
      // A takeover during the flood is a figure; a pair that does not settle again is broken.
      await waitForSettled(dl.lab, daemons.d1, daemons.d2, WAIT_MS);
    }
  } catch (err) {
    errors.push(errorText(err));
    say(`aborted: ${errorText(err)}`);
  } finally {
    watcher?.close();
    if (daemons) await Promise.all(DIRECTOR_NAMES.map((d) => daemons?.[d].stop().catch(() => undefined)));
    await dl?.close();
  }
  const minutes = ((Date.now() - started) / 60_000).toFixed(1);
  const mdi = masterDownMs(VERSION, ADVERT_INTERVAL_MS, BACKUP_PRIORITY);
  const lines = [
    "",
    `VRRP flood from a third host (x) against a vipd pair: VRRPv${VERSION}, adverts every ${ADVERT_INTERVAL_MS} ms,` +
      ` VRID ${NET.vrid}, d1 priority ${MASTER_PRIORITY} (master), d2 ${BACKUP_PRIORITY} (backup);` +
      ` ${seconds} s per row, ${minutes} min in all`,
    "",
    "Segment (master adverts timed from the bystander cl; d2 sends adverts only as master):",
    "",
    floodTable(rows),
    "",
    "Directors (CPU in % of one core over the row; drops, adverts and transitions from just before it to 1 s after it):",
    "",
    directorTable(rows),
    "",
    `Notes: d2's Master_Down_Interval is ${mdi.toFixed(1)} ms: a master advert gap that long lets it take over.` +
      ` Host: ${readdirSync("/sys/devices/system/cpu").filter((n) => /^cpu\d+$/.test(n)).length} CPU(s);` +
      " the flooder, the bridge's work (softirq) and both daemons share them." +
      ' Threads: comm/role, "vrrp-worker" being the most recently started event-loop thread.',
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
  if (errors.length > 0) process.stdout.write(`\nBroken:\n${errors.map((e) => `- ${e}`).join("\n")}\n`);
  return errors.length > 0 ? 1 : 0;
}

if (process.argv[2] === CHILD_FLAG) {
  process.exitCode = await floodChild(JSON.parse(process.argv[3] ?? "{}") as FloodSpec);
} else {
  process.exitCode = await main();
}
