import { VipdError } from "../errors.js";
import { AttrMap, AttrWriter } from "../netlink/attr.js";
import {
  type AddressFamily,
  AF_INET,
  AF_INET6,
  addressBytes,
  canonicalAddress,
  canonicalDestKey,
  canonicalServiceKey,
  type Destination,
  type DestKey,
  type DestOptions,
  destKeyString,
  FORWARDINGS,
  type Forwarding,
  formatAddress,
  type Protocol,
  parseAddress,
  type Service,
  type ServiceFlags,
  type ServiceKey,
  type ServiceOptions,
  type Stats,
  serviceKeyString,
  TUNNEL_TYPES,
  type TunnelType,
} from "./types.js";

/**
 * IPVS generic netlink payloads: the attributes after the genl header, both ways.
 * Pure. Facts from linux include/uapi/linux/ip_vs.h and net/netfilter/ipvs/ip_vs_ctl.c.
 *
 * Every decoder returns options in canonical form (see canonicalServiceOptions /
 * canonicalDestOptions), so a decoded kernel entry compares equal to the canonical
 * form of the options that created it.
 */

export const IPVS_GENL_NAME = "IPVS";
export const IPVS_GENL_VERSION = 1;

export const IPVS_CMD = {
  NEW_SERVICE: 1,
  SET_SERVICE: 2,
  DEL_SERVICE: 3,
  GET_SERVICE: 4,
  NEW_DEST: 5,
  SET_DEST: 6,
  DEL_DEST: 7,
  GET_DEST: 8,
  NEW_DAEMON: 9,
  DEL_DAEMON: 10,
  GET_DAEMON: 11,
  SET_CONFIG: 12,
  GET_CONFIG: 13,
  SET_INFO: 14,
  GET_INFO: 15,
  ZERO: 16,
  FLUSH: 17,
} as const;

export const IPVS_CMD_ATTR = {
  SERVICE: 1,
  DEST: 2,
  DAEMON: 3,
  TIMEOUT_TCP: 4,
  TIMEOUT_TCP_FIN: 5,
  TIMEOUT_UDP: 6,
} as const;

export const IPVS_SVC_ATTR = {
  AF: 1,
  PROTOCOL: 2,
  ADDR: 3,
  PORT: 4,
  FWMARK: 5,
  SCHED_NAME: 6,
  FLAGS: 7,
  TIMEOUT: 8,
  NETMASK: 9,
  STATS: 10,
  PE_NAME: 11,
  STATS64: 12,
} as const;

export const IPVS_DEST_ATTR = {
  ADDR: 1,
  PORT: 2,
  FWD_METHOD: 3,
  WEIGHT: 4,
  U_THRESH: 5,
  L_THRESH: 6,
  ACTIVE_CONNS: 7,
  INACT_CONNS: 8,
  PERSIST_CONNS: 9,
  STATS: 10,
  ADDR_FAMILY: 11,
  STATS64: 12,
  TUN_TYPE: 13,
  TUN_PORT: 14,
  TUN_FLAGS: 15,
} as const;

export const IPVS_DAEMON_ATTR = {
  STATE: 1,
  MCAST_IFN: 2,
  SYNC_ID: 3,
  SYNC_MAXLEN: 4,
  MCAST_GROUP: 5,
  MCAST_GROUP6: 6,
  MCAST_PORT: 7,
  MCAST_TTL: 8,
} as const;

export const IPVS_STATS_ATTR = {
  CONNS: 1,
  INPKTS: 2,
  OUTPKTS: 3,
  INBYTES: 4,
  OUTBYTES: 5,
  CPS: 6,
  INPPS: 7,
  OUTPPS: 8,
  INBPS: 9,
  OUTBPS: 10,
  PAD: 11,
} as const;

export const IPVS_INFO_ATTR = {
  VERSION: 1,
  CONN_TAB_SIZE: 2,
} as const;

function names(prefix: string, table: Record<string, number>): Record<number, string> {
  return Object.fromEntries(Object.entries(table).map(([k, v]) => [v, `${prefix}${k}`]));
}

/** Attribute names by number, for AttrMap error messages. */
export const IPVS_CMD_ATTR_NAMES = names("IPVS_CMD_ATTR_", IPVS_CMD_ATTR);
export const IPVS_SVC_ATTR_NAMES = names("IPVS_SVC_ATTR_", IPVS_SVC_ATTR);
export const IPVS_DEST_ATTR_NAMES = names("IPVS_DEST_ATTR_", IPVS_DEST_ATTR);
export const IPVS_DAEMON_ATTR_NAMES = names("IPVS_DAEMON_ATTR_", IPVS_DAEMON_ATTR);
export const IPVS_STATS_ATTR_NAMES = names("IPVS_STATS_ATTR_", IPVS_STATS_ATTR);
export const IPVS_INFO_ATTR_NAMES = names("IPVS_INFO_ATTR_", IPVS_INFO_ATTR);
export const IPVS_CMD_NAMES = names("IPVS_CMD_", IPVS_CMD);

/** IP_VS_SVC_F_*: virtual service flags. */
export const IP_VS_SVC_F = {
  PERSISTENT: 0x0001,
  HASHED: 0x0002,
  ONEPACKET: 0x0004,
  SCHED1: 0x0008,
  SCHED2: 0x0010,
  SCHED3: 0x0020,
} as const;

const SCHED_BITS = IP_VS_SVC_F.SCHED1 | IP_VS_SVC_F.SCHED2 | IP_VS_SVC_F.SCHED3;

