import { describe, expect, expectTypeOf, it } from "vitest";
import type { AlertsStatsEntry } from "../../../src/alert/webhook.js";
import { renderPrometheus } from "../../../src/api/metrics.js";
import {
  type AlertStatsInput,
  buildStatus,
  collectStatus,
  formatDuration,
  formatStatus,
  formatTable,
  type IpvsManagerStatusInput,
  ipvsStatus,
  type ReconcileReportInput,
  ReconcileTracker,
  redactName,
  type TransitionInput,
  type WorkerStatusInput,
} from "../../../src/api/status.js";
import type { IpvsManager, ReconcileReport } from "../../../src/engine/ipvs-manager.js";
import type { TransitionEvent } from "../../../src/vrrp/instance.js";
import { DROP_REASONS } from "../../../src/vrrp/packet.js";
import type { WorkerStatus } from "../../../src/vrrp/worker.js";
import {
  backupInstance,
  instance,
  ipvsInput,
  NOW,
  sampleStatus,
  statusInput,
  T0,
  table,
} from "./fixtures.js";

describe("the engine's values fit the status inputs as they are", () => {
  it("type-checks (tsc)", () => {
    expectTypeOf<WorkerStatus>().toExtend<WorkerStatusInput>();
    expectTypeOf<TransitionEvent>().toExtend<TransitionInput>();
    expectTypeOf<ReconcileReport>().toExtend<ReconcileReportInput>();
    expectTypeOf<ReturnType<IpvsManager["status"]>>().toExtend<IpvsManagerStatusInput>();
    expectTypeOf<AlertsStatsEntry>().toExtend<AlertStatsInput>();
  });
});

describe("buildStatus", () => {
  it("describes the daemon: version, pid, uptime, config and when it was loaded", () => {
    const s = sampleStatus();
    expect(s).toMatchObject({
      node: "lb1",
      version: "0.1.0",
      pid: 4242,
      startedAt: "2025-03-01T10:00:00.000Z",
      uptimeSeconds: 3 * 3600 + 2 * 60 + 5,
      generatedAt: "2025-03-01T13:02:05.000Z",
      config: { file: "/etc/vipd/vipd.yaml", loadedAt: "2025-03-01T11:00:00.000Z" },
    });
  });

  it("maps a MASTER instance: the master is this router, times are ISO, every drop reason is listed", () => {
    const web = sampleStatus().vrrp?.instances[0];
    expect(web).toEqual({
      name: "web",
      interface: "eth0",
      compat: { groupChecksumOnUnicast: 0 },
      vrid: 51,
      family: 4,
      version: 3,
      state: "MASTER",
      priority: 150,
      effectivePriority: 150,
      address: "10.0.0.1",
      master: "10.0.0.1",
      vips: ["10.0.0.100/24"],
      since: "2025-03-01T10:01:00.000Z",
      lastTransition: { from: "BACKUP", to: "MASTER", reason: "master_down", at: "2025-03-01T10:01:00.000Z" },
      fault: null,
      demoted: null,
      resigned: false,
      transitions: 2,
      advertsSent: 1200,
      advertsReceived: 3,
      drops: Object.fromEntries(DROP_REASONS.map((r) => [r, r === "vrid" ? 7 : 0])),
      errors: { send: 0, vips: 0, announce: 0 },
    });
  });

  it("maps a BACKUP instance: the master is the peer it accepts; the reason carries its detail", () => {
    const dns = sampleStatus().vrrp?.instances[1];
    expect(dns).toMatchObject({
      name: "dns6",
      family: 6,
      version: 2,
      state: "BACKUP",
      priority: 100,
      effectivePriority: 50,
      master: "fe80::2",
      lastTransition: { from: "INIT", to: "BACKUP", reason: "startup: priority 100" },
      drops: { ttl: 1, checksum: 2, vrid: 0 },
    });
  });

  it("knows no master in INIT or FAULT, and no transition before the first", () => {
    const s = buildStatus(
      statusInput({
        vrrp: {
          instances: [
            instance({ state: "FAULT", fault: "interface eth0 is down", since: null }),
            instance({ name: "b", state: "INIT", master: { ip: "10.0.0.9", priority: 200 } }),
          ],
          demoted: "main thread silent for 2500 ms",
          heartbeatAgeMs: 2500,
        },
        transitions: [],
      }),
    );
    expect(s.vrrp?.demoted).toBe("main thread silent for 2500 ms");
    expect(s.vrrp?.instances.map((i) => [i.master, i.since, i.lastTransition, i.fault])).toEqual([
      [null, null, null, "interface eth0 is down"],
      [null, "2025-03-01T10:01:00.000Z", null, null],
    ]);
  });

  it("keeps the latest transition per instance whatever the order given", () => {
    const s = buildStatus(
      statusInput({
        transitions: [
          { instance: "web", from: "BACKUP", to: "MASTER", reason: "master_down", at: T0 + 9000 },
          { instance: "web", from: "INIT", to: "BACKUP", reason: "startup", at: T0 },
        ],
      }),
    );
    expect(s.vrrp?.instances[0]?.lastTransition?.to).toBe("MASTER");
    expect(s.vrrp?.instances[1]?.lastTransition).toBeNull();
  });

  it("reports a worker that did not answer instead of failing", () => {
    const err = Object.assign(new Error("the VRRP worker did not answer within 5000 ms"), {
      code: "VRRP_WORKER_TIMEOUT",
    });
    const s = buildStatus(statusInput({ vrrp: err }));
    expect(s.vrrp).toEqual({
      instances: [],
      demoted: null,
      heartbeatAgeMs: null,
      error: "VRRP_WORKER_TIMEOUT: the VRRP worker did not answer within 5000 ms",
    });
  });

  it("leaves out the parts that are not running", () => {
    const s = buildStatus(statusInput({ vrrp: null, ipvs: null, alerts: [] }));
    expect([s.vrrp, s.ipvs, s.alerts]).toEqual([null, null, []]);
  });

  it("shows webhooks by scheme and host only, numbering those that would look the same", () => {
    const names = sampleStatus().alerts.map((a) => a.name);
    expect(names).toEqual(["https://hooks.example.com", "https://hooks.example.com #2"]);
    expect(sampleStatus().alerts[1]).toEqual({
      name: "https://hooks.example.com #2",
      queued: 2,
      delivered: 0,
      failed: 0,
      dropped: 1,
      retries: 0,
      lastError: "HTTP 503",
      lastErrorAt: "2025-03-01T10:00:05.000Z",
      lastDeliveredAt: null,
    });
  });

  it("is plain JSON: it survives a round trip unchanged", () => {
    const s = sampleStatus();
    expect(JSON.parse(JSON.stringify(s))).toEqual(s);
  });
});

