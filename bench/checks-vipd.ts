/**
 * The vipd process of bench/checks.ts: the daemon's health side as src/engine/daemon.ts wires
 * it, without the API: HealthWorkerHost (the health worker thread) + HealthManager, whose
 * onHealth goes to an IpvsManager over the in-memory IPVS kernel of the unit tests
 * (test/unit/ipvs/fake-ipvs-netlink.ts, through the real IpvsClient and its netlink codec), and
 * a VrrpHost (the VRRP worker thread) running the spec's instances.
 *
 * It is not run with the TypeScript loader: bench/checks.ts transpiles this file, the shared
 * module and the fake kernel into a scratch directory, their `src/` imports pointing at `dist/`,
 * so that this process (and its worker threads) is compiled vipd code, as `bin/vipd run` is,
 * with no loader thread in its CPU or its RSS.
 *
 *   node CHILD/checks-vipd.mjs '<VipdChildSpec as JSON>'
 *
 * stdout, one line each: `ready {…}` once VRRP is master, the checks run and IPVS holds the
 * table; then it answers stdin commands: `mark` (start of the measured window) → `marked {…}`,
 * `report` → `report {…}` (the window's figures), `stop` → `stopped`, then it exits.
 */
import { type EventLoopUtilization, monitorEventLoopDelay } from "node:perf_hooks";
import { createInterface } from "node:readline";
import type { Worker } from "node:worker_threads";
import { EventFactory } from "../src/alert/events.js";
import { formatIssue } from "../src/config/issues.js";
import { parseConfig } from "../src/config/parse.js";
import { HealthWorkerHost } from "../src/engine/health-host.js";
import { HealthManager } from "../src/engine/health-manager.js";
import { IpvsManager } from "../src/engine/ipvs-manager.js";
import { VrrpHost } from "../src/engine/vrrp-host.js";
import type { ProbeDef } from "../src/health/probes.js";
import type { ProbeRunner } from "../src/health/runner.js";
import type { ProbeChange, ProbeSeed, SchedulerLimits } from "../src/health/scheduler.js";
import { type CheckStatsSnapshot, type HistogramSnapshot, quantile } from "../src/health/stats.js";
import type { HealthWorkerStatus } from "../src/health/worker.js";
import { IpvsClient } from "../src/ipvs/client.js";
import { setLogLevel } from "../src/log.js";
import { FakeIpvsNetlink } from "../test/unit/ipvs/fake-ipvs-netlink.js";
import { type VipdChildSpec, vipdConfigYaml } from "./checks-common.js";

const LOOP_RESOLUTION_MS = 10;

/** What the child reports for a window (bench/checks.ts prints it). */
export interface VipdWindowReport {
  windowMs: number;
  /** Checks completed in the window, by result code. */
  results: Record<string, number>;
  checks: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  lagP50Ms: number;
  lagP99Ms: number;
  /** The scheduler's largest lag since the start (the worker keeps only that). */
  maxLagSinceStartMs: number;
  /** Main thread event-loop delay over the window (monitorEventLoopDelay at 10 ms, less those 10 ms). */
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  /** The histogram's smallest raw value (≈ the 10 ms resolution: a check of the subtraction). */
  loopDelayMinRawMs: number;
  /** Event-loop utilisation of each thread over the window, 0..1. */
  elu: { main: number; health: number; vrrp: number | null };
  /** Probe flips (rise/fall) and real_server transitions: in the window, and since the start. */
  probeTransitions: { window: number; total: number };
  serverTransitions: { window: number; total: number; byKind: Record<string, number> };
  onHealth: { window: number; total: number; changes: number };
  changeBatches: number;
  vrrp: {
    transitions: string[];
    demotes: string[];
    advertsSent: Record<string, number>;
    states: Record<string, string>;
  };
  inFlightAtEnd: number;
}

export interface VipdReady {
  setupMs: number;
  probes: number;
  subscriptions: number;
  ipvsDestinations: number;
  vrrpStates: Record<string, string>;
}

