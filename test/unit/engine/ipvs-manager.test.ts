import { pino } from "pino";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { VipdEvent } from "../../../src/alert/events.js";
import { EventFactory } from "../../../src/alert/events.js";
import { formatIssue } from "../../../src/config/issues.js";
import { parseConfig } from "../../../src/config/parse.js";
import type { IpvsConfig, VirtualServerConfig } from "../../../src/config/types.js";
import { healthKey } from "../../../src/engine/desired.js";
import {
  IpvsManager,
  type IpvsManagerOptions,
  type ReconcileReport,
  summarizeReport,
} from "../../../src/engine/ipvs-manager.js";
import { IpvsClient } from "../../../src/ipvs/client.js";
import { destKeyString, type ServiceKey, serviceKeyString } from "../../../src/ipvs/types.js";
import { setLogLevel } from "../../../src/log.js";
import { AttrMap, parseAttrs } from "../../../src/netlink/attr.js";
import { FakeIpvsNetlink } from "../ipvs/fake-ipvs-netlink.js";

setLogLevel("silent");

function vss(yaml: string): VirtualServerConfig[] {
  const r = parseConfig(`virtual_servers:\n${yaml}`, "test.yaml", { hostname: "lb1" });
  if (!r.ok) throw new Error(r.errors.map(formatIssue).join("\n"));
  return r.config.virtualServers;
}

const IPVS: IpvsConfig = { flushOnStart: false, resyncIntervalMs: 0 };

const TWO = `
  - name: web
    address: 10.0.0.100
    port: 80
    forwarding: dr
    check: { type: tcp }
    sorry_server: 10.0.0.50:80
    real_servers:
      - { address: 10.0.0.21 }
      - { address: 10.0.0.22, weight: 2 }
  - name: dns
    address: 10.0.0.101
    port: 53
    protocol: udp
    scheduler: rr
    forwarding: nat
    real_servers:
      - { address: 10.0.1.31 }
`;

const WEB: ServiceKey = { kind: "inet", af: 2, protocol: "tcp", address: "10.0.0.100", port: 80 };
const HAND: ServiceKey = { kind: "inet", af: 2, protocol: "tcp", address: "10.9.9.9", port: 8080 };

interface Rig {
  k: FakeIpvsNetlink;
  client: IpvsClient;
  /** Another client on the same kernel: "someone else" with ipvsadm. */
  other: IpvsClient;
  manager: IpvsManager;
  logs: Array<Record<string, unknown>>;
  events: VipdEvent[];
  reports: ReconcileReport[];
}

const rigs: Rig[] = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const r of rigs.splice(0)) {
    await r.manager.stop();
    r.client.close();
    r.other.close();
  }
});

async function rig(
  virtualServers: VirtualServerConfig[],
  ipvs: IpvsConfig = IPVS,
  opts: Partial<IpvsManagerOptions> = {},
  k = new FakeIpvsNetlink(),
): Promise<Rig> {
  const client = await IpvsClient.open({ openSocket: k.opener(), timeoutMs: 50 });
  const other = await IpvsClient.open({ openSocket: k.opener() });
  const logs: Array<Record<string, unknown>> = [];
  const log = pino({ level: "debug" }, { write: (s: string) => logs.push(JSON.parse(s)) });
  const events: VipdEvent[] = [];
  const reports: ReconcileReport[] = [];
  const manager = new IpvsManager({
    client,
    virtualServers,
    ipvs,
    log,
    events: new EventFactory({ node: "lb1", bootId: "t" }),
    onEvent: (e) => events.push(e),
    onReconcile: (r) => reports.push(r),
    ...opts,
  });
  const r = { k, client, other, manager, logs, events, reports };
  rigs.push(r);
  return r;
}

