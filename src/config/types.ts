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
  /** References to vrrp.track_scripts, each with its weight resolved (the script's unless overridden). */
  trackScripts: TrackRefConfig[];
  /** References to vrrp.track_files, each with its weight resolved. */
  trackFiles: TrackRefConfig[];
  garp: GarpConfig;
  /** Only meaningful for v3 over IPv4; always set (default "pseudo"). */
  checksumMode: ChecksumMode;
  /**
   * TTL / hop limit of unicast adverts: `send` (default 255) is what ours carry, `require`
   * (default: none) what a received unicast advert must carry. Multicast is always 255.
   */
  unicastTtl: { send: number; require?: number };
  /** VRRPv2 only; absent: no authentication. */
  authentication?: VrrpAuthentication;
  /** Commands run (on the main thread, never the VRRP worker) when the instance changes state. */
  notify?: VrrpNotifyConfig;
}

/**
 * keepalived's notify_master / notify_backup / notify_fault / notify_stop (argv as written) and
 * notify (`any`: argv + INSTANCE|GROUP, name, state, priority). docs/hooks.md has the rules.
 */
export interface VrrpNotifyConfig {
  master?: string[];
  backup?: string[];
  fault?: string[];
  stop?: string[];
  any?: string[];
  /** Each command's process group is killed after this long. */
  timeoutMs: number;
}

/** keepalived's notify_up / notify_down of a real server. */
export interface RealServerNotifyConfig {
  up?: string[];
  down?: string[];
  timeoutMs: number;
}

/**
 * Simple-password authentication (keepalived's auth_type PASS). `password` is the password
 * itself, read from `password_file` when the config named one: 1..8 bytes. It must never reach
 * a log line or the status.
 */
export interface VrrpAuthentication {
  type: "pass";
  password: string;
}

export interface SyncGroupConfig {
  name: string;
  /** Names of instances (all exist; an instance is in at most one group). */
  instances: string[];
  /**
   * Apply the members' track_interfaces weights (keepalived's sync_group_tracking_weight). Off by
   * default, as in keepalived: in a group a weighted tracked interface that goes down is a FAULT
   * of the whole group, because a priority drop on one member alone makes routers flap.
   */
  trackingWeight: boolean;
  /** Run when the group as a whole changes state (every member in the same state). */
  notify?: VrrpNotifyConfig;
}

/**
 * keepalived's vrrp_script: a command run every interval (on the main thread, never the VRRP
 * worker) whose exit status, through rise/fall, says up or down. Weight semantics are those of
 * track_interfaces: 0 = down is a FAULT; > 0 added while up; < 0 added while down.
 */
export interface TrackScriptConfig {
  name: string;
  command: string[];
  intervalMs: number;
  /** The command's process group is killed after this long (a failure); default = intervalMs. */
  timeoutMs: number;
  rise: number;
  fall: number;
  /** The default weight of references that give none; keepalived 2.x's default is 0. */
  weight: number;
  /**
   * The state until the first result. Absent (keepalived's default): unknown, and an instance
   * tracking it is held in FAULT until it has run once. keepalived's init_fail is `down`.
   */
  initial?: "up" | "down";
}

/**
 * keepalived's vrrp_track_file: a file holding an integer (missing or empty = 0). With weight 0
 * a non-zero value is a FAULT; otherwise value × weight is added to the priority, and a result
 * of −254 or less is a FAULT.
 */
export interface TrackFileConfig {
  name: string;
  path: string;
  /** The default weight of references that give none; keepalived's default is 1. */
  weight: number;
}

/** An instance's reference to a tracked script or file. */
export interface TrackRefConfig {
  name: string;
  weight: number;
}