/** Passes everything through to the worker host, counting the changes it relays. */
class CountingRunner implements ProbeRunner {
  changes = 0;
  batches = 0;
  flips = 0;
  constructor(readonly inner: HealthWorkerHost) {}
  configure(probes: ProbeDef[], seeds: ReadonlyMap<string, ProbeSeed>, limits: SchedulerLimits): void {
    this.inner.configure(probes, seeds, limits);
  }
  status(ids?: readonly string[]): Promise<HealthWorkerStatus> {
    return this.inner.status(ids);
  }
  onChanges(listener: (changes: ProbeChange[]) => void): void {
    this.inner.onChanges((changes) => {
      this.batches++;
      this.changes += changes.length;
      for (const c of changes) if (c.transition) this.flips++;
      listener(changes);
    });
  }
  stop(): Promise<void> {
    return this.inner.stop();
  }
}

function diff(a: HistogramSnapshot, b: HistogramSnapshot): HistogramSnapshot {
  return {
    buckets: b.buckets,
    counts: b.counts.map((n, i) => n - (a.counts[i] ?? 0)),
    sum: b.sum - a.sum,
    count: b.count - a.count,
  };
}

function say(tag: string, value: unknown): void {
  process.stdout.write(`${tag} ${JSON.stringify(value)}\n`);
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? "{}") as VipdChildSpec;
  setLogLevel("warn");
  const t0 = performance.now();
  const parsed = parseConfig(vipdConfigYaml(spec), "bench.yaml", { hostname: "bench" });
  if (!parsed.ok) throw new Error(parsed.errors.slice(0, 5).map(formatIssue).join("\n"));
  const config = parsed.config;
  const events = new EventFactory({ node: config.node });

  // VRRP first: its instances must be master (sending adverts) while the checks run.
  let vrrp: VrrpHost | undefined;
  const vrrpStates: Record<string, string> = {};
  const vrrpLog: { transitions: string[]; demotes: string[] } = { transitions: [], demotes: [] };
  if (config.vrrp.instances.length > 0) {
    vrrp = await VrrpHost.start({ node: config.node, logLevel: "warn", vrrp: config.vrrp });
    const masters = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("the VRRP instances did not become master")), 15_000);
      vrrp?.on("transition", (e) => {
        vrrpStates[e.instance] = e.to;
        vrrpLog.transitions.push(`${e.instance} ${e.from}→${e.to} (${e.reason})`);
        if (config.vrrp.instances.every((i) => vrrpStates[i.name] === "MASTER")) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    vrrp.on("demote", (active, reason) =>
      vrrpLog.demotes.push(`${active ? "demoted" : "recovered"}: ${reason}`),
    );
    await masters;
  }

  const host = await HealthWorkerHost.start();
  host.on("crashed", (err) => {
    process.stderr.write(`the health worker crashed: ${err.message}\n`);
    process.exit(3);
  });
  const runner = new CountingRunner(host);
  const kernel = new FakeIpvsNetlink();
  const client = await IpvsClient.open({ openSocket: kernel.opener() });
  let ipvs: IpvsManager | undefined;
  const onHealth = { calls: 0, changes: 0 };
  const health = new HealthManager({
    runner,
    virtualServers: config.virtualServers,
    health: config.health,
    onHealth: (changes) => {
      onHealth.calls++;
      onHealth.changes += changes.size;
      ipvs?.setHealth(changes).catch((err: unknown) => process.stderr.write(`IPVS update failed: ${err}\n`));
    },
    events: () => events,
    onEvent: () => undefined,
  });
  const initial = await health.start();
  ipvs = new IpvsManager({
    client,
    virtualServers: config.virtualServers,
    ipvs: config.ipvs,
    followVrrp: false,
    events,
    health: initial,
  });
  const report = await ipvs.start();
  if (report.failed.length > 0 || report.error)
    throw new Error(`the IPVS start failed: ${report.error?.message ?? report.failed[0]?.error.message}`);
  const { probes, subscriptions } = health.dedup();
  say("ready", {
    setupMs: Math.round(performance.now() - t0),
    probes,
    subscriptions,
    ipvsDestinations: kernel.ipvs.services.reduce((n, s) => n + s.dests.length, 0),
    vrrpStates,
  } satisfies VipdReady);

  const loop = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  if (spec.measureLoop) loop.enable();
  // The worker objects are private to their hosts; their event-loop utilisation is public on them.
  const healthWorker = (host as unknown as { worker: Worker }).worker;
  const vrrpWorker = vrrp ? (vrrp as unknown as { worker: Worker }).worker : undefined;
  const transitionsTotal = () => [...health.counters.transitions.values()].reduce((a, b) => a + b, 0);
  const advertsSent = async (): Promise<Record<string, number>> => {
    if (!vrrp) return {};
    const st = await vrrp.status();
    return Object.fromEntries(st.instances.map((i) => [i.name, i.counters.advertsSent]));
  };
  interface Mark {
    at: number;
    stats: CheckStatsSnapshot;
    elu: EventLoopUtilization[];
    flips: number;
    transitions: number;
    onHealth: number;
    vrrpTransitions: number;
    demotes: number;
    adverts: Record<string, number>;
  }
  const eluNow = () => [
    performance.eventLoopUtilization(),
    healthWorker.performance.eventLoopUtilization(),
    ...(vrrpWorker ? [vrrpWorker.performance.eventLoopUtilization()] : []),
  ];
  let mark: Mark | undefined;

  const rl = createInterface({ input: process.stdin });
  for await (const line of rl) {
    const cmd = line.trim();
    if (cmd === "mark") {
      const stats = (await host.status([])).stats;
      mark = {
        at: performance.now(),
        stats,
        elu: eluNow(),
        flips: runner.flips,
        transitions: transitionsTotal(),
        onHealth: onHealth.calls,
        vrrpTransitions: vrrpLog.transitions.length,
        demotes: vrrpLog.demotes.length,
        adverts: await advertsSent(),
      };
      loop.reset();
      say("marked", { at: Date.now() });
    } else if (cmd === "report") {
      if (!mark) throw new Error("report before mark");
      const st = await host.status([]);
      const now = performance.now();
      const elu = eluNow();
      const lat = diff(mark.stats.latency, st.stats.latency);
      const lag = diff(mark.stats.lag, st.stats.lag);
      const results: Record<string, number> = {};
      for (const [code, n] of Object.entries(st.stats.results)) {
        const d = n - (mark.stats.results[code] ?? 0);
        if (d > 0) results[code] = d;
      }
      const adverts = await advertsSent();
      const util = (i: number) =>
        performance.eventLoopUtilization(elu[i] as EventLoopUtilization, mark?.elu[i] as EventLoopUtilization)
          .utilization;
      say("report", {
        windowMs: now - mark.at,
        results,
        checks: lat.count,
        latencyP50Ms: quantile(lat, 0.5),
        latencyP99Ms: quantile(lat, 0.99),
        lagP50Ms: quantile(lag, 0.5),
        lagP99Ms: quantile(lag, 0.99),
        maxLagSinceStartMs: st.stats.maxLagMs,
        // The histogram holds the time between two of its 10 ms timer runs: the delay is what exceeds 10 ms.
        loopDelayP99Ms: Math.max(0, loop.percentile(99) / 1e6 - LOOP_RESOLUTION_MS),
        loopDelayMaxMs: Math.max(0, loop.max / 1e6 - LOOP_RESOLUTION_MS),
        loopDelayMinRawMs: loop.min / 1e6,
        elu: { main: util(0), health: util(1), vrrp: vrrpWorker ? util(2) : null },
        probeTransitions: { window: runner.flips - mark.flips, total: runner.flips },
        serverTransitions: {
          window: transitionsTotal() - mark.transitions,
          total: transitionsTotal(),
          byKind: Object.fromEntries(health.counters.transitions),
        },
        onHealth: {
          window: onHealth.calls - mark.onHealth,
          total: onHealth.calls,
          changes: onHealth.changes,
        },
        changeBatches: runner.batches,
        vrrp: {
          transitions: vrrpLog.transitions.slice(mark.vrrpTransitions),
          demotes: vrrpLog.demotes.slice(mark.demotes),
          advertsSent: Object.fromEntries(
            Object.entries(adverts).map(([k, v]) => [k, v - (mark?.adverts[k] ?? 0)]),
          ),
          states: { ...vrrpStates },
        },
        inFlightAtEnd: st.inFlight,
      } satisfies VipdWindowReport);
    } else if (cmd === "stop") {
      break;
    }
  }
  loop.disable();
  await vrrp?.stop();
  await health.stop();
  await ipvs.stop();
  client.close();
  say("stopped", {});
  process.exit(0);
}

main().catch((err: unknown) => {
  process.stderr.write(`checks-vipd: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