/** The kernel's table in one line per entry (services in kernel order, destinations sorted). */
async function table(c: IpvsClient): Promise<string[]> {
  const out: string[] = [];
  for (const e of await c.readTable()) {
    out.push(`${serviceKeyString(e.service.key)} ${e.service.options.scheduler}`);
    const dests = e.destinations.map(
      (d) => `  ${destKeyString(d.key)} ${d.options.forwarding} w${d.options.weight}`,
    );
    out.push(...dests.sort());
  }
  return out;
}

const WANT = [
  "tcp 10.0.0.100:80 wlc",
  "  10.0.0.21:80 dr w1",
  "  10.0.0.22:80 dr w2",
  "udp 10.0.0.101:53 rr",
  "  10.0.1.31:53 nat w1",
];

function messages(logs: Array<Record<string, unknown>>, level?: string): string[] {
  return logs.filter((l) => level === undefined || l.level === levelNumber(level)).map((l) => String(l.msg));
}
function levelNumber(level: string): number {
  return { debug: 20, info: 30, warn: 40, error: 50 }[level] ?? 0;
}

describe("IpvsManager: start", () => {
  it("applies the config to an empty table", async () => {
    const r = await rig(vss(TWO));
    const report = await r.manager.start();
    expect(summarizeReport(report)).toMatchObject({
      trigger: "start",
      read: true,
      evaluated: 2,
      failed: [],
      invalid: [],
      drift: [],
      unowned: [],
      applied: [
        "add service tcp 10.0.0.100:80: wlc",
        "add dest 10.0.0.21:80 to tcp 10.0.0.100:80: dr, weight 1",
        "add dest 10.0.0.22:80 to tcp 10.0.0.100:80: dr, weight 2",
        "add service udp 10.0.0.101:53: rr",
        "add dest 10.0.1.31:53 to udp 10.0.0.101:53: nat, weight 1",
      ],
    });
    expect(await table(r.other)).toEqual(WANT);
    expect(messages(r.logs, "info")).toContain("add dest 10.0.0.21:80 to tcp 10.0.0.100:80: dr, weight 1");
  });

  it("changes only what differs, leaves a service it does not own alone and says so once", async () => {
    const r = await rig(vss(TWO));
    await r.other.newService(HAND, { scheduler: "rr" });
    await r.other.newDest(HAND, { address: "10.0.0.9", port: 8080 }, { forwarding: "nat", weight: 1 });
    await r.other.newService(WEB, { scheduler: "rr" });
    await r.other.newDest(WEB, { address: "10.0.0.21", port: 80 }, { forwarding: "dr", weight: 1 });
    await r.other.newDest(WEB, { address: "10.0.0.22", port: 80 }, { forwarding: "dr", weight: 5 });
    await r.other.newDest(WEB, { address: "10.0.0.29", port: 80 }, { forwarding: "dr", weight: 1 });
    const report = await r.manager.start();
    expect(summarizeReport(report).applied).toEqual([
      "set service tcp 10.0.0.100:80: scheduler rr → wlc",
      "set dest 10.0.0.22:80 in tcp 10.0.0.100:80: weight 5 → 2",
      "del dest 10.0.0.29:80 from tcp 10.0.0.100:80",
      "add service udp 10.0.0.101:53: rr",
      "add dest 10.0.1.31:53 to udp 10.0.0.101:53: nat, weight 1",
    ]);
    expect(report.unowned).toEqual(["tcp 10.9.9.9:8080"]);
    expect(await table(r.other)).toEqual(["tcp 10.9.9.9:8080 rr", "  10.0.0.9:8080 nat w1", ...WANT]);
    await r.manager.resync();
    await r.manager.resync();
    expect(messages(r.logs, "warn").filter((m) => m.includes("10.9.9.9"))).toEqual([
      "IPVS service tcp 10.9.9.9:8080 is not declared in the config: vipd leaves it alone",
    ]);
  });

  it("flushes first when flush_on_start is set", async () => {
    const r = await rig(vss(TWO), { ...IPVS, flushOnStart: true });
    await r.other.newService(HAND, { scheduler: "rr" });
    const report = await r.manager.start();
    expect(report.unowned).toEqual([]);
    expect(await table(r.other)).toEqual(WANT);
    expect(messages(r.logs, "warn")).toContain("flushed the IPVS table (ipvs.flush_on_start)");
  });
});

