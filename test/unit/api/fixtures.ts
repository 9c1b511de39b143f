/** Sample status inputs shaped like the engine's own values (WorkerStatus, IpvsSnapshot, …). */
import {
  buildStatus,
  type DaemonStatus,
  type InstanceStatusInput,
  type IpvsInput,
  ReconcileTracker,
  type StatusInput,
} from "../../../src/api/status.js";
import { AF_INET, type IpvsTable } from "../../../src/ipvs/types.js";

export const T0 = Date.parse("2025-03-01T10:00:00.000Z");
export const NOW = T0 + 3 * 3600_000 + 2 * 60_000 + 5_000; // up 3h 2m 5s

const zeroDrops = {
  ip_header: 0,
  ttl: 0,
  length: 0,
  version: 0,
  checksum: 0,
  type: 0,
  address_count: 0,
  vrid: 0,
  auth_type: 0,
  auth: 0,
  advert_interval: 0,
};

export function instance(over: Partial<InstanceStatusInput> = {}): InstanceStatusInput {
  return {
    name: "web",
    interface: "eth0",
    family: "inet",
    vrid: 51,
    version: 3,
    state: "MASTER",
    since: T0 + 60_000,
    configuredPriority: 150,
    effectivePriority: 150,
    primaryIp: "10.0.0.1",
    master: null,
    fault: null,
    demoted: null,
    vips: ["10.0.0.100/24"],
    counters: {
      advertsSent: 1200,
      advertsReceived: 3,
      sendErrors: 0,
      vipErrors: 0,
      announceErrors: 0,
      transitions: 2,
    },
    drops: { ...zeroDrops, vrid: 7 },
    ...over,
  };
}

export const backupInstance: InstanceStatusInput = instance({
  name: "dns6",
  interface: "eth1",
  family: "inet6",
  vrid: 52,
  version: 2,
  state: "BACKUP",
  since: T0 + 120_000,
  configuredPriority: 100,
  effectivePriority: 50,
  primaryIp: "fe80::1",
  master: { ip: "fe80::2", priority: 200 },
  vips: [],
  counters: { advertsSent: 0, advertsReceived: 900, transitions: 1 },
  drops: { ...zeroDrops, checksum: 2, ttl: 1 },
});

const webKey = { kind: "inet", af: AF_INET, protocol: "tcp", address: "10.0.0.100", port: 80 } as const;
const dnsKey = { kind: "fwmark", af: AF_INET, fwmark: 66 } as const;

/** A kernel snapshot: vipd's "web" service, and a service someone else added. */
export const table: IpvsTable = [
  {
    service: { key: webKey, options: { scheduler: "wlc", flags: { persistent: true }, timeout: 300 } },
    destinations: [
      {
        key: { address: "10.0.0.21", port: 80, af: AF_INET },
        options: { forwarding: "dr", weight: 1 },
        activeConns: 4,
        inactConns: 10,
        stats: {
          conns: 5n,
          inPkts: 1n,
          outPkts: 1n,
          inBytes: 1n,
          outBytes: 1n,
          cps: 0n,
          inPps: 0n,
          outPps: 0n,
          inBps: 0n,
          outBps: 0n,
        },
      },
      {
        key: { address: "10.0.0.22", port: 80, af: AF_INET },
        options: { forwarding: "dr", weight: 0 },
        activeConns: 0,
        inactConns: 1,
      },
    ],
  },
  {
    service: {
      key: { kind: "inet", af: AF_INET, protocol: "udp", address: "10.9.9.9", port: 53 },
      options: { scheduler: "rr" },
    },
    destinations: [],
  },
];

export function ipvsInput(over: Partial<IpvsInput> = {}): IpvsInput {
  const reconciles = new ReconcileTracker();
  reconciles.record(
    {
      trigger: "start",
      read: true,
      applied: [{}, {}, {}],
      failed: [],
      drift: [],
      invalid: [],
      unowned: ["udp 10.9.9.9:53"],
      durationMs: 1.25,
    },
    T0 + 1000,
  );
  return {
    table,
    manager: {
      virtualServers: [
        { name: "web", service: webKey, realServers: 2, healthy: 1, quorum: true, sorryServer: false },
        { name: "dns", service: dnsKey, realServers: 2, healthy: 0, quorum: false, sorryServer: true },
      ],
      syncRole: "master",
    },
    reconciles,
    ...over,
  };
}

export function statusInput(over: Partial<StatusInput> = {}): StatusInput {
  return {
    node: "lb1",
    version: "0.1.0",
    pid: 4242,
    startedAt: T0,
    configFile: "/etc/vipd/vipd.yaml",
    configLoadedAt: T0 + 3600_000,
    now: NOW,
    vrrp: { instances: [instance(), backupInstance], demoted: null, heartbeatAgeMs: 40 },
    transitions: [
      { instance: "web", from: "INIT", to: "BACKUP", reason: "startup", at: T0 },
      { instance: "web", from: "BACKUP", to: "MASTER", reason: "master_down", at: T0 + 60_000 },
      {
        instance: "dns6",
        from: "INIT",
        to: "BACKUP",
        reason: "startup",
        detail: "priority 100",
        at: T0 + 120_000,
      },
    ],
    ipvs: ipvsInput(),
    alerts: [
      { name: "https://hooks.example.com", queued: 0, delivered: 12, failed: 1, dropped: 0, retries: 3 },
      {
        name: "https://hooks.example.com/other?token=secret",
        queued: 2,
        delivered: 0,
        failed: 0,
        dropped: 1,
        retries: 0,
        lastError: "HTTP 503",
        lastErrorAt: new Date(T0 + 5000).toISOString(),
      },
    ],
    ...over,
  };
}

export function sampleStatus(over: Partial<StatusInput> = {}): DaemonStatus {
  return buildStatus(statusInput(over));
}
