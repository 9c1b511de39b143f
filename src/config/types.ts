/**
 * The validated, defaulted configuration the rest of vipd consumes.
 *
 * YAML keys are snake_case (the contract: config/lb1.yaml, config/vipd.schema.json); these types are camelCase, and every
 * duration is a number of milliseconds in a field whose name ends in `Ms`. A value of this type
 * has passed every check in src/config/parse.ts, so consumers need not re-validate it.
 */

import type { EventType as AlertEvent } from "../alert/events.js";
import type { Scheduler } from "../ipvs/types.js";

/** Address family as node:net's isIP reports it. */
export type AddressFamily = 4 | 6;

/** pino's levels. */
export type LogLevel = "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";

/** A host address with a prefix length, e.g. a VIP `10.0.0.100/24`. `address` is canonical (IPv6 compressed, lower case). */
export interface IpPrefix {
  address: string;
  prefixLength: number;
  family: AddressFamily;
}

/** An IP address and port, e.g. a sorry server `10.0.0.50:80` or `[2001:db8::50]:80`. */
export interface Endpoint {
  address: string;
  port: number;
  family: AddressFamily;
}

/** `host:port` to listen on (host may be an IP literal or a host name). */
export interface ListenAddress {
  host: string;
  port: number;
}

export interface LogConfig {
  level: LogLevel;
}

export interface ApiConfig {
  /** Unix socket path for status/control. */
  socket: string;
}

export interface MetricsConfig {
  /** Prometheus endpoint; undefined = metrics disabled. */
  listen?: ListenAddress;
}

export interface TrackInterfaceConfig {
  name: string;
  /** -254..254, as in keepalived: a negative weight is added while the link is down, a positive one while it is up; 0 = FAULT while it is down. */
  weight: number;
}

export interface GarpConfig {
  /** Gratuitous ARPs / unsolicited NAs sent per burst on becoming master (0 = none). */
  repeat: number;
  /** Delay before a second burst after becoming master; 0 = no second burst. */
  delayMs: number;
  /** Re-send a burst periodically while master; 0 = never. */
  refreshMs: number;
}

/** How a VRRPv3 IPv4 checksum is computed (reference/vrrp.md): with the IPv4 pseudo-header, or over the message only. */
export type ChecksumMode = "pseudo" | "message";

export interface VrrpInstanceConfig {
  name: string;
  interface: string;
  vrid: number;
  /** 1..255; 255 means this router owns the addresses. */
  priority: number;
  version: 2 | 3;
  /** The family of the virtual IPs (and peers); one per instance. */
  family: AddressFamily;
  /** v3: a multiple of 10 in 10..40950; v2: a multiple of 1000 in 1000..255000. */
  advertIntervalMs: number;
  preempt: boolean;
  preemptDelayMs: number;
  virtualIps: IpPrefix[];
  /** Canonical peer addresses; empty = multicast. */
  unicastPeers: string[];
  /** Source address for adverts; undefined = the interface's primary address. */
  sourceAddress?: string;
  trackInterfaces: TrackInterfaceConfig[];
  garp: GarpConfig;
  /** Only meaningful for v3 over IPv4; always set (default "pseudo"). */
  checksumMode: ChecksumMode;
  /**
   * TTL / hop limit of unicast adverts: `send` (default 255) is what ours carry, `require`
   * (default: none) what a received unicast advert must carry. Multicast is always 255.
   */
  unicastTtl: { send: number; require?: number };
}

export interface SyncGroupConfig {
  name: string;
  /** Names of instances (all exist; an instance is in at most one group). */
  instances: string[];
  /**
   * Apply the members' track_interfaces weights (keepalived's sgroup_tracking_weight). Off by
   * default, as in keepalived: in a group a weighted tracked interface that goes down is a FAULT
   * of the whole group, because a priority drop on one member alone makes routers flap.
   */
  trackingWeight: boolean;
}

export interface VrrpConfig {
  instances: VrrpInstanceConfig[];
  syncGroups: SyncGroupConfig[];
  /** The worker self-demotes when the main thread has not answered for this long. */
  heartbeatTimeoutMs: number;
}

export type Protocol = "tcp" | "udp" | "sctp";

export { SCHEDULERS } from "../ipvs/types.js";
export type { Scheduler };

/** IPVS SCHED1 (fallback) and SCHED2 (port) flags; only the sh and mh schedulers take them. */
export interface SchedulerFlags {
  fallback: boolean;
  port: boolean;
}