/**
 * The flag bits vipd owns: every bit ip_vs.h defines for user space (PERSISTENT,
 * ONEPACKET, SCHED1..3), i.e. everything except HASHED, which is kernel-internal.
 * Sent as the FLAGS mask: the kernel computes `(svc->flags & ~mask) | (flags & mask)`,
 * so NEW and SET leave the service with exactly these bits as vipd sends them, while any
 * bit a future kernel defines is left alone. Decoding reads the same bits, so what is
 * compared is exactly what is written: a SET always converges.
 */
export const SVC_FLAGS_MASK =
  IP_VS_SVC_F.PERSISTENT |
  IP_VS_SVC_F.ONEPACKET |
  IP_VS_SVC_F.SCHED1 |
  IP_VS_SVC_F.SCHED2 |
  IP_VS_SVC_F.SCHED3;

/** IP_VS_CONN_F_* forwarding methods (FWD_METHOD). */
export const IP_VS_CONN_F = {
  MASQ: 0,
  LOCALNODE: 1,
  TUNNEL: 2,
  DROUTE: 3,
  BYPASS: 4,
  FWD_MASK: 7,
} as const;

export const FORWARDING_CODE: Record<Forwarding, number> = {
  nat: IP_VS_CONN_F.MASQ,
  local: IP_VS_CONN_F.LOCALNODE,
  tun: IP_VS_CONN_F.TUNNEL,
  dr: IP_VS_CONN_F.DROUTE,
  bypass: IP_VS_CONN_F.BYPASS,
};

export const TUNNEL_TYPE_CODE: Record<TunnelType, number> = { ipip: 0, gue: 1, gre: 2 };

export const IP_VS_TUNNEL_ENCAP_FLAG = { CSUM: 1, REMCSUM: 2 } as const;

export const PROTOCOL_NUMBER: Record<Protocol, number> = { tcp: 6, udp: 17, sctp: 132 };

export const IP_VS_STATE = { NONE: 0, MASTER: 1, BACKUP: 2 } as const;

/** Default persistence timeout when persistence is on and no timeout is given (ipvsadm's). */
export const DEFAULT_PERSISTENCE_TIMEOUT = 300;
/**
 * Longest persistence timeout accepted (31 days, as ipvsadm). The kernel keeps
 * `timeout * HZ` in an unsigned int; much larger values would wrap and read back changed.
 */
export const MAX_PERSISTENCE_TIMEOUT = 31 * 86400;
const NAME_RE = /^[A-Za-z0-9_-]{1,15}$/;

// ---------------------------------------------------------------------------
// Canonical forms and validation

function invalid(
  code: "IPVS_INVALID_SERVICE" | "IPVS_INVALID_DEST",
  message: string,
  context: object,
): VipdError {
  return new VipdError(code, message, { ...context });
}

function isInt(n: unknown, min: number, max: number): n is number {
  return typeof n === "number" && Number.isInteger(n) && n >= min && n <= max;
}

/** The kernel flag word for these options (only bits in SVC_FLAGS_MASK). */
export function serviceFlagBits(options: Pick<ServiceOptions, "flags">): number {
  const f = options.flags ?? {};
  let bits = 0;
  if (f.persistent) bits |= IP_VS_SVC_F.PERSISTENT;
  if (f.onePacket) bits |= IP_VS_SVC_F.ONEPACKET;
  if (f.shFallback || f.mhFallback) bits |= IP_VS_SVC_F.SCHED1;
  if (f.shPort || f.mhPort) bits |= IP_VS_SVC_F.SCHED2;
  bits |= (f.schedBits ?? 0) & SCHED_BITS;
  return bits;
}

/** Named flags from a kernel flag word, naming SCHED1/SCHED2 after the scheduler (sh or mh). */
export function serviceFlagsFromBits(
  scheduler: string,
  bits: number,
): Required<Omit<ServiceFlags, "schedBits">> & {
  schedBits?: number;
} {
  const sh = scheduler === "sh";
  const mh = scheduler === "mh";
  const s1 = (bits & IP_VS_SVC_F.SCHED1) !== 0;
  const s2 = (bits & IP_VS_SVC_F.SCHED2) !== 0;
  const out: Required<Omit<ServiceFlags, "schedBits">> & { schedBits?: number } = {
    persistent: (bits & IP_VS_SVC_F.PERSISTENT) !== 0,
    onePacket: (bits & IP_VS_SVC_F.ONEPACKET) !== 0,
    shFallback: sh && s1,
    shPort: sh && s2,
    mhFallback: mh && s1,
    mhPort: mh && s2,
  };
  const named = sh || mh ? IP_VS_SVC_F.SCHED1 | IP_VS_SVC_F.SCHED2 : 0;
  const rest = bits & SCHED_BITS & ~named;
  if (rest !== 0) out.schedBits = rest;
  return out;
}

function prefixToMask(prefix: number): string {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0, 0);
  return formatAddress(AF_INET, b);
}

