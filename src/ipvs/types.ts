import { VipdError } from "../errors.js";

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

function parseV4(s: string): Buffer | undefined {
  // Four decimal octets 0..255 without leading zeros, by hand: this runs for every entry
  // of every diff and encode, and a regex per octet was the hot spot of a 10,000-entry apply.
  const out = Buffer.alloc(4);
  let part = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i <= s.length; i++) {
    const c = i < s.length ? s.charCodeAt(i) : 46; // a final "."
    if (c === 46) {
      if (digits === 0 || part > 3) return undefined;
      out[part++] = value;
      value = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && value === 0) return undefined; // leading zero
      value = value * 10 + (c - 48);
      if (value > 255) return undefined;
      digits++;
    } else {
      return undefined;
    }
  }
  return part === 4 ? out : undefined;
}

function parseV6(s: string): Buffer | undefined {
  if (s.includes("%")) return undefined; // zone ids have no meaning to IPVS
  let head = s;
  let tail = "";
  const dbl = s.indexOf("::");
  if (dbl !== -1) {
    if (s.indexOf("::", dbl + 1) !== -1) return undefined;
    head = s.slice(0, dbl);
    tail = s.slice(dbl + 2);
  }
  const groups = (part: string): number[] | undefined => {
    if (part === "") return [];
    const out: number[] = [];
    const fields = part.split(":");
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i]!;
      if (i === fields.length - 1 && f.includes(".")) {
        const v4 = parseV4(f);
        if (!v4) return undefined;
        out.push(v4.readUInt16BE(0), v4.readUInt16BE(2));
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(f)) return undefined;
        out.push(Number.parseInt(f, 16));
      }
    }
    return out;
  };
  const h = groups(head);
  const t = groups(tail);
  if (!h || !t) return undefined;
  // An embedded IPv4 address may only end the address.
  if (dbl !== -1 && head.includes(".")) return undefined;
  let all: number[];
  if (dbl === -1) {
    if (h.length !== 8) return undefined;
    all = h;
  } else {
    if (h.length + t.length > 7) return undefined;
    all = [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  }
  const out = Buffer.alloc(16);
  all.forEach((g, i) => {
    out.writeUInt16BE(g, i * 2);
  });
  return out;
}

/** Parses an IPv4 or IPv6 address into its family and network-order bytes (4 or 16). */
export function parseAddress(address: string, af?: AddressFamily): { af: AddressFamily; bytes: Buffer } {
  if (typeof address !== "string" || address === "") throw badAddress(String(address), "empty");
  const v4 = address.includes(":") ? undefined : parseV4(address);
  const parsed = v4
    ? { af: AF_INET as AddressFamily, bytes: v4 }
    : address.includes(":")
      ? (() => {
          const b = parseV6(address);
          return b ? { af: AF_INET6 as AddressFamily, bytes: b } : undefined;
        })()
      : undefined;
  if (!parsed) throw badAddress(address, "not an IPv4 or IPv6 address");
  if (af !== undefined && parsed.af !== af) {
    throw badAddress(address, `expected an ${af === AF_INET ? "IPv4" : "IPv6"} address`);
  }
  return parsed;
}

/** Formats network-order bytes: dotted quad, or RFC 5952 IPv6 (lower case, longest zero run as "::"). */
export function formatAddress(af: AddressFamily, bytes: Uint8Array): string {
  if (af === AF_INET) {
    if (bytes.length < 4) throw badAddress(`${bytes.length} bytes`, "IPv4 needs 4 bytes");
    return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  }
  if (bytes.length < 16) throw badAddress(`${bytes.length} bytes`, "IPv6 needs 16 bytes");
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((bytes[i * 2]! << 8) | bytes[i * 2 + 1]!);
  // IPv4-mapped (::ffff:a.b.c.d) keeps its dotted tail, as RFC 5952 section 5 recommends.
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) {
    return `::ffff:${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
  }
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (xs: number[]) => xs.map((x) => x.toString(16)).join(":");
  if (bestLen < 2) return hex(g);
  return `${hex(g.slice(0, bestStart))}::${hex(g.slice(bestStart + bestLen))}`;
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
