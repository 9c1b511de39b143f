/**
 * IPVS benchmark: applying a big table through vipd (generic netlink, batched)
 * against `ipvsadm -R` of the same rules, in the same boot of the lab kernel (Debian's, under QEMU); then how long
 * reconciles take after small changes.
 *
 *   node --import ./test/lab/fixtures/ts-loader.mjs bench/ipvs.ts        # (npm run bench:ipvs)
 *
 * Environment: BENCH_SERVICES (default 1000), BENCH_DESTS (per service, default 10),
 * BENCH_TRIALS (default 5), BENCH_JSON (also write the figures as JSON to this host path).
 *
 * The host part boots the lab kernel once and runs this same file inside it (VIPD_LAB_KERNEL=1)
 * once per trial,
 * each a fresh node process. In a trial every tool gets a fresh network namespace (the IPVS
 * table is per namespace, and a new one starts with an empty table and an empty destination
 * trash), so neither sees the other's leftovers; which tool goes first alternates.
 *   - ipvsadm: `ip netns exec NS ipvsadm -R < rules`, the whole process, as an operator runs it;
 *   - vipd: IpvsManager.start() on an open client with the same virtual servers as its config
 *     (read the empty table, desired state, diff, batched apply). It is the process's first
 *     apply: cold code, as when the daemon starts;
 *   - then both tables are compared (`ipvsadm -S -n`, sorted): they must be identical.
 * The first trial then times reconciles from vipd's view of its table (no re-read), each change
 * made and then undone: 1% and 10% of the real servers' weights changed by a config reload,
 * 1% of the real servers failing their health check (on_failure remove); and a full resync
 * (read back and diff) for scale.
 * It prints figures; it never fails on them (it exits non-zero only when something broke).
 */
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";

const SERVICES = Number(process.env.BENCH_SERVICES ?? 1000);
const DESTS = Number(process.env.BENCH_DESTS ?? 10);
const TRIALS = Math.max(1, Number(process.env.BENCH_TRIALS ?? 5));

interface Trial {
  trial: number;
  first: "ipvsadm" | "vipd";
  ipvsadmMs: number;
  vipdMs: number;
  /** vipd's full apply by phase (IpvsManager's report). */
  phasesMs: { read: number; desired: number; diff: number; apply: number };
  changes?: Array<{ what: string; ops: number; ms: number }>;
  resyncMs?: number;
}

if (process.env.VIPD_LAB_KERNEL === "1") {
  await guest(Number(process.env.BENCH_TRIAL ?? 1));
} else {
  await host();
}

// ---------------------------------------------------------------------------------------------

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

async function host(): Promise<void> {
  const { prepareLabKernel, runInLabKernel } = await import("../test/lab/harness/lab-kernel.js");
  const kernel = prepareLabKernel();
  process.stderr.write(
    `bench:ipvs: booting the lab kernel ${kernel.release}: ${SERVICES} services × ${DESTS} destinations, ${TRIALS} trials…\n`,
  );
  const r = await runInLabKernel({
    kernel,
    script: [
      "set -e",
      "modprobe -a ip_vs ip_vs_wlc",
      `for t in $(seq 1 ${TRIALS}); do BENCH_TRIAL=$t node --import ./test/lab/fixtures/ts-loader.mjs bench/ipvs.ts; done`,
      "uname -r",
    ].join("\n"),
    env: { BENCH_SERVICES: String(SERVICES), BENCH_DESTS: String(DESTS) },
    timeoutMs: 3_600_000,
  });
  const trials: Trial[] = [...r.output.matchAll(/^@@BENCH-TRIAL (.*)$/gm)].map((m) =>
    JSON.parse(m[1] as string),
  );
  const other = r.output.replace(/^@@BENCH-TRIAL .*\n?/gm, "").trim();
  if (r.code !== 0 || trials.length === 0) {
    process.stderr.write(`bench:ipvs: the guest failed (exit ${r.code}):\n${other}\n`);
    process.exitCode = 1;
    return;
  }
  const rules = SERVICES * (DESTS + 1);
  const fmt = (x: number) => `${x.toFixed(0).padStart(6)} ms`;
  console.log(
    `IPVS: ${rules} rules (${SERVICES} services × ${DESTS} destinations), lab kernel ${other.split("\n").pop()} under QEMU (TCG), node ${process.version}`,
  );
  console.log("");
  console.log("full apply to an empty table, each trial a fresh process and fresh namespaces:");
  console.log("  trial  first    ipvsadm -R      vipd   ratio");
  for (const t of trials) {
    console.log(
      `  ${String(t.trial).padStart(5)}  ${t.first.padEnd(7)} ${fmt(t.ipvsadmMs)} ${fmt(t.vipdMs)}  ${(t.ipvsadmMs / t.vipdMs).toFixed(1).padStart(5)}×`,
    );
  }
  const ratios = trials.map((t) => t.ipvsadmMs / t.vipdMs);
  console.log(
    `  median          ${fmt(median(trials.map((t) => t.ipvsadmMs)))} ${fmt(median(trials.map((t) => t.vipdMs)))}  ${median(ratios).toFixed(1).padStart(5)}×  (ratio min ${Math.min(...ratios).toFixed(1)}×, max ${Math.max(...ratios).toFixed(1)}×)`,
  );
  console.log(
    `  vipd per rule (median): ${((median(trials.map((t) => t.vipdMs)) * 1000) / rules).toFixed(0)} µs`,
  );
  const phase = (k: keyof Trial["phasesMs"]) => median(trials.map((t) => t.phasesMs[k])).toFixed(0);
  console.log(
    `  vipd by phase (median): read ${phase("read")} ms, desired state ${phase("desired")} ms, diff ${phase("diff")} ms, apply ${phase("apply")} ms`,
  );
  const first = trials[0] as Trial;
  console.log("");
  console.log("reconciles after a change, from vipd's view of its table (trial 1):");
  for (const c of first.changes ?? []) {
    console.log(
      `  ${c.what.padEnd(52)} ${String(c.ops).padStart(5)} ops ${fmt(c.ms)}  (${((c.ms * 1000) / Math.max(1, c.ops)).toFixed(0)} µs/op)`,
    );
  }
  if (first.resyncMs !== undefined) {
    console.log(
      `  ${"full resync: read back every rule, diff, nothing to do".padEnd(52)}     0 ops ${fmt(first.resyncMs)}`,
    );
  }
  if (process.env.BENCH_JSON) {
    writeFileSync(
      process.env.BENCH_JSON,
      `${JSON.stringify({ services: SERVICES, destsPerService: DESTS, rules, trials })}\n`,
    );
  }
}

