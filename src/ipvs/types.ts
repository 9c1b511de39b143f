import { VipdError } from "../errors.js";
import { formatIp, parseIpBytes } from "../net/ip.js";

/**
 * The IPVS data model. Identity (ServiceKey, DestKey) is kept apart from options (what
 * vipd configures) and from observation (stats, connection counts, which only the kernel
 * reports and which reconciling never compares).
 *
 * Pure: no I/O. Also home to the small IP address helpers the keys need, so that
 * "2001:DB8::0:1" and "2001:db8::1" are the same service everywhere.
 */

export const AF_INET = 2;
export const AF_INET6 = 10;
export type AddressFamily = typeof AF_INET | typeof AF_INET6;

export type Protocol = "tcp" | "udp" | "sctp";
export const PROTOCOLS: readonly Protocol[] = ["tcp", "udp", "sctp"];

/** An IPVS virtual service's identity: (af, protocol, address, port), or (af, fwmark). */
export type ServiceKey =
  | { kind: "inet"; af: AddressFamily; protocol: Protocol; address: string; port: number }
  | { kind: "fwmark"; af: AddressFamily; fwmark: number };

/** The schedulers the config contract names. The kernel may report others (e.g. "twos", "none"). */
export const SCHEDULERS = [
  "rr",
  "wrr",
  "lc",
  "wlc",
  "lblc",
  "lblcr",
  "dh",
  "sh",
  "sed",
  "nq",
  "fo",
  "ovf",
  "mh",
] as const;
export type Scheduler = (typeof SCHEDULERS)[number];
/** A scheduler name: one of SCHEDULERS, or whatever else the kernel reports. */
export type SchedulerName = Scheduler | (string & {});

/**
 * Service flags. shFallback/mhFallback are the same kernel bit (SCHED1), as are
 * shPort/mhPort (SCHED2); which name applies depends on the scheduler.
 */
export interface ServiceFlags {
  persistent?: boolean;
  onePacket?: boolean;
  shFallback?: boolean;
  shPort?: boolean;
  mhFallback?: boolean;
  mhPort?: boolean;
  /**
   * Scheduler flag bits (SCHED1..3 = 0x08 | 0x10 | 0x20) that have no name under the
   * service's scheduler, e.g. set by another tool. Kept so that decoding loses nothing.
   */
  schedBits?: number;
}

export interface ServiceOptions {
  scheduler: SchedulerName;
  flags?: ServiceFlags;
  /** Persistence timeout in seconds. Default: 300 when flags.persistent, else 0. */
  timeout?: number;
  /**
   * Persistence netmask. IPv4: dotted mask ("255.255.255.0") or a prefix length;
   * default 255.255.255.255. IPv6: prefix length 1..128; default 128.
   */
  netmask?: string | number;
  /** Persistence engine, e.g. "sip". */
  pe?: string;
}

/** A real server's identity within its service. `af` defaults to the address's family. */
export interface DestKey {
  address: string;
  port: number;
  af?: AddressFamily;
}

export type Forwarding = "nat" | "dr" | "tun" | "local" | "bypass";
export const FORWARDINGS: readonly Forwarding[] = ["nat", "dr", "tun", "local", "bypass"];

export type TunnelType = "ipip" | "gue" | "gre";
export const TUNNEL_TYPES: readonly TunnelType[] = ["ipip", "gue", "gre"];

export interface TunnelOptions {
  type: TunnelType;
  /** UDP port for gue (required there). */
  port?: number;
  /** Outer checksum options for gue/gre. remcsum is gue only. */
  flags?: { csum?: boolean; remcsum?: boolean };
}

export interface DestOptions {
  forwarding: Forwarding;
  /** 0 = quiesced: kept, gets no new connections. */
  weight: number;
  /** Connection thresholds; 0 = no limit. Default 0. */
  upperThreshold?: number;
  lowerThreshold?: number;
  /** Only for forwarding "tun"; default ipip. */
  tunnel?: TunnelOptions;
}

/** Kernel counters, 64-bit (STATS64 when the kernel has it). */
export interface Stats {
  conns: bigint;
  inPkts: bigint;
  outPkts: bigint;
  inBytes: bigint;
  outBytes: bigint;
  cps: bigint;
  inPps: bigint;
  outPps: bigint;
  inBps: bigint;
  outBps: bigint;
}

export interface Service {
  key: ServiceKey;
  options: ServiceOptions;
  stats?: Stats;
}

export interface Destination {
  key: DestKey;
  options: DestOptions;
  stats?: Stats;
  activeConns?: number;
  inactConns?: number;
  persistConns?: number;
}

export interface IpvsEntry {
  service: Service;
  destinations: Destination[];
}

/** A whole IPVS table: services in order, each with its destinations. */
export type IpvsTable = IpvsEntry[];

// ---------------------------------------------------------------------------
// IP addresses

function badAddress(address: string, why: string): VipdError {
  return new VipdError("IPVS_INVALID_ADDRESS", `invalid IP address "${address}": ${why}`, { address });
}

/** Parses an IPv4 or IPv6 address into its family and network-order bytes (4 or 16). */
export function parseAddress(address: string, af?: AddressFamily): { af: AddressFamily; bytes: Buffer } {
  if (typeof address !== "string" || address === "") throw badAddress(String(address), "empty");
  const ip = parseIpBytes(address);
  if (!ip) throw badAddress(address, "not an IPv4 or IPv6 address");
  const parsed = { af: ip.family === "inet" ? AF_INET : AF_INET6, bytes: ip.bytes } as const;
  if (af !== undefined && parsed.af !== af) {
    throw badAddress(address, `expected an ${af === AF_INET ? "IPv4" : "IPv6"} address`);
  }
  return parsed;
}