/** IPv4: dotted mask string (default 255.255.255.255). IPv6: prefix length (default 128). */
export function canonicalNetmask(af: AddressFamily, netmask: string | number | undefined): string | number {
  if (af === AF_INET6) {
    if (netmask === undefined) return 128;
    if (!isInt(netmask, 1, 128)) {
      throw invalid(
        "IPVS_INVALID_SERVICE",
        `IPv6 persistence netmask must be a prefix length 1..128, got ${netmask}`,
        {
          netmask,
        },
      );
    }
    return netmask;
  }
  if (netmask === undefined) return "255.255.255.255";
  if (typeof netmask === "number") {
    if (!isInt(netmask, 0, 32)) {
      throw invalid("IPVS_INVALID_SERVICE", `IPv4 persistence netmask prefix must be 0..32, got ${netmask}`, {
        netmask,
      });
    }
    return prefixToMask(netmask);
  }
  try {
    return canonicalAddress(netmask, AF_INET);
  } catch (err) {
    throw new VipdError(
      "IPVS_INVALID_SERVICE",
      `invalid IPv4 persistence netmask "${netmask}"`,
      { netmask },
      { cause: err },
    );
  }
}

/**
 * Options with every default filled in and flags named after the scheduler: the form the
 * decoder produces, and the form the reconciler compares. Throws on malformed values
 * (netmask), not on range policy (see validateServiceOptions).
 */
export function canonicalServiceOptions(af: AddressFamily, options: ServiceOptions): ServiceOptions {
  const bits = serviceFlagBits(options);
  const flags = serviceFlagsFromBits(options.scheduler, bits);
  const out: ServiceOptions = {
    scheduler: options.scheduler,
    flags,
    timeout: options.timeout ?? (flags.persistent ? DEFAULT_PERSISTENCE_TIMEOUT : 0),
    netmask: canonicalNetmask(af, options.netmask),
  };
  if (options.pe !== undefined && options.pe !== "") out.pe = options.pe;
  return out;
}

/** The checks the kernel (or its unsigned arithmetic) would otherwise fail on. Throws IPVS_INVALID_SERVICE. */
export function validateService(key: ServiceKey, options: ServiceOptions): void {
  canonicalServiceKey(key);
  const where = serviceKeyString(key);
  const ctx = { service: where };
  if (typeof options.scheduler !== "string" || !NAME_RE.test(options.scheduler)) {
    throw invalid("IPVS_INVALID_SERVICE", `${where}: invalid scheduler name "${options.scheduler}"`, ctx);
  }
  if (options.pe !== undefined && options.pe !== "" && !NAME_RE.test(options.pe)) {
    throw invalid("IPVS_INVALID_SERVICE", `${where}: invalid persistence engine name "${options.pe}"`, ctx);
  }
  if (options.timeout !== undefined && !isInt(options.timeout, 0, MAX_PERSISTENCE_TIMEOUT)) {
    throw invalid(
      "IPVS_INVALID_SERVICE",
      `${where}: persistence timeout must be 0..${MAX_PERSISTENCE_TIMEOUT} s, got ${options.timeout}`,
      ctx,
    );
  }
  const sb = options.flags?.schedBits;
  if (sb !== undefined && (!isInt(sb, 0, 0xffffffff) || (sb & ~SCHED_BITS) !== 0)) {
    throw invalid("IPVS_INVALID_SERVICE", `${where}: schedBits may only hold 0x08|0x10|0x20, got ${sb}`, ctx);
  }
  canonicalNetmask(key.af, options.netmask);
}

/** Options with defaults filled in; `tunnel` present (and complete) only for forwarding "tun". */
export function canonicalDestOptions(options: DestOptions): DestOptions {
  // Already canonical (as decoded and desired options are): the same object, no copy. Big
  // tables keep tens of thousands of these alive through a diff.
  if (isCanonicalDestOptions(options)) return options;
  const out: DestOptions = {
    forwarding: options.forwarding,
    weight: options.weight,
    upperThreshold: options.upperThreshold ?? 0,
    lowerThreshold: options.lowerThreshold ?? 0,
  };
  if (options.forwarding === "tun") {
    const t = options.tunnel ?? { type: "ipip" };
    out.tunnel = {
      type: t.type,
      port: t.port ?? 0,
      flags: { csum: t.flags?.csum ?? false, remcsum: t.flags?.remcsum ?? false },
    };
  }
  return out;
}

function keyCount(o: object): number {
  let n = 0;
  for (const k in o) if (Object.hasOwn(o, k)) n++;
  return n;
}

/** Exactly the shape canonicalDestOptions returns: every default present, nothing else. */
function isCanonicalDestOptions(o: DestOptions): boolean {
  if (typeof o.upperThreshold !== "number" || typeof o.lowerThreshold !== "number") return false;
  if (o.forwarding !== "tun") return o.tunnel === undefined && keyCount(o) === 4;
  const t = o.tunnel;
  return (
    t !== undefined &&
    typeof t.port === "number" &&
    t.flags !== undefined &&
    typeof t.flags.csum === "boolean" &&
    typeof t.flags.remcsum === "boolean" &&
    keyCount(o) === 5 &&
    keyCount(t) === 3 &&
    keyCount(t.flags) === 2
  );
}