// ---------------------------------------------------------------------------------------------

async function guest(trial: number): Promise<void> {
  const { IpvsClient } = await import("../src/ipvs/client.js");
  const { IpvsManager } = await import("../src/engine/ipvs-manager.js");
  const { healthKey } = await import("../src/engine/desired.js");
  const { setLogLevel } = await import("../src/log.js");
  type VirtualServerConfig = import("../src/config/types.js").VirtualServerConfig;
  type IpvsConfig = import("../src/config/types.js").IpvsConfig;
  type Report = Awaited<ReturnType<InstanceType<typeof IpvsManager>["start"]>>;
  setLogLevel("warn");

  const prefix = `vipdb${process.pid.toString(36)}`;
  const namespaces: string[] = [];
  const sh = (cmd: string, args: string[], input?: string) => {
    const r = spawnSync(cmd, args, { input, encoding: "utf8", maxBuffer: 64 << 20 });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr || r.status}`);
    return r.stdout;
  };
  const netns = (name: string) => {
    const ns = `${prefix}-${name}`;
    sh("ip", ["netns", "add", ns]);
    namespaces.push(ns);
    // A namespace without an address has no local routing table, and IPVS then takes no
    // destination at all ("address not unicast"); bringing lo up creates it.
    sh("ip", ["-n", ns, "link", "set", "lo", "up"]);
    return ns;
  };
  const saved = (ns: string) =>
    sh("ip", ["netns", "exec", ns, "ipvsadm", "-S", "-n"]).split("\n").filter(Boolean).sort();

  // The table as a vipd config: tcp 10.1.x.y:80, wlc, NAT to 10.2.x.y:8000.. with a TCP check.
  const ip = (net: number, i: number) => `10.${net}.${(i >> 8) & 255}.${i & 255}`;
  const check = {
    type: "tcp" as const,
    intervalMs: 2000,
    fastIntervalMs: 2000,
    downIntervalMs: 2000,
    timeoutMs: 1000,
    rise: 2,
    fall: 3,
    initial: "down" as const,
  };
  const config = (weightOf: (i: number, j: number) => number): VirtualServerConfig[] =>
    Array.from({ length: SERVICES }, (_, i) => ({
      name: `vs${i}`,
      family: 4 as const,
      address: ip(1, i),
      port: 80,
      protocol: "tcp" as const,
      scheduler: "wlc" as const,
      schedulerFlags: { fallback: false, port: false },
      forwarding: "nat" as const,
      onePacket: false,
      onFailure: "remove" as const,
      quorum: { weight: 1, hysteresis: 0 },
      slowStartMs: 0,
      realServers: Array.from({ length: DESTS }, (_, j) => ({
        address: ip(2, i),
        port: 8000 + j,
        family: 4 as const,
        weight: weightOf(i, j),
        upperThreshold: 0,
        lowerThreshold: 0,
        checks: [check],
      })),
    }));
  const base = config(() => 1);
  const rules = `${base
    .map((vs) =>
      [
        `-A -t ${vs.address}:${vs.port} -s ${vs.scheduler}`,
        ...vs.realServers.map(
          (rs) => `-a -t ${vs.address}:${vs.port} -r ${rs.address}:${rs.port} -m -w ${rs.weight}`,
        ),
      ].join("\n"),
    )
    .join("\n")}\n`;
  const ipvs: IpvsConfig = { flushOnStart: false, resyncIntervalMs: 0 };
  const total = SERVICES * (DESTS + 1);
  const since = (t0: number) => performance.now() - t0;
  const check0 = (what: string, r: Report, expect: number) => {
    if (r.applied.length !== expect || r.failed.length > 0 || r.error) {
      throw new Error(
        `${what}: applied ${r.applied.length}/${expect}, failed ${r.failed.length}: ${r.failed[0]?.error.message ?? r.error?.message ?? ""}`,
      );
    }
  };

  try {
    const nsI = netns("ipvsadm");
    const nsV = netns("vipd");
    const runIpvsadm = () => {
      const t0 = performance.now();
      sh("ip", ["netns", "exec", nsI, "ipvsadm", "-R"], rules);
      return since(t0);
    };
    const client = await IpvsClient.open({ netns: `/run/netns/${nsV}` });
    const manager = new IpvsManager({ client, virtualServers: base, ipvs, followVrrp: false });
    let phasesMs: Trial["phasesMs"] = { read: 0, desired: 0, diff: 0, apply: 0 };
    const runVipd = async () => {
      const t0 = performance.now();
      const report = await manager.start();
      const ms = since(t0);
      check0("vipd full apply", report, total);
      phasesMs = report.phasesMs;
      return ms;
    };
    const first = trial % 2 === 1 ? "ipvsadm" : "vipd";
    let ipvsadmMs: number;
    let vipdMs: number;
    if (first === "ipvsadm") {
      ipvsadmMs = runIpvsadm();
      vipdMs = await runVipd();
    } else {
      vipdMs = await runVipd();
      ipvsadmMs = runIpvsadm();
    }
    const a = saved(nsI);
    const b = saved(nsV);
    if (a.length !== total || a.join("\n") !== b.join("\n")) {
      throw new Error(`the tables differ: ipvsadm has ${a.length} lines, vipd ${b.length}`);
    }
    const result: Trial = { trial, first, ipvsadmMs, vipdMs, phasesMs };

    if (trial === 1) {
      const changes: NonNullable<Trial["changes"]> = [];
      const step = async (what: string, expect: number, run: () => Promise<Report>) => {
        const t0 = performance.now();
        const r = await run();
        const ms = since(t0);
        check0(what, r, expect);
        changes.push({ what, ops: expect, ms });
      };
      const dests = SERVICES * DESTS;
      const pick = (n: number) => (i: number, j: number) => (i * DESTS + j) % Math.round(dests / n) === 0;
      const reload = (n: number, w: number) => () =>
        manager.updateConfig({ virtualServers: config((i, j) => (pick(n)(i, j) ? w : 1)), ipvs });
      const onePct = Math.max(1, Math.round(dests / 100));
      const tenPct = Math.max(1, Math.round(dests / 10));
      await step("reload: 1% of weights changed", onePct, reload(onePct, 2));
      await step("reload: those weights back", onePct, reload(onePct, 1));
      await step("reload: 1% of weights changed (again)", onePct, reload(onePct, 3));
      await step("reload: 10% of weights changed", tenPct, reload(tenPct, 4));
      await step("reload: back to the base table", tenPct, () =>
        manager.updateConfig({ virtualServers: base, ipvs }),
      );
      const p1 = pick(onePct);
      const down: Array<[string, boolean]> = [];
      base.forEach((vs, i) => {
        vs.realServers.forEach((rs, j) => {
          if (p1(i, j)) down.push([healthKey(vs.name, rs), false]);
        });
      });
      const up = down.map(([k]) => [k, true] as [string, boolean]);
      await step("health: 1% of real servers down (removed)", onePct, () => manager.setHealth(down));
      await step("health: those real servers up again", onePct, () => manager.setHealth(up));
      await step("health: 1% down (again)", onePct, () => manager.setHealth(down));
      await step("health: up again", onePct, () => manager.setHealth(up));
      const t0 = performance.now();
      const rs = await manager.resync();
      result.resyncMs = since(t0);
      if (rs.applied.length > 0 || rs.drift.length > 0) throw new Error("the resync found differences");
      result.changes = changes;
    }
    await manager.stop();
    client.close();
    process.stdout.write(`@@BENCH-TRIAL ${JSON.stringify(result)}\n`);
  } finally {
    for (const ns of namespaces) spawnSync("ip", ["netns", "del", ns]);
  }
}