/** Formats network-order bytes (IPVS carries IPv4 in the first 4 of 16). */
export function formatAddress(af: AddressFamily, bytes: Uint8Array): string {
  if (af === AF_INET) {
    if (bytes.length < 4) throw badAddress(`${bytes.length} bytes`, "IPv4 needs 4 bytes");
    return formatIp(bytes.subarray(0, 4));
  }
  if (bytes.length < 16) throw badAddress(`${bytes.length} bytes`, "IPv6 needs 16 bytes");
  return formatIp(bytes.subarray(0, 16));
}

/** The canonical spelling of an address (throws IPVS_INVALID_ADDRESS when it is not one). */
export function canonicalAddress(address: string, af?: AddressFamily): string {
  return canonical(address, af).text;
}

/**
 * The family and network-order bytes of an address, like parseAddress but memoised: the
 * returned buffer is shared, so callers must copy it, never change it.
 */
export function addressBytes(address: string, af?: AddressFamily): { af: AddressFamily; bytes: Buffer } {
  return canonical(address, af);
}

/**
 * Canonical spellings, memoised: keys are compared, described and encoded many times per
 * entry, and parsing plus formatting was most of the time a 10,000-entry diff took. Bounded:
 * cleared when full.
 */
const canonicalCache = new Map<string, { af: AddressFamily; text: string; bytes: Buffer }>();
const CANONICAL_CACHE_MAX = 65536;

function canonical(address: string, af?: AddressFamily): { af: AddressFamily; text: string; bytes: Buffer } {
  let c = typeof address === "string" ? canonicalCache.get(address) : undefined;
  if (!c) {
    const p = parseAddress(address);
    c = { af: p.af, text: formatAddress(p.af, p.bytes), bytes: p.bytes };
    if (canonicalCache.size >= CANONICAL_CACHE_MAX) canonicalCache.clear();
    canonicalCache.set(address, c);
  }
  if (af !== undefined && c.af !== af) {
    throw badAddress(address, `expected an ${af === AF_INET ? "IPv4" : "IPv6"} address`);
  }
  return c;
}

export function afName(af: AddressFamily): string {
  return af === AF_INET ? "inet" : "inet6";
}

function hostPort(af: AddressFamily, address: string, port: number): string {
  return af === AF_INET6 ? `[${address}]:${port}` : `${address}:${port}`;
}

// ---------------------------------------------------------------------------
// Keys

function isInt(n: unknown, min: number, max: number): n is number {
  return typeof n === "number" && Number.isInteger(n) && n >= min && n <= max;
}

/** A key with its address in canonical form; throws IPVS_INVALID_SERVICE / IPVS_INVALID_ADDRESS. */
export function canonicalServiceKey(key: ServiceKey): ServiceKey {
  // Checks build their messages only on failure, and a key that is already canonical is
  // returned as it is: this runs several times per entry of every diff.
  if (key.af !== AF_INET && key.af !== AF_INET6) {
    throw new VipdError("IPVS_INVALID_SERVICE", `invalid address family ${key.af}`, { key });
  }
  if (key.kind === "fwmark") {
    if (!isInt(key.fwmark, 1, 0xffffffff)) {
      throw new VipdError("IPVS_INVALID_SERVICE", `invalid fwmark ${key.fwmark}`, { key });
    }
    return key;
  }
  if (!PROTOCOLS.includes(key.protocol)) {
    throw new VipdError("IPVS_INVALID_SERVICE", `invalid protocol "${key.protocol}"`, { key });
  }
  if (!isInt(key.port, 0, 0xffff)) {
    throw new VipdError("IPVS_INVALID_SERVICE", `invalid port ${key.port}`, { key });
  }
  const address = canonicalAddress(key.address, key.af);
  if (address === key.address) return key;
  return { kind: "inet", af: key.af, protocol: key.protocol, address, port: key.port };
}

/** "tcp 10.0.0.100:80", "udp [2001:db8::1]:53", "fwmark 66 (inet)". Stable: usable as a map key. */
export function serviceKeyString(key: ServiceKey): string {
  if (key.kind === "fwmark") return `fwmark ${key.fwmark} (${afName(key.af)})`;
  let address = key.address;
  try {
    address = canonicalAddress(key.address, key.af);
  } catch {
    // Describing a bad key must not throw; validation reports it elsewhere.
  }
  return `${key.protocol} ${hostPort(key.af, address, key.port)}`;
}

/** A destination key with its family filled in and its address canonical. */
export function canonicalDestKey(key: DestKey): Required<DestKey> {
  const c = canonical(key.address, key.af);
  if (!isInt(key.port, 0, 0xffff)) {
    throw new VipdError("IPVS_INVALID_DEST", `invalid port ${key.port}`, { key });
  }
  // Already canonical (as every key of a decoded or diffed table is): no copy.
  if (key.af === c.af && key.address === c.text) return key as Required<DestKey>;
  return { address: c.text, port: key.port, af: c.af };
}

/** "10.0.0.21:80", "[2001:db8::21]:80". Stable: usable as a map key within one service. */
export function destKeyString(key: DestKey): string {
  try {
    const k = canonicalDestKey(key);
    return hostPort(k.af, k.address, k.port);
  } catch {
    return hostPort(key.af ?? (key.address.includes(":") ? AF_INET6 : AF_INET), key.address, key.port);
  }
}