describe("IpvsManager: drift", () => {
  it("reads the table back, names every drifted entry and what changed, and repairs it", async () => {
    const r = await rig(vss(TWO));
    await r.manager.start();
    const DNS: ServiceKey = { kind: "inet", af: 2, protocol: "udp", address: "10.0.0.101", port: 53 };
    await r.other.setService(WEB, { scheduler: "lc" });
    await r.other.setDest(WEB, { address: "10.0.0.22", port: 80 }, { forwarding: "dr", weight: 7 });
    await r.other.delDest(WEB, { address: "10.0.0.21", port: 80 });
    await r.other.newDest(WEB, { address: "10.0.0.28", port: 80 }, { forwarding: "dr", weight: 1 });
    await r.other.delService(DNS);
    const report = await r.manager.resync();
    expect(report.drift).toEqual([
      { service: "tcp 10.0.0.100:80", change: "changed outside vipd: scheduler wlc → lc" },
      { service: "tcp 10.0.0.100:80", dest: "10.0.0.21:80", change: "missing (deleted outside vipd)" },
      { service: "tcp 10.0.0.100:80", dest: "10.0.0.22:80", change: "changed outside vipd: weight 2 → 7" },
      { service: "tcp 10.0.0.100:80", dest: "10.0.0.28:80", change: "unexpected (added outside vipd)" },
      { service: "udp 10.0.0.101:53", change: "missing (deleted outside vipd)" },
    ]);
    expect(await table(r.other)).toEqual(WANT);
    expect(messages(r.logs, "warn")).toContain(
      "IPVS drift: destination 10.0.0.22:80 of tcp 10.0.0.100:80 changed outside vipd: weight 2 → 7; repairing",
    );
    const again = await r.manager.resync();
    expect([again.drift, again.applied]).toEqual([[], []]);
  });

  it("resyncs every resync_interval", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const r = await rig(vss(TWO), { ...IPVS, resyncIntervalMs: 30_000 });
    await r.manager.start();
    await r.other.delDest(WEB, { address: "10.0.0.21", port: 80 });
    await vi.advanceTimersByTimeAsync(29_000);
    expect(r.reports.map((x) => x.trigger)).toEqual(["start"]);
    await vi.advanceTimersByTimeAsync(1_000);
    await vi.waitFor(() => expect(r.reports.map((x) => x.trigger)).toEqual(["start", "resync"]));
    expect(r.reports[1]?.drift.map((d) => d.dest)).toEqual(["10.0.0.21:80"]);
    await vi.advanceTimersByTimeAsync(30_000);
    await vi.waitFor(() => expect(r.reports.map((x) => x.trigger)).toEqual(["start", "resync", "resync"]));
    expect(await table(r.other)).toEqual(WANT);
  });
});

