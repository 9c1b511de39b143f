/**
 * Failover benchmark (issue 3): the outage a client sees when the VRRP master fails, for a vipd
 * pair and a keepalived pair on the same namespace topology in the same run.
 *
 *   npm run bench:failover                       # builds, then runs everything (≈10–15 min)
 *   BENCH_TRIALS=3 npm run bench:failover        # a quick run
 *   BENCH_CASES=link-100ms BENCH_IMPLS=vipd npm run bench:failover
 *
 * Environment:
 *   BENCH_TRIALS   trials per case and implementation (default 10)
 *   BENCH_CASES    comma list of case ids (default all: link-1s, link-100ms, link-20ms, sigterm-1s)
 *   BENCH_IMPLS    comma list of vipd, keepalived (default both)
 *   BENCH_PHASE    when to fail within the advert interval: "advert" (default) right after one of
 *                  the master's adverts reached the segment, so the backup waits its whole
 *                  Master_Down_Interval (the protocol's worst case, and what the target is about);
 *                  "random": at a uniformly random point of the interval (the average case,
 *                  about half an advert interval shorter)
 *   BENCH_JSON     also write every trial as JSON to this file
 *
 * Topology (test/lab/harness/directors.ts): client cl, directors d1 (priority 150) and d2
 * (priority 100) on one bridge, VIP 10.77.0.100, an HTTP server on each director answering with
 * its name. The client runs an HTTP probe every 10 ms on fresh connections; the outage of a trial
 * is the longest gap between two successful responses around the failure. d1 is master before
 * every trial; the failure is d1's link going down (or SIGTERM to d1's daemon), timed against
 * d1's adverts as seen from the client's namespace (BENCH_PHASE); the trial ends once the client
 * is served steadily by d2. Then d1 comes back and preempts before the next trial.
 *
 * It needs root and keepalived (Debian package). It prints figures; it never fails on them.
 */

import { writeFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import {
  createDirectorLab,
  type DirectorLab,
  type Implementation,
  masterDownMs,
  NET,
  skewMs,
  startDirector,
  VIP_URL,
  type VrrpDaemon,
  waitForSettled,
} from "../test/lab/harness/directors.js";
import { nowMs } from "../test/lab/harness/lines.js";
import { LinkSwitch } from "../test/lab/harness/link.js";
import { HttpProbe, longestOutage, type ProbeResult } from "../test/lab/harness/probe.js";
import { AdvertWatcher } from "../test/lab/harness/vrrp-inject.js";
import { envInt } from "./env.js";

interface BenchCase {
  id: string;
  label: string;
  failure: "link" | "sigterm";
  version: 2 | 3;
  advertIntervalMs: number;
}

const CASES: readonly BenchCase[] = [
  {
    id: "link-1s",
    label: "master link down, advert 1 s",
    failure: "link",
    version: 3,
    advertIntervalMs: 1000,
  },
  {
    id: "link-100ms",
    label: "master link down, advert 100 ms",
    failure: "link",
    version: 3,
    advertIntervalMs: 100,
  },
  {
    id: "link-20ms",
    label: "master link down, advert 20 ms",
    failure: "link",
    version: 3,
    advertIntervalMs: 20,
  },
  {
    id: "sigterm-1s",
    label: "master SIGTERM, advert 1 s",
    failure: "sigterm",
    version: 3,
    advertIntervalMs: 1000,
  },
];

const MASTER_PRIORITY = 150;
const PROBE_INTERVAL_MS = 10;
const BACKUP_PRIORITY = 100;

interface Trial {
  case: string;
  impl: Implementation;
  trial: number;
  outageMs: number;
  /** Failure → first response from the new master. */
  recoveryMs: number;
  /** Failure → the new master's first advert on the segment (the protocol-level takeover). */
  takeoverMs: number;
  requestsInGap: number;
  servedBefore: string | undefined;
  servedAfter: string | undefined;
}

function envList<T extends string>(name: string, all: readonly T[]): T[] {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === "") return [...all];
  const wanted = raw.split(",").map((s) => s.trim());
  const bad = wanted.filter((w) => !all.includes(w as T));
  if (bad.length > 0) throw new Error(`${name}: unknown ${bad.join(", ")} (known: ${all.join(", ")})`);
  return wanted as T[];
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

const median = (v: readonly number[]): number => {
  const s = [...v].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

const fmt = (ms: number): string =>
  Number.isNaN(ms) ? "–" : ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`;

const say = (s: string): void => {
  process.stderr.write(`${s}\n`);
};

/** A generous bound for any single wait: a few master-down intervals plus process start-up. */
function waitBudget(c: BenchCase): number {
  return 10_000 + 6 * masterDownMs(c.version, c.advertIntervalMs, BACKUP_PRIORITY);
}

type Phase = "advert" | "random";

async function runBlock(
  dl: DirectorLab,
  c: BenchCase,
  impl: Implementation,
  trials: number,
  phase: Phase,
): Promise<Trial[]> {
  const spec = (priority: number) => ({ version: c.version, advertIntervalMs: c.advertIntervalMs, priority });
  const budget = waitBudget(c);
  const windows: Array<{ trial: number; t: number; end: number; takeoverMs: number }> = [];
  let d1: VrrpDaemon | undefined;
  let d2: VrrpDaemon | undefined;
  let probe: HttpProbe | undefined;
  let results: ProbeResult[] = [];
  const watcher = AdvertWatcher.open(dl.lab.nsPath("cl"), "eth0");
  const d1Link = LinkSwitch.open(dl.lab.nsName("d1"));
  try {
    [d1, d2] = await Promise.all([
      startDirector(impl, dl, "d1", spec(MASTER_PRIORITY)),
      startDirector(impl, dl, "d2", spec(BACKUP_PRIORITY)),
    ]);
    await d1.waitForState("MASTER", { timeoutMs: budget });
    await waitForSettled(dl.lab, d1, d2, budget);
    probe = await HttpProbe.start(dl.lab, "cl", VIP_URL, { intervalMs: PROBE_INTERVAL_MS });
    for (let i = 1; i <= trials; i++) {
      await probe.waitForSteady({ body: "d1", count: 30, timeoutMs: budget });
      const d2Mark = d2.mark;
      // Fail right after one of d1's adverts reached the segment (the backup's master-down timer
      // has just been restarted: the outage is the whole Master_Down_Interval), or at a random
      // point of the advert interval.
      await watcher.next({ src: NET.d1, timeoutMs: budget });
      if (phase === "random") await sleep(Math.random() * c.advertIntervalMs);
      // d2 sends no advert while backup: its first one after the failure marks its takeover.
      const d2Advert = watcher.next({ src: NET.d2, timeoutMs: budget });
      d2Advert.catch(() => undefined);
      const t = nowMs();
      if (c.failure === "link") await d1Link.down("eth0");
      else await d1.stop();
      await d2.waitForState("MASTER", { from: d2Mark, timeoutMs: budget });
      const first = await probe.waitForSuccess({ after: t, body: "d2", timeoutMs: budget });
      await probe.waitForSteady({ after: first.start, body: "d2", count: 30, timeoutMs: budget });
      const end = nowMs();
      const takeoverMs = (await d2Advert).at - t;
      windows.push({ trial: i, t, end, takeoverMs });
      const o = longestOutage(probe.results(), { from: t - 300, to: end });
      say(
        `  ${c.id} ${impl.padEnd(10)} #${String(i).padStart(2)}: outage ${fmt(o.outageMs)}` +
          ` (${o.before?.what} → ${o.after?.what}; d2's first advert after ${fmt(takeoverMs)})`,
      );
      // Restore d1 and let it preempt, so that every trial starts from the same state.
      const d1Mark = d1.mark;
      const d2Back = d2.mark;
      if (c.failure === "link") {
        await d1Link.up("eth0");
        await d1.waitForState("MASTER", { from: d1Mark, timeoutMs: budget });
      } else {
        d1 = await startDirector(impl, dl, "d1", spec(MASTER_PRIORITY));
        await d1.waitForState("MASTER", { timeoutMs: budget });
      }
      await d2.waitForState("BACKUP", { from: d2Back, timeoutMs: budget });
      await waitForSettled(dl.lab, d1, d2, budget);
    }
  } finally {
    // Stopping the probe lets the requests still in flight finish (or time out), so that the
    // counts below are complete.
    results = (await probe?.stop().catch(() => undefined)) ?? [];
    watcher.close();
    await d1Link.up("eth0").catch(() => undefined);
    d1Link.close();
    await Promise.all([d1?.stop(), d2?.stop()]);
  }
  return windows.map(({ trial, t, end, takeoverMs }) => {
    const o = longestOutage(results, { from: t - 300, to: end });
    const first = results.find((r) => r.ok && r.start >= t && r.what === "d2");
    return {
      case: c.id,
      impl,
      trial,
      outageMs: o.outageMs,
      recoveryMs: first ? first.end - t : Number.NaN,
      takeoverMs,
      requestsInGap: o.affected,
      servedBefore: o.before?.what,
      servedAfter: o.after?.what,
    };
  });
}

/** Median time from the failure to the new master's first advert, per case and implementation. */
function takeoverTable(
  cases: readonly BenchCase[],
  impls: readonly Implementation[],
  trials: readonly Trial[],
): string {
  const head = ["case", ...impls.map((i) => `${i} median`)];
  const rows = [head, head.map(() => "---")];
  for (const c of cases) {
    const row = [c.label];
    for (const impl of impls) {
      row.push(
        fmt(median(trials.filter((t) => t.case === c.id && t.impl === impl).map((t) => t.takeoverMs))),
      );
    }
    rows.push(row);
  }
  return rows.map((r) => `| ${r.join(" | ")} |`).join("\n");
}

