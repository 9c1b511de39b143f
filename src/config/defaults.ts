import type {
  CheckTiming,
  DnsRcode,
  DnsRecordType,
  LogLevel,
  Protocol,
  Scheduler,
  StatusRange,
} from "./types.js";

/** Every default the parser applies, in one place (durations in milliseconds). */
export const DEFAULTS = {
  configPath: "/etc/vipd/vipd.yaml",
  logLevel: "info" as LogLevel,
  apiSocket: "/run/vipd/vipd.sock",
  vrrp: {
    version: 3 as const,
    advertIntervalMs: 1000,
    preempt: true,
    preemptDelayMs: 0,
    trackWeight: 0,
    trackScriptIntervalMs: 1000,
    trackScriptWeight: 0,
    trackFileWeight: 1,
    garpRepeat: 5,
    garpDelayMs: 5000,
    garpRefreshMs: 0,
    checksumMode: "pseudo" as const,
    heartbeatTimeoutMs: 2000,
  },
  /** How long a notify hook may run before its process group is killed. */
  notifyTimeoutMs: 30_000,
  virtualServer: {
    protocol: "tcp" as Protocol,
    scheduler: "wlc" as Scheduler,
    forwarding: "nat" as const,
    onFailure: "remove" as const,
    onePacket: false,
    quorumWeight: 1,
    quorumHysteresis: 0,
    persistenceTimeoutMs: 300_000,
    tunnelType: "ipip" as const,
    tunnelChecksum: "none" as const,
    /** No slow start: a returning real server gets its full weight at once. */
    slowStartMs: 0,
  },
  realServer: {
    weight: 1,
    upperThreshold: 0,
    lowerThreshold: 0,
  },
  /** fast_interval and down_interval default to the interval itself (no fast re-checks, no backoff). */
  check: {
    intervalMs: 2000,
    timeoutMs: 1000,
    rise: 2,
    fall: 3,
    initial: "down" as const,
    method: "GET",
    path: "/",
    status: [{ min: 200, max: 299 }] as StatusRange[],
    maxBodyBytes: 65_536,
    keepalive: false,
    /** https verifies by default: a check that accepts any certificate cannot tell a server from an impostor. */
    tlsVerify: true,
    dynamicWeight: false,
    recordType: "A" as DnsRecordType,
    rcode: "NOERROR" as DnsRcode,
  } satisfies Omit<CheckTiming, "fastIntervalMs" | "downIntervalMs"> & Record<string, unknown>,
  ipvs: {
    flushOnStart: false,
    resyncIntervalMs: 30_000,
    syncId: 0,
  },
  health: {
    stateDir: "/var/lib/vipd",
    concurrency: 1000,
    /** Lowered to `concurrency` when that is set below it. */
    tlsConcurrency: 64,
  },
  webhook: {
    timeoutMs: 5000,
    retries: 5,
    queueSize: 1000,
  },
} as const;
