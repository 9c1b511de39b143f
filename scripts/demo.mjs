#!/usr/bin/env node
// vipd quick start: `npm run demo` (as root, after `npm ci`).
//
// Builds a throwaway lab of network namespaces on this machine — a client and two directors on
// one bridge, each director running a small HTTP server that answers with its name — and runs
// vipd on both directors with an embedded default config (VRRPv3, advert 100 ms, one VIP). Then
// it shows which director is master, fails the master's link, shows the backup taking the VIP
// and the client's requests resuming (with the outage the client saw), restores the link, and
// deletes everything it created. Exits 0 when the whole story went as told.
//
// Nothing outside the namespaces it creates is touched; Ctrl-C cleans up too.
import { existsSync } from "node:fs";
import { register } from "node:module";

// The lab harness is TypeScript; load it with the project's own type-stripping hooks.
register("../test/lab/fixtures/ts-loader-hooks.mjs", import.meta.url);

const { createDirectorLab, NET, VIP_CIDR, VIP_URL, masterDownMs, vipHolders, waitForSettled } = await import(
  "../test/lab/harness/directors.ts"
);
const { Vipd, VIPD_DIST_MAIN, vipdYaml } = await import("../test/lab/harness/vipd.ts");
const { HttpProbe, longestOutage } = await import("../test/lab/harness/probe.ts");
const { nowMs } = await import("../test/lab/harness/lines.ts");

const ADVERT_MS = 100;
const PRIORITY = { d1: 150, d2: 100 };
const WAIT_MS = 20_000;

const bold = (s) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const dim = (s) => (process.stdout.isTTY ? `\x1b[2m${s}\x1b[0m` : s);
let stepNo = 0;
const STEPS = 7;
const step = (s) => process.stdout.write(`\n${bold(`[${++stepNo}/${STEPS}] ${s}`)}\n`);
const info = (s) => process.stdout.write(`      ${s}\n`);
const ms = (n) => `${Math.round(n)} ms`;

function directorSpec(node) {
  return {
    node,
    instances: [
      {
        name: "web",
        interface: "eth0",
        vrid: NET.vrid,
        priority: PRIORITY[node],
        version: 3,
        advertIntervalMs: ADVERT_MS,
        preempt: true,
        virtualIps: [VIP_CIDR],
      },
    ],
  };
}

function describeTransition(node, t) {
  const detail = t.record.detail ? `: ${t.record.detail}` : "";
  return `${node}: ${t.from} → ${t.to} (${t.reason}${detail})`;
}