/** The checks the kernel would otherwise answer with EINVAL/ERANGE. Throws IPVS_INVALID_DEST. */
export function validateDest(key: DestKey, options: DestOptions, serviceAf?: AddressFamily): void {
  let k: Required<DestKey>;
  try {
    k = canonicalDestKey(key);
  } catch (err) {
    throw new VipdError(
      "IPVS_INVALID_DEST",
      `invalid destination ${key.address}:${key.port}`,
      { key },
      { cause: err },
    );
  }
  // Built only when a check fails: this runs for every destination of every diff and encode.
  const where = (): string => `destination ${k.af === AF_INET6 ? `[${k.address}]` : k.address}:${k.port}`;
  if (!FORWARDINGS.includes(options.forwarding)) {
    throw invalid("IPVS_INVALID_DEST", `${where()}: invalid forwarding method "${options.forwarding}"`, {
      dest: where(),
    });
  }
  if (!isInt(options.weight, 0, 0x7fffffff)) {
    throw invalid("IPVS_INVALID_DEST", `${where()}: weight must be 0..2147483647, got ${options.weight}`, {
      dest: where(),
    });
  }
  const u = options.upperThreshold ?? 0;
  const l = options.lowerThreshold ?? 0;
  if (!isInt(u, 0, 0xffffffff) || !isInt(l, 0, 0xffffffff)) {
    throw invalid("IPVS_INVALID_DEST", `${where()}: thresholds must be 0..4294967295`, { dest: where() });
  }
  if (l > u) {
    // The kernel compares them as given (ERANGE), even when the upper threshold is 0 (= none).
    throw invalid("IPVS_INVALID_DEST", `${where()}: lower threshold ${l} is above upper threshold ${u}`, {
      dest: where(),
    });
  }
  if (serviceAf !== undefined && k.af !== serviceAf && options.forwarding !== "tun") {
    throw invalid(
      "IPVS_INVALID_DEST",
      `${where()}: a destination of another address family needs forwarding tun`,
      { dest: where() },
    );
  }
  if (options.forwarding === "tun" && options.tunnel) {
    const t = options.tunnel;
    if (!TUNNEL_TYPES.includes(t.type)) {
      throw invalid("IPVS_INVALID_DEST", `${where()}: invalid tunnel type "${t.type}"`, { dest: where() });
    }
    if (t.port !== undefined && !isInt(t.port, 0, 0xffff)) {
      throw invalid("IPVS_INVALID_DEST", `${where()}: invalid tunnel port ${t.port}`, { dest: where() });
    }
    if (t.type === "gue" && !t.port) {
      throw invalid("IPVS_INVALID_DEST", `${where()}: a gue tunnel needs a port`, { dest: where() });
    }
    if (t.flags?.remcsum && t.type !== "gue") {
      throw invalid("IPVS_INVALID_DEST", `${where()}: remcsum is for gue tunnels only`, { dest: where() });
    }
    if (t.flags?.csum && t.flags?.remcsum) {
      throw invalid("IPVS_INVALID_DEST", `${where()}: choose one of csum and remcsum`, { dest: where() });
    }
  }
}

// ---------------------------------------------------------------------------
// Encoding

/** nf_inet_addr: always 16 bytes, IPv4 in the first 4. */
const INET_ADDR_LEN = 16;

function writeNetmask(w: AttrWriter, af: AddressFamily, netmask: string | number): void {
  // The kernel reads NETMASK with nla_get_be32, i.e. the 4 bytes as they are.
  // IPv4: the mask in network order. IPv6: the prefix length, which ip_vs_add_service
  // reads back with a plain cast, so host order.
  if (af === AF_INET) w.bytes(IPVS_SVC_ATTR.NETMASK, addressBytes(String(netmask), AF_INET).bytes);
  else w.u32(IPVS_SVC_ATTR.NETMASK, Number(netmask));
}

/** struct ip_vs_flags {flags; mask}, written into one reused scratch buffer. */
const flagsScratch = Buffer.alloc(8);

/**
 * The contents of the SERVICE nest, written into `into` (default: a new writer) so a caller can
 * use it inside `AttrWriter.nested`. With options (NEW_SERVICE, SET_SERVICE): AF, identity,
 * SCHED_NAME, [PE_NAME], FLAGS {flags, SVC_FLAGS_MASK}, TIMEOUT, NETMASK. Without
 * (DEL_SERVICE, GET_SERVICE, GET_DEST, NEW/SET/DEL_DEST): AF and identity only.
 */
export function encodeService(
  key: ServiceKey,
  options?: ServiceOptions,
  into = new AttrWriter(),
): AttrWriter {
  return writeService(key, options, into, true);
}

/** encodeService, with the checks of the options optional (`validate` false: diff() made them). */
function writeService(
  key: ServiceKey,
  options: ServiceOptions | undefined,
  w: AttrWriter,
  validate: boolean,
): AttrWriter {
  const k = canonicalServiceKey(key);
  if (options && validate) validateService(k, options);
  w.u16(IPVS_SVC_ATTR.AF, k.af);
  if (k.kind === "fwmark") {
    w.u32(IPVS_SVC_ATTR.FWMARK, k.fwmark);
  } else {
    w.u16(IPVS_SVC_ATTR.PROTOCOL, PROTOCOL_NUMBER[k.protocol])
      .bytes(IPVS_SVC_ATTR.ADDR, addressBytes(k.address, k.af).bytes, INET_ADDR_LEN)
      .u16be(IPVS_SVC_ATTR.PORT, k.port);
  }
  if (!options) return w;
  const o = canonicalServiceOptions(k.af, options);
  flagsScratch.writeUInt32LE(serviceFlagBits(o), 0);
  flagsScratch.writeUInt32LE(SVC_FLAGS_MASK, 4);
  w.string(IPVS_SVC_ATTR.SCHED_NAME, o.scheduler);
  if (o.pe !== undefined) w.string(IPVS_SVC_ATTR.PE_NAME, o.pe);
  w.bytes(IPVS_SVC_ATTR.FLAGS, flagsScratch).u32(IPVS_SVC_ATTR.TIMEOUT, o.timeout ?? 0);
  writeNetmask(w, k.af, o.netmask ?? "");
  return w;
}