describe("redactName", () => {
  it("cuts URLs to scheme and host and leaves names alone", () => {
    expect(redactName("https://user:pw@hooks.example.com:8443/a/b?token=x")).toBe(
      "https://hooks.example.com:8443",
    );
    expect(redactName("pagerduty")).toBe("pagerduty");
  });
});

describe("ipvsStatus", () => {
  it("lists vipd's services with the kernel's destinations and the unowned ones by key", () => {
    const p = ipvsStatus(ipvsInput());
    expect(p.services.map((s) => [s.key, s.name, s.inKernel])).toEqual([
      ["tcp 10.0.0.100:80", "web", true],
      ["fwmark 66 (inet)", "dns", false],
    ]);
    expect(p.services[0]).toMatchObject({
      scheduler: "wlc",
      forwarding: "dr",
      persistence: 300,
      realServers: 2,
      healthyRealServers: 1,
      quorum: true,
      sorryServer: false,
    });
    expect(p.services[0]?.destinations).toEqual([
      {
        key: "10.0.0.21:80",
        address: "10.0.0.21",
        port: 80,
        forwarding: "dr",
        weight: 1,
        healthy: true,
        activeConns: 4,
        inactConns: 10,
      },
      {
        key: "10.0.0.22:80",
        address: "10.0.0.22",
        port: 80,
        forwarding: "dr",
        weight: 0,
        healthy: false,
        activeConns: 0,
        inactConns: 1,
      },
    ]);
    expect(p.unowned).toEqual(["udp 10.9.9.9:53"]);
    expect(p.syncRole).toBe("master");
  });

  it("takes health from the callback when it knows, from the weight otherwise", () => {
    const p = ipvsStatus(
      ipvsInput({ healthy: (vs, dest) => (vs === "web" && dest === "10.0.0.21:80" ? false : undefined) }),
    );
    expect(p.services[0]?.destinations.map((d) => d.healthy)).toEqual([false, false]);
  });

  it("without a table, lists the declared services as not read and keeps the last known unowned", () => {
    const p = ipvsStatus(ipvsInput({ table: null, tableError: new Error("netlink: EPERM") }));
    expect(p.services.map((s) => [s.key, s.inKernel, s.destinations.length])).toEqual([
      ["tcp 10.0.0.100:80", null, 0],
      ["fwmark 66 (inet)", null, 0],
    ]);
    expect(p.error).toBe("netlink: EPERM");
    expect(p.unowned).toEqual(["udp 10.9.9.9:53"]);
  });

  it("without the manager, lists every kernel service", () => {
    const p = ipvsStatus({ table });
    expect(p.services.map((s) => [s.key, s.name])).toEqual([
      ["tcp 10.0.0.100:80", null],
      ["udp 10.9.9.9:53", null],
    ]);
    expect(p.lastReconcile).toBeNull();
  });

  it("says 'mixed' when destinations forward differently", () => {
    const mixed = structuredClone(table);
    const d = mixed[0]?.destinations[1];
    if (d) d.options.forwarding = "nat";
    expect(ipvsStatus({ table: mixed }).services[0]?.forwarding).toBe("mixed");
  });
});