function table(
  cases: readonly BenchCase[],
  impls: readonly Implementation[],
  trials: readonly Trial[],
): string {
  const head = ["case", "protocol"];
  for (const impl of impls) head.push(`${impl} median`, `${impl} p95`);
  if (impls.includes("vipd") && impls.includes("keepalived")) head.push("vipd/keepalived (median)");
  const rows = [head, head.map(() => "---")];
  for (const c of cases) {
    const protocol =
      c.failure === "link"
        ? `Master_Down ${fmt(masterDownMs(c.version, c.advertIntervalMs, BACKUP_PRIORITY))}`
        : `Skew ${fmt(skewMs(c.version, c.advertIntervalMs, BACKUP_PRIORITY))}`;
    const row = [c.label, protocol];
    const med: Partial<Record<Implementation, number>> = {};
    for (const impl of impls) {
      const v = trials.filter((t) => t.case === c.id && t.impl === impl).map((t) => t.outageMs);
      med[impl] = median(v);
      row.push(`${fmt(median(v))} (n=${v.length})`, fmt(percentile(v, 95)));
    }
    if (med.vipd !== undefined && med.keepalived !== undefined) {
      row.push(Number.isNaN(med.vipd / med.keepalived) ? "–" : (med.vipd / med.keepalived).toFixed(2));
    }
    rows.push(row);
  }
  return rows.map((r) => `| ${r.join(" | ")} |`).join("\n");
}

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) {
    say("bench:failover needs root (network namespaces)");
    return 1;
  }
  const trialsPer = envInt("BENCH_TRIALS", 10);
  const caseIds = envList(
    "BENCH_CASES",
    CASES.map((c) => c.id),
  );
  const cases = CASES.filter((c) => caseIds.includes(c.id));
  const impls = envList<Implementation>("BENCH_IMPLS", ["keepalived", "vipd"]);
  const [phase] = envList<Phase>("BENCH_PHASE", ["advert", "random"]);
  say(
    `failover benchmark: ${trialsPer} trial(s) × ${cases.length} case(s) × ${impls.join(" + ")}, failing ${phase === "advert" ? "right after an advert" : "at a random phase"}`,
  );
  const started = Date.now();
  const dl = await createDirectorLab({ prefix: "vbench" });
  const trials: Trial[] = [];
  const errors: string[] = [];
  try {
    for (const c of cases) {
      for (const impl of impls) {
        say(`${c.label} — ${impl}`);
        try {
          trials.push(...(await runBlock(dl, c, impl, trialsPer, phase!)));
        } catch (err) {
          const msg = `${c.id} ${impl}: ${err instanceof Error ? err.message : String(err)}`;
          errors.push(msg);
          say(`  aborted: ${msg}`);
        }
      }
    }
  } finally {
    await dl.close();
  }
  const minutes = ((Date.now() - started) / 60_000).toFixed(1);
  process.stdout.write(
    `\nClient-perceived outage (HTTP probe every 10 ms), ${trialsPer} trial(s) each, ` +
      `backup priority ${BACKUP_PRIORITY}, VRRPv3, failure ${phase === "advert" ? "right after a master advert" : "at a random advert phase"}, ${minutes} min\n\n${table(cases, impls, trials)}\n` +
      `\nFailure → the new master's first advert on the segment (the rest of the outage is the VIP,\n` +
      `gratuitous ARP and the client's next request):\n\n${takeoverTable(cases, impls, trials)}\n`,
  );
  const c100 = cases.find((c) => c.id === "link-100ms");
  if (c100 && impls.includes("vipd")) {
    const md = masterDownMs(c100.version, c100.advertIntervalMs, BACKUP_PRIORITY);
    const v = median(trials.filter((t) => t.case === c100.id && t.impl === "vipd").map((t) => t.outageMs));
    const k = median(
      trials.filter((t) => t.case === c100.id && t.impl === "keepalived").map((t) => t.outageMs),
    );
    const sign = (n: number): string => `${n >= 0 ? "+" : ""}${n.toFixed(1)} ms`;
    const lines = [
      "",
      `Target at advert 100 ms (probe resolution ${PROBE_INTERVAL_MS} ms):`,
      `- vipd median ${fmt(v)} vs Master_Down_Interval ${fmt(md)}: ${sign(v - md)}` +
        ` (within 20 ms: ${Math.abs(v - md) <= 20 ? "yes" : "no"})`,
    ];
    if (!Number.isNaN(k)) {
      lines.push(
        `- vs keepalived median ${fmt(k)}: ${sign(v - k)}` +
          ` (not worse, within the probe resolution: ${v - k <= PROBE_INTERVAL_MS ? "yes" : "no"})`,
      );
    }
    process.stdout.write(`${lines.join("\n")}\n`);
  }
  if (errors.length > 0)
    process.stdout.write(`\nAborted blocks:\n${errors.map((e) => `- ${e}`).join("\n")}\n`);
  if (process.env.BENCH_JSON) writeFileSync(process.env.BENCH_JSON, `${JSON.stringify(trials, null, 2)}\n`);
  return errors.length > 0 ? 1 : 0;
}

process.exitCode = await main();