/**
 * The contents of the DEST nest. With options (NEW_DEST, SET_DEST): ADDR, PORT, FWD_METHOD,
 * WEIGHT, U_THRESH, L_THRESH, ADDR_FAMILY, and for tunnels other than plain ipip
 * TUN_TYPE (u8), TUN_PORT (be16), TUN_FLAGS (u16). Without (DEL_DEST): ADDR, PORT, ADDR_FAMILY.
 * `serviceAf` lets validation reject mixed families for non-tunnel forwarding.
 */
export function encodeDest(
  key: DestKey,
  options?: DestOptions,
  serviceAf?: AddressFamily,
  into = new AttrWriter(),
): AttrWriter {
  if (options) validateDest(key, options, serviceAf);
  return writeDest(key, options, into);
}

/** encodeDest after validation. */
function writeDest(key: DestKey, options: DestOptions | undefined, into: AttrWriter): AttrWriter {
  const k = addressBytes(key.address, key.af);
  if (!isInt(key.port, 0, 0xffff)) {
    throw invalid("IPVS_INVALID_DEST", `invalid destination port ${key.port}`, { key });
  }
  const w = into.bytes(IPVS_DEST_ATTR.ADDR, k.bytes, INET_ADDR_LEN).u16be(IPVS_DEST_ATTR.PORT, key.port);
  if (!options) return w.u16(IPVS_DEST_ATTR.ADDR_FAMILY, k.af);
  // canonicalDestOptions, written out rather than built: defaults filled, a tunnel only for
  // "tun" (one attribute object fewer per destination of a big batch).
  w.u32(IPVS_DEST_ATTR.FWD_METHOD, FORWARDING_CODE[options.forwarding])
    .u32(IPVS_DEST_ATTR.WEIGHT, options.weight)
    .u32(IPVS_DEST_ATTR.U_THRESH, options.upperThreshold ?? 0)
    .u32(IPVS_DEST_ATTR.L_THRESH, options.lowerThreshold ?? 0)
    .u16(IPVS_DEST_ATTR.ADDR_FAMILY, k.af);
  if (options.forwarding === "tun") {
    const t = options.tunnel;
    const type = t?.type ?? "ipip";
    const port = t?.port ?? 0;
    const tflags =
      (t?.flags?.csum ? IP_VS_TUNNEL_ENCAP_FLAG.CSUM : 0) |
      (t?.flags?.remcsum ? IP_VS_TUNNEL_ENCAP_FLAG.REMCSUM : 0);
    // The kernel zeroes what is not sent, so plain ipip needs nothing. Sending them only when
    // needed keeps ipip requests identical to what kernels before 5.2/5.3 (which lack these
    // attributes and would silently ignore them) understand.
    if (type !== "ipip" || port !== 0 || tflags !== 0) {
      w.u8(IPVS_DEST_ATTR.TUN_TYPE, TUNNEL_TYPE_CODE[type])
        .u16be(IPVS_DEST_ATTR.TUN_PORT, port)
        .u16(IPVS_DEST_ATTR.TUN_FLAGS, tflags);
    }
  }
  return w;
}

/** Full request payload (after the genl header) for the service commands: the SERVICE nest. */
export function servicePayload(key: ServiceKey, options?: ServiceOptions): Buffer {
  return writeServicePayload(new AttrWriter(), key, options).toBuffer();
}

/**
 * servicePayload written into `w` (appended to what it holds). `validated`: the options come
 * from diff(), which checked them, so the checks are skipped; the bytes are the same.
 */
export function writeServicePayload(
  w: AttrWriter,
  key: ServiceKey,
  options?: ServiceOptions,
  validated = false,
): AttrWriter {
  const start = w.nestStart(IPVS_CMD_ATTR.SERVICE);
  try {
    writeService(key, options, w, !validated);
  } catch (err) {
    w.reset(start);
    throw err;
  }
  return w.nestEnd(start);
}

/**
 * validateDest plus the rules that need the service: DR and TUN forwarding cannot map ports
 * (the packet reaches the real server with the service's port unchanged), so a destination
 * port other than the service's is refused. The kernel accepts such a destination silently
 * and then ignores its port (verified on 6.1); ipvsadm quietly rewrites the port instead.
 * Services without a port (fwmark, or port 0) take any destination port.
 */
export function validateDestFor(service: ServiceKey, key: DestKey, options: DestOptions): void {
  validateDest(key, options, service.af);
  if (
    (options.forwarding === "dr" || options.forwarding === "tun") &&
    service.kind === "inet" &&
    service.port !== 0 &&
    key.port !== service.port
  ) {
    const dest = destKeyString(key);
    throw invalid(
      "IPVS_INVALID_DEST",
      `destination ${dest} of ${serviceKeyString(service)}: ${options.forwarding} forwarding cannot map ports (destination port ${key.port}, service port ${service.port})`,
      { dest, service: serviceKeyString(service) },
    );
  }
}

/** Full request payload for NEW/SET/DEL_DEST: the SERVICE nest (identity only) and the DEST nest. */
export function destPayload(service: ServiceKey, key: DestKey, options?: DestOptions): Buffer {
  return writeDestPayload(new AttrWriter(), service, key, options).toBuffer();
}

/**
 * destPayload written into `w` (appended to what it holds). `validated`: the options come from
 * diff(), which checked them, so validateDestFor is skipped; the bytes are the same.
 */