describe("ReconcileTracker", () => {
  const report = (over: Partial<ReconcileReportInput> = {}): ReconcileReportInput => ({
    trigger: "health",
    read: false,
    applied: [],
    failed: [],
    drift: [],
    invalid: [],
    unowned: [],
    durationMs: 0.5,
    ...over,
  });

  it("keeps the last reconcile and totals that only grow", () => {
    const t = new ReconcileTracker();
    expect(t.snapshot()).toEqual({
      lastReconcile: null,
      totals: { reconciles: 0, ops: 0, failures: 0 },
      unowned: [],
    });
    t.record(report({ trigger: "start", read: true, applied: [1, 2], unowned: ["udp 10.9.9.9:53"] }), T0);
    t.record(report({ applied: [1], failed: [1, 2], drift: [1] }), T0 + 1000);
    t.record(
      report({ trigger: "resync", read: true, error: { code: "NETLINK_TIMEOUT", message: "no answer" } }),
      T0 + 2000,
    );
    expect(t.snapshot()).toEqual({
      lastReconcile: {
        at: "2025-03-01T10:00:02.000Z",
        trigger: "resync",
        ops: 0,
        failures: 0,
        drift: 0,
        invalid: 0,
        durationMs: 0.5,
        error: "NETLINK_TIMEOUT: no answer",
      },
      totals: { reconciles: 3, ops: 3, failures: 3 },
      // Only a reconcile that read the table (and did not fail) says what is not ours.
      unowned: ["udp 10.9.9.9:53"],
    });
    t.record(report({ trigger: "resync", read: true, unowned: [] }), T0 + 3000);
    expect(t.snapshot().unowned).toEqual([]);
  });
});

describe("collectStatus", () => {
  it("asks every part and builds the status", async () => {
    const want = sampleStatus();
    const input = statusInput();
    const s = await collectStatus({
      node: "lb1",
      version: "0.1.0",
      pid: 4242,
      startedAt: T0,
      configFile: "/etc/vipd/vipd.yaml",
      configLoadedAt: new Date(T0 + 3600_000),
      now: () => NOW,
      vrrp: {
        status: () => Promise.resolve(input.vrrp as WorkerStatusInput),
        transitions: () => input.transitions ?? [],
      },
      ipvs: {
        manager: () => ipvsInput().manager as IpvsManagerStatusInput,
        snapshot: () => Promise.resolve({ table }),
        reconciles: ipvsInput().reconciles as ReconcileTracker,
      },
      alerts: () => input.alerts ?? [],
    });
    expect(s).toEqual(want);
  });

  it("reports failing parts in their error and still answers", async () => {
    const s = await collectStatus({
      node: "lb1",
      version: "0.1.0",
      startedAt: T0,
      configFile: "/x.yaml",
      configLoadedAt: T0,
      now: () => NOW,
      vrrp: {
        status: () => {
          throw Object.assign(new Error("the VRRP worker is not running"), { code: "VRRP_WORKER_GONE" });
        },
      },
      ipvs: { snapshot: () => Promise.reject(new Error("EPERM")), manager: () => ({ virtualServers: [] }) },
    });
    expect(s.pid).toBe(process.pid);
    expect(s.vrrp?.error).toBe("VRRP_WORKER_GONE: the VRRP worker is not running");
    expect(s.ipvs?.error).toBe("EPERM");
    expect(s.ipvs?.services).toEqual([]);
    expect(s.alerts).toEqual([]);
  });
});