export type Forwarding = "nat" | "dr" | "tun";

export type TunnelType = "ipip" | "gue" | "gre";
/** IPVS tunnel encapsulation checksum flags: none (0), csum (1), remcsum (2). */
export type TunnelChecksum = "none" | "csum" | "remcsum";

export interface TunnelConfig {
  type: TunnelType;
  /** UDP port for gue (required for gue, absent otherwise). */
  port?: number;
  checksum: TunnelChecksum;
}

export interface PersistenceConfig {
  /** Whole seconds, as IPVS stores them. */
  timeoutMs: number;
  /** Prefix length applied to the client address (IPv4 dotted masks are converted). */
  netmaskPrefix: number;
}

export interface QuorumConfig {
  /** Sum of healthy real servers' weights needed to have quorum. */
  weight: number;
  hysteresis: number;
}

export type OnFailure = "remove" | "inhibit";

export type CheckType = "http" | "https" | "tcp" | "none";

/** An inclusive range of HTTP status codes; a single code has min === max. */
export interface StatusRange {
  min: number;
  max: number;
}

export interface CheckTiming {
  intervalMs: number;
  timeoutMs: number;
  /** Consecutive successes to become up. */
  rise: number;
  /** Consecutive failures to become down. */
  fall: number;
}

export interface HttpCheckConfig extends CheckTiming {
  type: "http" | "https";
  /** Port to check instead of the real server's port. */
  port?: number;
  path: string;
  status: StatusRange[];
  /** Host header; undefined = the real server's address. */
  host?: string;
  /** A substring the response body must contain. */
  expect?: string;
  /** https only: verify the server certificate (default false: real servers are addressed by IP). */
  tlsVerify: boolean;
}

export interface TcpCheckConfig extends CheckTiming {
  type: "tcp";
  port?: number;
}

/** No checking: the real server is always considered up. */
export interface NoneCheckConfig {
  type: "none";
}

export type CheckConfig = HttpCheckConfig | TcpCheckConfig | NoneCheckConfig;

export interface RealServerConfig {
  address: string;
  /** For an address-based service, defaults to the service's port; for fwmark services 0 = unspecified. */
  port: number;
  family: AddressFamily;
  /** 0..65535; 0 = quiesced. */
  weight: number;
  /** Connection thresholds; 0 = unlimited. */
  upperThreshold: number;
  lowerThreshold: number;
  /** The effective check: the virtual server's check merged with this server's override; `none` when neither has one. */
  check: CheckConfig;
}

export interface VirtualServerConfig {
  name: string;
  /** Service family: the address's, or for fwmark services the `family` key / the real servers'. */
  family: AddressFamily;
  /** Set together with `port`, or `fwmark` alone. */
  address?: string;
  port?: number;
  fwmark?: number;
  protocol: Protocol;
  scheduler: Scheduler;
  schedulerFlags: SchedulerFlags;
  forwarding: Forwarding;
  /** Present only when forwarding is tun. */
  tunnel?: TunnelConfig;
  persistence?: PersistenceConfig;
  onePacket: boolean;
  onFailure: OnFailure;
  quorum: QuorumConfig;
  sorryServer?: Endpoint;
  /** The service-level check as written (real servers carry the merged one). */
  check?: CheckConfig;
  realServers: RealServerConfig[];
}

export interface SyncDaemonConfig {
  interface: string;
  /** 0..255 */
  syncId: number;
  /** VRRP instance whose state selects master/backup sync; undefined = run as both. */
  instance?: string;
}

export interface IpvsConfig {
  flushOnStart: boolean;
  /** Re-read the kernel table and repair drift this often; 0 = never. */
  resyncIntervalMs: number;
  syncDaemon?: SyncDaemonConfig;
}

export { EVENT_TYPES as ALERT_EVENTS } from "../alert/events.js";
export type { AlertEvent };

export interface WebhookConfig {
  url: string;
  events: AlertEvent[];
  /** File holding the HMAC-SHA256 key; undefined = unsigned. */
  secretFile?: string;
  timeoutMs: number;
  retries: number;
  queueSize: number;
}

export interface AlertsConfig {
  webhooks: WebhookConfig[];
}

export interface VipdConfig {
  node: string;
  log: LogConfig;
  api: ApiConfig;
  metrics: MetricsConfig;
  vrrp: VrrpConfig;
  ipvs: IpvsConfig;
  virtualServers: VirtualServerConfig[];
  alerts: AlertsConfig;
}