export function writeDestPayload(
  w: AttrWriter,
  service: ServiceKey,
  key: DestKey,
  options?: DestOptions,
  validated = false,
): AttrWriter {
  if (options && !validated) validateDestFor(service, key, options);
  const start = w.length;
  w.append(serviceIdentityAttr(service));
  try {
    const nest = w.nestStart(IPVS_CMD_ATTR.DEST);
    writeDest(key, options, w);
    return w.nestEnd(nest);
  } catch (err) {
    w.reset(start);
    throw err;
  }
}

/**
 * The SERVICE nest with the identity only, memoised per key object: every destination op of
 * a service carries it, and a table of 10,000 destinations would otherwise encode (and parse
 * the address of) each service thousands of times. The cheap fingerprint guards against a
 * key object that was changed after it was first encoded.
 */
const identityCache = new WeakMap<ServiceKey, { seen: ServiceKey; attr: Buffer }>();

/** The key's identity fields are those it had when it was encoded (compared field by field). */
function unchanged(k: ServiceKey, seen: ServiceKey): boolean {
  if (k.kind === "fwmark") return seen.kind === "fwmark" && k.af === seen.af && k.fwmark === seen.fwmark;
  return (
    seen.kind === "inet" &&
    k.af === seen.af &&
    k.protocol === seen.protocol &&
    k.address === seen.address &&
    k.port === seen.port
  );
}

function serviceIdentityAttr(service: ServiceKey): Buffer {
  const hit = identityCache.get(service);
  if (hit && unchanged(service, hit.seen)) return hit.attr;
  const attr = new AttrWriter(64)
    .nested(IPVS_CMD_ATTR.SERVICE, (w) => {
      encodeService(service, undefined, w);
    })
    .toBuffer();
  identityCache.set(service, { seen: { ...service }, attr });
  return attr;
}

/** Full request payload for NEW_DAEMON. */
export function daemonPayload(cfg: DaemonConfig): Buffer {
  return new AttrWriter()
    .nested(IPVS_CMD_ATTR.DAEMON, (w) => {
      encodeDaemon(cfg, w);
    })
    .toBuffer();
}

/** Full request payload for DEL_DAEMON. */
export function daemonStopPayload(state: DaemonConfig["state"]): Buffer {
  return new AttrWriter()
    .nested(IPVS_CMD_ATTR.DAEMON, (w) => {
      encodeDaemonStop(state, w);
    })
    .toBuffer();
}

// ---------------------------------------------------------------------------
// Decoding

function unsupported(message: string, context: Record<string, unknown>): VipdError {
  return new VipdError("IPVS_UNSUPPORTED", message, context);
}

function decodeAf(v: number, where: string): AddressFamily {
  if (v !== AF_INET && v !== AF_INET6) throw unsupported(`${where}: unknown address family ${v}`, { af: v });
  return v;
}

function decodeAddr(attrs: AttrMap, type: number, af: AddressFamily): string {
  const raw = attrs.require(type, function (this: AttrMap, t: number) {
    return this.bytes(t, af === AF_INET ? 4 : 16);
  });
  return formatAddress(af, raw);
}

/** A stats nest; STATS has u32 and u64 fields, STATS64 all u64. PAD attributes are skipped. */
export function decodeStats(attrs: AttrMap): Stats {
  const num = (type: number): bigint => {
    const a = attrs.get(type);
    if (!a) return 0n;
    if (a.data.length === 8) return a.data.readBigUInt64LE(0);
    if (a.data.length === 4) return BigInt(a.data.readUInt32LE(0));
    throw new VipdError(
      "NETLINK_ATTR_LENGTH",
      `IPVS stats: ${IPVS_STATS_ATTR_NAMES[type]} has ${a.data.length} bytes, expected 4 or 8`,
      { type, length: a.data.length },
    );
  };
  const S = IPVS_STATS_ATTR;
  return {
    conns: num(S.CONNS),
    inPkts: num(S.INPKTS),
    outPkts: num(S.OUTPKTS),
    inBytes: num(S.INBYTES),
    outBytes: num(S.OUTBYTES),
    cps: num(S.CPS),
    inPps: num(S.INPPS),
    outPps: num(S.OUTPPS),
    inBps: num(S.INBPS),
    outBps: num(S.OUTBPS),
  };
}

function statsOf(attrs: AttrMap, stats64: number, stats32: number): Stats | undefined {
  const s = attrs.nested(stats64, IPVS_STATS_ATTR_NAMES) ?? attrs.nested(stats32, IPVS_STATS_ATTR_NAMES);
  return s ? decodeStats(s) : undefined;
}

const PROTOCOL_BY_NUMBER = new Map<number, Protocol>(
  Object.entries(PROTOCOL_NUMBER).map(([name, n]) => [n, name as Protocol]),
);