async function main() {
  if (process.getuid?.() !== 0) {
    process.stderr.write("The demo creates network namespaces: run it as root (sudo npm run demo).\n");
    return 1;
  }
  if (!existsSync(VIPD_DIST_MAIN)) {
    process.stderr.write("vipd is not built yet: run `npm ci` (or `npm run build`) first.\n");
    return 1;
  }

  process.stdout.write(
    `${bold("vipd demo")}: two directors keep ${NET.vip} alive with VRRP; a client keeps requesting it.\n`,
  );

  step("Building a private lab of network namespaces");
  const dl = await createDirectorLab({ prefix: "vdemo" });
  try {
    info(`lab ${dl.lab.id}: client cl ${NET.client}, directors d1 ${NET.d1} and d2 ${NET.d2}, on one bridge`);
    info(`each director runs an HTTP server on :${NET.httpPort} that answers with its name`);

    step("Starting vipd on both directors");
    const shown = vipdYaml(directorSpec("d1"), { apiSocket: dl.dir.file("d1.sock") })
      .split("\n")
      .filter((l) => l.trim() !== "" && !l.startsWith("#"));
    info(dim("d1's config (d2's differs only in node and priority 100):"));
    for (const l of shown) info(dim(`  ${l}`));
    const d1Start = Vipd.start(dl.lab, "d1", dl.dir, directorSpec("d1"));
    const d2Start = Vipd.start(dl.lab, "d2", dl.dir, directorSpec("d2"));
    const [d1, d2] = await Promise.all([d1Start, d2Start]);
    const elected = await d1.waitForState("MASTER", { timeoutMs: WAIT_MS });
    await waitForSettled(dl.lab, d1, d2, WAIT_MS);
    info(describeTransition("d1", elected));
    info(`d2: ${d2.state("web")}`);
    info(`VIP ${VIP_CIDR} is on: ${(await vipHolders(dl.lab)).join(", ")}`);

    step(`The client requests ${VIP_URL} every 10 ms`);
    const probe = await HttpProbe.start(dl.lab, "cl", VIP_URL);
    await probe.waitForSteady({ body: "d1", count: 50, timeoutMs: WAIT_MS });
    info(`served by d1 (${probe.results().filter((r) => r.ok).length} answers so far)`);

    step("Failing the master: d1's link goes down");
    const mark2 = d2.mark;
    const t = nowMs();
    await dl.lab.linkDown("d1");
    const takeover = await d2.waitForState("MASTER", { from: mark2, timeoutMs: WAIT_MS });
    info(`${describeTransition("d2", takeover)}  ${dim(`+${ms(takeover.line.at - t)}`)}`);
    const first = await probe.waitForSuccess({ after: t, body: "d2", timeoutMs: WAIT_MS });
    await probe.waitForSteady({ after: first.start, body: "d2", count: 50, timeoutMs: WAIT_MS });
    const outage = longestOutage(probe.results(), { from: t - 300 });
    info(`VIP is on: ${(await vipHolders(dl.lab)).join(", ")}`);
    info(
      `the client is served by d2 again; it saw an outage of ${bold(ms(outage.outageMs))} ` +
        `(VRRP: the backup takes over Master_Down_Interval = ${ms(masterDownMs(3, ADVERT_MS, PRIORITY.d2))} ` +
        "after the last advert it heard from the master)",
    );

    step("Restoring d1's link: d1 has the higher priority and takes the VIP back");
    const mark1 = d1.mark;
    const mark2b = d2.mark;
    const tBack = nowMs();
    await dl.lab.linkUp("d1");
    const back = await d1.waitForState("MASTER", { from: mark1, timeoutMs: WAIT_MS });
    const stepDown = await d2.waitForState("BACKUP", { from: mark2b, timeoutMs: WAIT_MS });
    info(describeTransition("d1", back));
    info(describeTransition("d2", stepDown));
    await probe.waitForSteady({ after: nowMs(), body: "d1", count: 50, timeoutMs: WAIT_MS });
    const handback = longestOutage(probe.results(), { from: tBack });
    info(`served by d1 again (planned handover, longest gap ${ms(handback.outageMs)})`);
    await probe.stop();

    step("Stopping vipd (SIGTERM: each director resigns and removes its VIPs)");
    const codes = await Promise.all([d1.stop(), d2.stop()]);
    info(
      `exit codes: d1 ${codes[0].code}, d2 ${codes[1].code}; VIP is on: ${(await vipHolders(dl.lab)).join(", ") || "nobody"}`,
    );
    if (codes.some((c) => c.code !== 0)) throw new Error("vipd did not exit cleanly");
  } finally {
    step("Cleaning up");
    await dl.close();
    info(`deleted lab ${dl.lab.id} (namespaces, processes, temporary files)`);
  }
  process.stdout.write(
    `\n${bold("Done.")} Next: vipd check -c config/lb1.yaml, and the README's configuration guide.\n`,
  );
  return 0;
}

try {
  process.exitCode = await main();
} catch (err) {
  process.stderr.write(`\ndemo failed: ${err instanceof Error ? err.message : String(err)}\n`);
  const output = err?.context?.output;
  if (typeof output === "string" && output !== "") process.stderr.write(`${output}\n`);
  process.exitCode = 1;
}