describe("IpvsManager: health", () => {
  const key = (n: number) => healthKey("web", { address: `10.0.0.${n}`, port: 80 });

  it("reconciles only the virtual server whose health changed, from its own view", async () => {
    const r = await rig(vss(TWO));
    await r.manager.start();
    const before = r.k.commands.length;
    const report = await r.manager.setHealth(new Map([[key(21), false]]));
    expect(summarizeReport(report)).toMatchObject({
      trigger: "health",
      read: false,
      evaluated: 1,
      applied: ["del dest 10.0.0.21:80 from tcp 10.0.0.100:80"],
    });
    // No dump: only the one change went to the kernel.
    expect(r.k.commands.slice(before).map((c) => c.cmd)).toEqual([7]);
    // Nothing changed: nothing evaluated, nothing sent.
    const same = await r.manager.setHealth([[key(21), false]]);
    expect([same.evaluated, same.applied.length, r.k.commands.length]).toEqual([0, 0, before + 1]);
  });

  it("adds the sorry server when all are down, emits quorum events, and undoes it when one returns", async () => {
    const r = await rig(vss(TWO));
    await r.manager.start();
    const down = await r.manager.setHealth([
      [key(21), false],
      [key(22), false],
    ]);
    expect(summarizeReport(down).applied).toEqual([
      "add dest 10.0.0.50:80 to tcp 10.0.0.100:80: dr, weight 1",
      "del dest 10.0.0.21:80 from tcp 10.0.0.100:80",
      "del dest 10.0.0.22:80 from tcp 10.0.0.100:80",
    ]);
    expect(r.events.map((e) => [e.event, "weight" in e ? e.weight : undefined])).toEqual([
      ["quorum.lost", 0],
    ]);
    const back = await r.manager.setHealth([[key(22), true]]);
    expect(summarizeReport(back).applied).toEqual([
      "add dest 10.0.0.22:80 to tcp 10.0.0.100:80: dr, weight 2",
      "del dest 10.0.0.50:80 from tcp 10.0.0.100:80",
    ]);
    expect(r.events.map((e) => e.event)).toEqual(["quorum.lost", "quorum.gained"]);
    expect(r.manager.status().virtualServers.find((v) => v.name === "web")).toMatchObject({
      healthy: 1,
      healthyWeight: 2,
      quorum: true,
      sorryServer: false,
    });
  });

  it("folds requests made during a reconcile into one run after it", async () => {
    const r = await rig(vss(TWO));
    await r.manager.start();
    const ps = [
      r.manager.setHealth([[key(21), false]]),
      r.manager.setHealth([[key(22), false]]),
      r.manager.setHealth([[key(21), true]]),
    ];
    const [a, b, c] = await Promise.all(ps);
    expect(b).toBe(c);
    expect(r.reports).toHaveLength(3); // start + two runs
    expect(summarizeReport(a as ReconcileReport).applied).toEqual([
      "del dest 10.0.0.21:80 from tcp 10.0.0.100:80",
    ]);
    expect(await table(r.other)).toEqual([
      "tcp 10.0.0.100:80 wlc",
      "  10.0.0.21:80 dr w1",
      "udp 10.0.0.101:53 rr",
      "  10.0.1.31:53 nat w1",
    ]);
  });

  it("reads the kernel again after a change whose outcome is unknown", async () => {
    const r = await rig(vss(TWO));
    await r.manager.start();
    r.k.silent = true;
    const lost = await r.manager.setHealth([[key(21), false]]);
    expect(lost.failed.map((f) => f.error.code)).toEqual(["NETLINK_TIMEOUT"]);
    r.k.silent = false;
    const next = await r.manager.reconcile();
    expect(next.read).toBe(true);
    expect(summarizeReport(next).applied).toEqual(["del dest 10.0.0.21:80 from tcp 10.0.0.100:80"]);
  });
});

describe("IpvsManager: stop", () => {
  it("lets the reconcile under way finish, then does nothing more", async () => {
    const r = await rig(vss(TWO));
    await r.manager.start();
    const key = healthKey("web", { address: "10.0.0.21", port: 80 });
    const inFlight = r.manager.setHealth([[key, false]]);
    await r.manager.stop();
    expect(summarizeReport(await inFlight).applied).toEqual(["del dest 10.0.0.21:80 from tcp 10.0.0.100:80"]);
    const before = r.k.commands.length;
    const late = await r.manager.setHealth([[key, true]]);
    expect(late.error?.code).toBe("IPVS_STOPPED");
    expect((await r.manager.resync()).error?.code).toBe("IPVS_STOPPED");
    expect(r.k.commands.length).toBe(before);
  });
});