describe("formatStatus", () => {
  it("renders the daemon, VRRP, IPVS and alerts as tables", () => {
    expect(formatStatus(sampleStatus())).toBe(
      [
        "vipd 0.1.0 on lb1 (pid 4242), up 3h 2m",
        "config /etc/vipd/vipd.yaml, loaded 2025-03-01T11:00:00.000Z (2h 2m ago)",
        "",
        "VRRP",
        "  INSTANCE  STATE   PRIORITY  VRID     INTERFACE  MASTER    VIPS",
        "  web       MASTER  150       51       eth0       10.0.0.1  10.0.0.100/24",
        "  dns6      BACKUP  50 (100)  52 (v2)  eth1       fe80::2   -",
        "  web: MASTER since 2025-03-01T10:01:00.000Z (3h 1m ago); last transition BACKUP → MASTER (master_down); adverts sent 1200, received 3; dropped: vrid 7",
        "  dns6: BACKUP since 2025-03-01T10:02:00.000Z (3h 0m ago); last transition INIT → BACKUP (startup: priority 100); adverts sent 0, received 900; dropped: ttl 1, checksum 2",
        "",
        "IPVS",
        "  tcp 10.0.0.100:80 (web) wlc dr persistent 300s: 1/2 real servers up",
        "    DESTINATION   WEIGHT  HEALTH  FORWARD  ACTIVE  INACTIVE",
        "    10.0.0.21:80  1       up      dr       4       10",
        "    10.0.0.22:80  0       down    dr       0       1",
        "  fwmark 66 (inet) (dns): 0/2 real servers up, QUORUM LOST, sorry server on",
        "    MISSING from the kernel table",
        "  last reconcile 2025-03-01T10:00:01.000Z (start): 3 ops, 0 failed, 0 drift",
        "  sync daemon: master",
        "  not managed by vipd: udp 10.9.9.9:53",
        "",
        "ALERTS",
        "  WEBHOOK                       QUEUED  DELIVERED  FAILED  DROPPED  RETRIES  LAST ERROR",
        "  https://hooks.example.com     0       12         1       0        3        -",
        "  https://hooks.example.com #2  2       0          0       1        0        HTTP 503",
        "",
      ].join("\n"),
    );
  });

  it("shows an operator's resignation in the table, the notes and the metrics", () => {
    const status = buildStatus(
      statusInput({
        vrrp: {
          instances: [instance({ state: "BACKUP", resigned: true })],
          demoted: null,
          heartbeatAgeMs: 40,
        },
      }),
    );
    expect(status.vrrp?.instances[0]?.resigned).toBe(true);
    const text = formatStatus(status);
    expect(text).toMatch(/\n {2}web +BACKUP \(resigned\) /);
    expect(text).toContain("resigned by the operator (vipd vrrp resume to undo)");
    expect(renderPrometheus(status)).toContain('vipd_vrrp_resigned{instance="web"} 1\n');
  });

  it("shows faults, self-demote, worker and kernel errors", () => {
    const text = formatStatus(
      buildStatus(
        statusInput({
          vrrp: {
            instances: [
              instance({
                state: "FAULT",
                fault: "interface eth0 is down",
                demoted: "main thread silent",
                counters: { advertsSent: 1, advertsReceived: 0, transitions: 1, sendErrors: 2 },
              }),
            ],
            demoted: "main thread silent",
            heartbeatAgeMs: 3000,
          },
          ipvs: ipvsInput({ table: null, tableError: new Error("EPERM") }),
          alerts: [],
        }),
      ),
    );
    expect(text).toContain("  self-demoted: main thread silent\n");
    expect(text).toContain("fault: interface eth0 is down; demoted: main thread silent;");
    expect(text).toContain("; errors: send 2\n");
    expect(text).toContain("  the kernel table could not be read: EPERM\n");
    expect(text).toContain("    (kernel table not read)\n");
    expect(text).not.toContain("ALERTS");

    const gone = formatStatus(buildStatus(statusInput({ vrrp: new Error("no worker"), ipvs: null })));
    expect(gone).toContain("VRRP\n  the VRRP worker did not answer: no worker\n");
    expect(gone).not.toContain("IPVS");
  });

  it("formats durations and tables", () => {
    expect([0, 59, 61, 3600 * 5 + 61, 86400 * 2 + 3600 * 3].map(formatDuration)).toEqual([
      "0s",
      "59s",
      "1m 1s",
      "5h 1m",
      "2d 3h",
    ]);
    expect(
      formatTable([
        ["A", "BB", "C"],
        ["aaa", "b", ""],
      ]),
    ).toEqual(["  A    BB  C", "  aaa  b"]);
  });

  it("lists an instance with no VIPs held and a BACKUP master", () => {
    const text = formatStatus(
      buildStatus(statusInput({ vrrp: { instances: [backupInstance], demoted: null, heartbeatAgeMs: 1 } })),
    );
    expect(text).toMatch(/ {2}dns6 {6}BACKUP {2}50 \(100\) {2}52 \(v2\) {2}eth1 {7}fe80::2 {2}-\n/);
  });
});