/** A service from the attributes of a reply's SERVICE nest (parse it with IPVS_SVC_ATTR_NAMES). */
export function decodeService(attrs: AttrMap): Service {
  const A = IPVS_SVC_ATTR;
  const af = decodeAf(attrs.require(A.AF, attrs.u16), "IPVS service");
  const fwmark = attrs.u32(A.FWMARK);
  let key: ServiceKey;
  if (fwmark !== undefined && fwmark !== 0) {
    key = { kind: "fwmark", af, fwmark };
  } else {
    const protoNum = attrs.require(A.PROTOCOL, attrs.u16);
    const protocol = PROTOCOL_BY_NUMBER.get(protoNum);
    if (!protocol) throw unsupported(`IPVS service: unknown protocol ${protoNum}`, { protocol: protoNum });
    key = {
      kind: "inet",
      af,
      protocol,
      address: decodeAddr(attrs, A.ADDR, af),
      port: attrs.require(A.PORT, attrs.u16be),
    };
  }
  const scheduler = attrs.require(A.SCHED_NAME, attrs.string);
  const flagBuf = attrs.require(A.FLAGS, function (this: AttrMap, t: number) {
    return this.bytes(t, 4);
  });
  // HASHED and any bit vipd does not own are dropped here; see SVC_FLAGS_MASK.
  const bits = flagBuf.readUInt32LE(0) & SVC_FLAGS_MASK;
  const timeout = attrs.require(A.TIMEOUT, attrs.u32);
  let netmask: string | number;
  if (af === AF_INET) {
    const m = attrs.require(A.NETMASK, attrs.u32be);
    const b = Buffer.alloc(4);
    b.writeUInt32BE(m, 0);
    netmask = formatAddress(AF_INET, b);
  } else {
    netmask = attrs.require(A.NETMASK, attrs.u32);
  }
  const options: ServiceOptions = {
    scheduler,
    flags: serviceFlagsFromBits(scheduler, bits),
    timeout,
    netmask,
  };
  const pe = attrs.string(A.PE_NAME);
  if (pe) options.pe = pe;
  const service: Service = { key, options };
  const stats = statsOf(attrs, A.STATS64, A.STATS);
  if (stats) service.stats = stats;
  return service;
}

const FORWARDING_BY_CODE = new Map<number, Forwarding>(
  Object.entries(FORWARDING_CODE).map(([name, n]) => [n, name as Forwarding]),
);
const TUNNEL_BY_CODE = new Map<number, TunnelType>(
  Object.entries(TUNNEL_TYPE_CODE).map(([name, n]) => [n, name as TunnelType]),
);

/**
 * A destination from the attributes of a reply's DEST nest. `serviceAf` is used when the
 * kernel does not say (ADDR_FAMILY appeared in 4.x).
 */
export function decodeDest(attrs: AttrMap, serviceAf: AddressFamily): Destination {
  const A = IPVS_DEST_ATTR;
  const afAttr = attrs.u16(A.ADDR_FAMILY);
  const af = afAttr === undefined ? serviceAf : decodeAf(afAttr, "IPVS destination");
  const key: DestKey = {
    address: decodeAddr(attrs, A.ADDR, af),
    port: attrs.require(A.PORT, attrs.u16be),
    af,
  };
  const fwdCode = attrs.require(A.FWD_METHOD, attrs.u32) & IP_VS_CONN_F.FWD_MASK;
  const forwarding = FORWARDING_BY_CODE.get(fwdCode);
  if (!forwarding)
    throw unsupported(`IPVS destination: unknown forwarding method ${fwdCode}`, { code: fwdCode });
  const options: DestOptions = {
    forwarding,
    weight: attrs.require(A.WEIGHT, attrs.u32),
    upperThreshold: attrs.u32(A.U_THRESH) ?? 0,
    lowerThreshold: attrs.u32(A.L_THRESH) ?? 0,
  };
  if (forwarding === "tun") {
    const typeCode = attrs.u8(A.TUN_TYPE) ?? 0;
    const type = TUNNEL_BY_CODE.get(typeCode);
    if (!type) throw unsupported(`IPVS destination: unknown tunnel type ${typeCode}`, { code: typeCode });
    const tflags = attrs.u16(A.TUN_FLAGS) ?? 0;
    options.tunnel = {
      type,
      port: attrs.u16be(A.TUN_PORT) ?? 0,
      flags: {
        csum: (tflags & IP_VS_TUNNEL_ENCAP_FLAG.CSUM) !== 0,
        remcsum: (tflags & IP_VS_TUNNEL_ENCAP_FLAG.REMCSUM) !== 0,
      },
    };
  }
  const dest: Destination = { key, options };
  const active = attrs.u32(A.ACTIVE_CONNS);
  const inact = attrs.u32(A.INACT_CONNS);
  const persist = attrs.u32(A.PERSIST_CONNS);
  if (active !== undefined) dest.activeConns = active;
  if (inact !== undefined) dest.inactConns = inact;
  if (persist !== undefined) dest.persistConns = persist;
  const stats = statsOf(attrs, A.STATS64, A.STATS);
  if (stats) dest.stats = stats;
  return dest;
}

function topLevel(payload: Buffer, where: string): AttrMap {
  return AttrMap.parse(payload, where, IPVS_CMD_ATTR_NAMES);
}

/** A service from a whole reply payload (after the genl header). */
export function parseServiceReply(payload: Buffer): Service {
  const top = topLevel(payload, "IPVS service reply");
  return decodeService(
    top.require(IPVS_CMD_ATTR.SERVICE, function (this: AttrMap, t: number) {
      return this.nested(t, IPVS_SVC_ATTR_NAMES);
    }),
  );
}

/** A destination from a whole GET_DEST dump message payload. */
export function parseDestReply(payload: Buffer, serviceAf: AddressFamily): Destination {
  const top = topLevel(payload, "IPVS destination reply");
  return decodeDest(
    top.require(IPVS_CMD_ATTR.DEST, function (this: AttrMap, t: number) {
      return this.nested(t, IPVS_DEST_ATTR_NAMES);
    }),
    serviceAf,
  );
}