describe("IpvsManager: config reload", () => {
  it("deletes what the config no longer declares, sets what changed, recreates on identity change", async () => {
    const r = await rig(vss(TWO));
    await r.other.newService(HAND, { scheduler: "rr" });
    await r.manager.start();
    const next = vss(`
  - name: web
    address: 10.0.0.100
    port: 80
    forwarding: dr
    check: { type: tcp }
    real_servers:
      - { address: 10.0.0.21, weight: 3 }
      - { address: 10.0.0.22, weight: 2 }
  - name: dns
    address: 10.0.0.102
    port: 53
    protocol: udp
    scheduler: rr
    forwarding: nat
    real_servers:
      - { address: 10.0.1.31 }
`);
    const report = await r.manager.updateConfig({ virtualServers: next, ipvs: IPVS });
    expect(summarizeReport(report)).toMatchObject({
      trigger: "config",
      read: false,
      evaluated: 2,
      applied: [
        "set dest 10.0.0.21:80 in tcp 10.0.0.100:80: weight 1 → 3",
        "add service udp 10.0.0.102:53: rr",
        "add dest 10.0.1.31:53 to udp 10.0.0.102:53: nat, weight 1",
        "del service udp 10.0.0.101:53 (and its 1 destination)",
      ],
    });
    expect(await table(r.other)).toEqual([
      "tcp 10.9.9.9:8080 rr",
      "tcp 10.0.0.100:80 wlc",
      "  10.0.0.21:80 dr w3",
      "  10.0.0.22:80 dr w2",
      "udp 10.0.0.102:53 rr",
      "  10.0.1.31:53 nat w1",
    ]);
    // A reload that changes nothing evaluates nothing.
    const same = await r.manager.updateConfig({ virtualServers: next, ipvs: IPVS });
    expect([same.evaluated, same.applied.length]).toEqual([0, 0]);
  });
});

describe("IpvsManager: errors", () => {
  it("reports refused entries with the entry named and applies everything else", async () => {
    const config = vss(`
  - name: web
    address: 10.0.0.100
    port: 80
    forwarding: dr
    real_servers:
      - { address: 10.0.0.21 }
      - { address: 10.0.0.255 }
      - { address: 10.0.0.22 }
  - name: web6
    address: 2001:db8::100
    port: 80
    persistence: { timeout: 60s, netmask: 0 }
    real_servers:
      - { address: 2001:db8::21 }
  - name: dns
    address: 10.0.0.101
    port: 53
    protocol: udp
    real_servers:
      - { address: 10.0.1.31 }
`);
    // A port mapping under DR: the config loader refuses it; the manager must too.
    (config[0]?.realServers[2] as { port: number }).port = 8080;
    const k = new FakeIpvsNetlink();
    k.refuse = (cmd, attrs) => {
      const nest = parseAttrs(attrs, "req").find((a) => a.type === 2);
      const addr = nest ? AttrMap.parse(nest.data).bytes(1) : undefined;
      return cmd === 5 && addr && addr[3] === 255 ? "EINVAL" : undefined;
    };
    const r = await rig(config, IPVS, {}, k);
    // The IPv6 service exists already (with a valid netmask): refusing its new options must not delete it.
    await r.other.newService(
      { kind: "inet", af: 10, protocol: "tcp", address: "2001:db8::100", port: 80 },
      { scheduler: "wlc" },
    );
    const report = await r.manager.start();
    const s = summarizeReport(report);
    expect(s.invalid.map((i) => [i.service, i.dest, i.code])).toEqual([
      ["tcp 10.0.0.100:80", "10.0.0.22:8080", "IPVS_INVALID_DEST"],
      ["tcp [2001:db8::100]:80", undefined, "IPVS_INVALID_SERVICE"],
    ]);
    expect(s.invalid[0]?.message).toContain("dr forwarding cannot map ports");
    expect(s.invalid[1]?.message).toContain("IPv6 persistence netmask must be a prefix length 1..128, got 0");
    expect(s.failed.map((f) => [f.code, f.service, f.dest])).toEqual([
      ["EINVAL", "tcp 10.0.0.100:80", "10.0.0.255:80"],
    ]);
    expect(s.failed[0]?.message).toMatch(/^add dest 10\.0\.0\.255:80 to tcp 10\.0\.0\.100:80: EINVAL/);
    expect(await table(r.other)).toEqual([
      "tcp [2001:db8::100]:80 wlc",
      "tcp 10.0.0.100:80 wlc",
      "  10.0.0.21:80 dr w1",
      "udp 10.0.0.101:53 wlc",
      "  10.0.1.31:53 nat w1",
    ]);
    expect(messages(r.logs, "error")).toEqual(
      expect.arrayContaining([
        expect.stringContaining("IPVS destination 10.0.0.22:8080 of tcp 10.0.0.100:80 refused:"),
        expect.stringContaining("IPVS change failed: add dest 10.0.0.255:80 to tcp 10.0.0.100:80: EINVAL"),
      ]),
    );
  });

  it("reports a table it cannot read, and recovers on the next reconcile", async () => {
    const r = await rig(vss(TWO));
    r.k.failNext = "EPERM";
    const first = await r.manager.start();
    expect(first.error?.code).toBe("EPERM");
    const second = await r.manager.reconcile();
    expect([second.read, second.error]).toEqual([true, undefined]);
    expect(await table(r.other)).toEqual(WANT);
  });
});