export interface VrrpConfig {
  instances: VrrpInstanceConfig[];
  trackScripts: TrackScriptConfig[];
  trackFiles: TrackFileConfig[];
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

export type CheckType = "http" | "https" | "tcp" | "exec" | "agent" | "dns" | "none";

/** An inclusive range of HTTP status codes; a single code has min === max. */
export interface StatusRange {
  min: number;
  max: number;
}

/**
 * When a check runs (docs/health.md): `interval` while the server is stable, `fastInterval`
 * while it is between states (some successes toward `rise` or failures toward `fall`), and
 * while it is down an exponential backoff from `interval` up to `downInterval`.
 */
export interface CheckTiming {
  intervalMs: number;
  /** While the server is between states; default = intervalMs. */
  fastIntervalMs: number;
  /** The backoff cap while the server is down; default = intervalMs (no backoff). */
  downIntervalMs: number;
  timeoutMs: number;
  /** Consecutive successes to become up. */
  rise: number;
  /** Consecutive failures to become down. */
  fall: number;
}

/** What every probing check (all but `none`) has. */
export interface CheckBase extends CheckTiming {
  /** Address to connect to instead of the real server's (an admin interface, say). */
  connectAddress?: string;
  /** Port to connect to instead of the real server's. */
  connectPort?: number;
  /** The state of a server with no known health (new, or nothing recent persisted): default down. */
  initial: "up" | "down";
}

export interface TlsCheckConfig {
  /** Verify the certificate chain and the name (sni, else the Host, else the address); default true. */
  verify: boolean;
  /** PEM bundle of trusted CAs instead of Node's bundled roots. */
  caFile?: string;
  /** Server name sent in the ClientHello and verified; default the Host header's name, never an IP. */
  sni?: string;
  /** Client certificate and key (PEM), both or neither. */
  certFile?: string;
  keyFile?: string;
}

export type DigestAlgorithm = "md5" | "sha256";

export interface HttpCheckConfig extends CheckBase {
  type: "http" | "https";
  /** GET unless set (HEAD, POST, OPTIONS...). */
  method: string;
  path: string;
  /** Host header; undefined = the real server's address (bracketed for IPv6) and port. */
  host?: string;
  /** Extra request headers (lower-cased names). */
  headers: Record<string, string>;
  status: StatusRange[];
  /** A substring the response body must contain. */
  expect?: string;
  /** A regular expression (JavaScript syntax) the response body must match. */
  expectRegex?: string;
  /** The body's digest, lower-case hex (keepalived's `digest` is MD5). */
  digest?: { algorithm: DigestAlgorithm; hex: string };
  /** Body bytes read at most; the rest is discarded and the connection closed. */
  maxBodyBytes: number;
  /** Reuse one connection between runs (default false: a fresh connection per check, so a pool cannot hide a dead server). */
  keepalive: boolean;
  /** https only. */
  tls?: TlsCheckConfig;
}

export interface TcpCheckConfig extends CheckBase {
  type: "tcp";
  /** Bytes to send once connected (UTF-8, escapes already decoded). */
  send?: string;
  /** A substring the reply must contain; the check reads until it appears, EOF, or the timeout. */
  expect?: string;
}

export interface ExecCheckConfig extends CheckBase {
  type: "exec";
  /** argv, run without a shell; the real server's address and port are in VIPD_RS_ADDRESS / VIPD_RS_PORT. */
  command: string[];
  /** keepalived's MISC_CHECK rule: exit 2..255 = up with weight exit − 2. */
  dynamicWeight: boolean;
}

/** HAProxy's agent-check: the agent answers one ASCII line; it never makes a server fail by being unreachable. */
export interface AgentCheckConfig extends CheckBase {
  type: "agent";
  /** A line to send first (HAProxy's agent-send), without its newline. */
  send?: string;
}

export type DnsRecordType = "A" | "AAAA" | "CNAME" | "MX" | "NS" | "PTR" | "SOA" | "SRV" | "TXT";
export type DnsRcode = "NOERROR" | "FORMERR" | "SERVFAIL" | "NXDOMAIN" | "NOTIMP" | "REFUSED";

export interface DnsCheckConfig extends CheckBase {
  type: "dns";
  /** The name to resolve (absolute, no trailing dot needed). */
  name: string;
  recordType: DnsRecordType;
  /** The rcode that means up; with NOERROR the answer must also hold a record of recordType. */
  rcode: DnsRcode;
}

export type ProbeCheckConfig =
  | HttpCheckConfig
  | TcpCheckConfig
  | ExecCheckConfig
  | AgentCheckConfig
  | DnsCheckConfig;

/** No checking: the real server is always considered up. */
export interface NoneCheckConfig {
  type: "none";
}

export type CheckConfig = ProbeCheckConfig | NoneCheckConfig;

/** Per virtual server: how many of its real servers the checker may take out at once. */
export type MaxDown = { count: number } | { percent: number };

export interface HealthConfig {
  /** Where the last known health is kept across restarts. */
  stateDir: string;
  /** Checks in flight at once, over every virtual server. */
  concurrency: number;
  /** TLS handshakes (https checks) in flight at once, within `concurrency`. */
  tlsConcurrency: number;
}

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
  /**
   * The effective checks: this server's own `check` (merged key by key with the virtual
   * server's when both are single blocks), else the virtual server's. Empty = no checking
   * (always up). The server is up only when every check is up (agent checks never make it fail).
   */
  checks: ProbeCheckConfig[];
  /** This server's own `notify`, else its virtual server's. */
  notify?: RealServerNotifyConfig;
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
  /** The service-level checks as written (real servers carry the merged ones). */
  checks?: ProbeCheckConfig[];
  /** A returning real server's weight ramps from 1 to its configured weight over this time; 0 = at once. */
  slowStartMs: number;
  /** The mass-failure guard; undefined = off. */
  maxDown?: MaxDown;
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
  health: HealthConfig;
  virtualServers: VirtualServerConfig[];
  alerts: AlertsConfig;
}