// ---------------------------------------------------------------------------
// Sync daemon, info

export interface DaemonConfig {
  state: "master" | "backup";
  /** Multicast interface name (MCAST_IFN), at most 15 bytes. */
  interface: string;
  syncId: number;
  /** UDP payload size (SYNC_MAXLEN). */
  maxLen?: number;
  /** Multicast group, IPv4 or IPv6. */
  group?: string;
  port?: number;
  ttl?: number;
}

function daemonState(state: DaemonConfig["state"]): number {
  return state === "master" ? IP_VS_STATE.MASTER : IP_VS_STATE.BACKUP;
}

/** The contents of the DAEMON nest for NEW_DAEMON. */
export function encodeDaemon(cfg: DaemonConfig, into = new AttrWriter()): AttrWriter {
  const bad = (msg: string) => new VipdError("IPVS_INVALID_DAEMON", `sync daemon: ${msg}`, { ...cfg });
  if (cfg.state !== "master" && cfg.state !== "backup") throw bad(`invalid state "${cfg.state}"`);
  if (!cfg.interface || Buffer.byteLength(cfg.interface) > 15)
    throw bad(`invalid interface "${cfg.interface}"`);
  if (!isInt(cfg.syncId, 0, 255)) throw bad(`sync id must be 0..255, got ${cfg.syncId}`);
  const D = IPVS_DAEMON_ATTR;
  const w = into
    .u32(D.STATE, daemonState(cfg.state))
    .string(D.MCAST_IFN, cfg.interface)
    .u32(D.SYNC_ID, cfg.syncId);
  if (cfg.maxLen !== undefined) {
    if (!isInt(cfg.maxLen, 1, 0xffff)) throw bad(`invalid maxLen ${cfg.maxLen}`);
    w.u16(D.SYNC_MAXLEN, cfg.maxLen);
  }
  if (cfg.group !== undefined) {
    const g = parseAddress(cfg.group);
    // MCAST_GROUP is an in_addr (network order bytes); MCAST_GROUP6 an in6_addr.
    w.bytes(g.af === AF_INET ? D.MCAST_GROUP : D.MCAST_GROUP6, g.bytes);
  }
  if (cfg.port !== undefined) {
    if (!isInt(cfg.port, 1, 0xffff)) throw bad(`invalid port ${cfg.port}`);
    w.u16(D.MCAST_PORT, cfg.port); // host order: the kernel applies htons itself
  }
  if (cfg.ttl !== undefined) {
    if (!isInt(cfg.ttl, 1, 255)) throw bad(`invalid ttl ${cfg.ttl}`);
    w.u8(D.MCAST_TTL, cfg.ttl);
  }
  return w;
}

/** The contents of the DAEMON nest for DEL_DAEMON: the state to stop. */
export function encodeDaemonStop(state: DaemonConfig["state"], into = new AttrWriter()): AttrWriter {
  return into.u32(IPVS_DAEMON_ATTR.STATE, daemonState(state));
}

/** A sync daemon from the attributes of a GET_DAEMON reply's DAEMON nest. */
export function decodeDaemon(attrs: AttrMap): DaemonConfig {
  const D = IPVS_DAEMON_ATTR;
  const stateNum = attrs.require(D.STATE, attrs.u32);
  if (stateNum !== IP_VS_STATE.MASTER && stateNum !== IP_VS_STATE.BACKUP) {
    throw unsupported(`IPVS sync daemon: unknown state ${stateNum}`, { state: stateNum });
  }
  const cfg: DaemonConfig = {
    state: stateNum === IP_VS_STATE.MASTER ? "master" : "backup",
    interface: attrs.require(D.MCAST_IFN, attrs.string),
    syncId: attrs.require(D.SYNC_ID, attrs.u32),
  };
  const maxLen = attrs.u16(D.SYNC_MAXLEN);
  if (maxLen !== undefined) cfg.maxLen = maxLen;
  const g4 = attrs.bytes(D.MCAST_GROUP, 4);
  const g6 = attrs.bytes(D.MCAST_GROUP6, 16);
  if (g4) cfg.group = formatAddress(AF_INET, g4);
  else if (g6) cfg.group = formatAddress(AF_INET6, g6);
  const port = attrs.u16(D.MCAST_PORT);
  if (port !== undefined) cfg.port = port;
  const ttl = attrs.u8(D.MCAST_TTL);
  if (ttl !== undefined) cfg.ttl = ttl;
  return cfg;
}

export interface IpvsInfo {
  /** "1.2.1" */
  version: string;
  versionCode: number;
  connTableSize: number;
}

/** GET_INFO reply: top-level attributes VERSION and CONN_TAB_SIZE. */
export function decodeInfo(attrs: AttrMap): IpvsInfo {
  const code = attrs.require(IPVS_INFO_ATTR.VERSION, attrs.u32);
  return {
    version: `${(code >>> 16) & 0xff}.${(code >>> 8) & 0xff}.${code & 0xff}`,
    versionCode: code,
    connTableSize: attrs.require(IPVS_INFO_ATTR.CONN_TAB_SIZE, attrs.u32),
  };
}

/** GET_INFO reply from its whole payload. */
export function parseInfoReply(payload: Buffer): IpvsInfo {
  return decodeInfo(AttrMap.parse(payload, "IPVS info reply", IPVS_INFO_ATTR_NAMES));
}