describe("IpvsManager: sync daemon", () => {
  const SD: IpvsConfig = { ...IPVS, syncDaemon: { interface: "eth1", syncId: 7, instance: "web" } };
  const states = (k: FakeIpvsNetlink) =>
    k.daemons.map((d) => `${d.state === 1 ? "master" : "backup"} ${d.ifname} ${d.syncId}`);

  it("runs as backup until VRRP says master, and follows every transition", async () => {
    const r = await rig(vss(TWO), SD);
    await r.manager.start();
    expect(states(r.k)).toEqual(["backup eth1 7"]);
    await r.manager.onVrrpState("MASTER", "web");
    expect(states(r.k)).toEqual(["master eth1 7"]);
    await r.manager.onVrrpState("MASTER", "other"); // another instance: ignored
    await r.manager.onVrrpState("BACKUP", "other");
    expect(states(r.k)).toEqual(["master eth1 7"]);
    await r.manager.onVrrpState("BACKUP", "web");
    expect(states(r.k)).toEqual(["backup eth1 7"]);
    await r.manager.onVrrpState("FAULT", "web");
    expect(states(r.k)).toEqual(["backup eth1 7"]);
    expect(r.manager.status().syncRole).toBe("backup");
    await r.manager.stop();
    expect(states(r.k)).toEqual([]);
  });

  it("runs both without VRRP, restarts on a new interface, and leaves others' daemons alone", async () => {
    const r = await rig(vss(TWO), SD, { followVrrp: false });
    await r.manager.start();
    expect(states(r.k)).toEqual(["master eth1 7", "backup eth1 7"]);
    await r.manager.updateConfig({
      virtualServers: vss(TWO),
      ipvs: { ...SD, syncDaemon: { interface: "eth2", syncId: 7 } },
    });
    await vi.waitFor(() => expect(states(r.k).sort()).toEqual(["backup eth2 7", "master eth2 7"]));
    await r.manager.stop();
    expect(states(r.k)).toEqual([]);

    const r2 = await rig(vss(TWO), SD);
    await r2.other.startDaemon({ state: "master", interface: "eth9", syncId: 1 });
    await r2.manager.start();
    expect(states(r2.k)).toEqual(["master eth9 1", "backup eth1 7"]);
    await r2.manager.stop();
    expect(states(r2.k)).toEqual(["master eth9 1"]);
  });
});
