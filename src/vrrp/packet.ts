import { VipdError } from "../errors.js";
import { formatIp, type IpFamily, ipFamilyOf, parseIpv4, parseIpv6 } from "../net/ip.js";
import {
  authTypeName,
  sameAuthData,
  VRRP_AUTH_NONE,
  VRRP_AUTH_PASS,
  VRRP_PASSWORD_MAX_BYTES,
} from "./auth.js";

export { formatIp };

/**
 * VRRP advertisement codec (RFC 3768 v2, RFC 5798 / RFC 9568 v3) and receive validation.
 *
 * Pure: buffers in, buffers or results out. The bytes handled here are the VRRP message
 * only (what follows the IP header). For IPv4 the raw socket also hands us the IP header;
 * `parseIpv4Header` / `validateIpv4Packet` deal with that.
 *
 * Receive-side functions never throw on packet content: every problem is a `DropReason`.
 * They throw (VipdError) only on caller mistakes (a malformed local address, a family mismatch).
 */

export type { IpFamily };

export const VRRP_PROTOCOL = 112;
export const VRRP_TTL = 255;
export const VRRP_MCAST_V4 = "224.0.0.18";
export const VRRP_MCAST_V6 = "ff02::12";
export const VRRP_HEADER_LEN = 8;
export const VRRP_V2_AUTH_LEN = 8;
/** Advert type field: the only type VRRP defines. */
export const VRRP_TYPE_ADVERT = 1;

// ---------------------------------------------------------------------------------------------
// Addresses
// ---------------------------------------------------------------------------------------------

/** A zone ("fe80::1%eth0") names the link, not the address. */
function withoutZone(address: string): string {
  const pct = address.indexOf("%");
  return pct >= 0 ? address.slice(0, pct) : address;
}

/** The family of an address string, or null when it is neither a valid IPv4 nor IPv6 address. */
export function ipFamily(address: string): IpFamily | null {
  return ipFamilyOf(withoutZone(address));
}

/** Network-order bytes of an address (4 or 16). Throws VRRP_BAD_ADDRESS. */
export function ipToBytes(address: string, family?: IpFamily): Buffer {
  const bare = withoutZone(address);
  const bytes =
    family === "inet"
      ? parseIpv4(bare)
      : family === "inet6"
        ? parseIpv6(bare)
        : (parseIpv4(bare) ?? parseIpv6(bare));
  if (!bytes) {
    throw new VipdError(
      "VRRP_BAD_ADDRESS",
      `"${address}" is not a valid ${family === "inet" ? "IPv4" : family === "inet6" ? "IPv6" : "IP"} address`,
      { address, family },
    );
  }
  return bytes;
}

/** Canonical text of an address (drops an IPv6 zone). Throws VRRP_BAD_ADDRESS. */
export function normalizeIp(address: string): string {
  return formatIp(ipToBytes(address));
}

/**
 * Orders two addresses of one family as unsigned big-endian byte strings, which is how
 * VRRP breaks priority ties ("the primary address of the sender is greater"). < 0, 0, > 0.
 */
export function compareIp(a: string, b: string): number {
  const ab = ipToBytes(a);
  const bb = ipToBytes(b);
  if (ab.length !== bb.length) {
    throw new VipdError("VRRP_FAMILY_MISMATCH", `cannot compare ${a} with ${b}: different families`, {
      a,
      b,
    });
  }
  return Buffer.compare(ab, bb);
}

/** The VRRP virtual MAC: 00:00:5e:00:01:VRID (IPv4) or 00:00:5e:00:02:VRID (IPv6). */
export function virtualMac(vrid: number, family: IpFamily): Buffer {
  checkInt("vrid", vrid, 1, 255);
  return Buffer.from([0x00, 0x00, 0x5e, 0x00, family === "inet" ? 0x01 : 0x02, vrid]);
}

// ---------------------------------------------------------------------------------------------
// Checksums
// ---------------------------------------------------------------------------------------------

/** RFC 1071 Internet checksum over the concatenation of `chunks` (an odd tail is padded with zero). */
export function internetChecksum(...chunks: Uint8Array[]): number {
  const data = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
  let sum = 0;
  const even = data.length & ~1;
  for (let i = 0; i < even; i += 2) sum += (data[i]! << 8) | data[i + 1]!;
  if (data.length & 1) sum += data[data.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** IPv4 pseudo-header: src, dst, zero, protocol, u16 length. */
export function ipv4PseudoHeader(src: string, dst: string, protocol: number, length: number): Buffer {
  const ph = Buffer.alloc(12);
  ipToBytes(src, "inet").copy(ph, 0);
  ipToBytes(dst, "inet").copy(ph, 4);
  ph[9] = protocol;
  ph.writeUInt16BE(length, 10);
  return ph;
}

/** IPv6 pseudo-header (RFC 8200 §8.1): src, dst, u32 length, three zero bytes, next header. */
export function ipv6PseudoHeader(src: string, dst: string, nextHeader: number, length: number): Buffer {
  const ph = Buffer.alloc(40);
  ipToBytes(src, "inet6").copy(ph, 0);
  ipToBytes(dst, "inet6").copy(ph, 16);
  ph.writeUInt32BE(length, 32);
  ph[39] = nextHeader;
  return ph;
}

/**
 * How a VRRP message's checksum is formed.
 * - "message": over the VRRP message only (v2 always; v3 over IPv4 with keepalived's
 *   `v3_checksum_as_v2`, which keepalived's docs say RFC 9568 and Cisco/Juniper expect).
 * - "pseudo": with the IP pseudo-header first (v3 over IPv6 always; v3 over IPv4 by default,
 *   which is what keepalived, FRR, Wireshark and scapy do).
 */
export type ChecksumMode = "pseudo" | "message";

/** The checksum a VRRP message should carry (its checksum field is treated as zero). */
export function vrrpChecksum(
  message: Uint8Array,
  family: IpFamily,
  mode: ChecksumMode,
  src?: string,
  dst?: string,
): number {
  const msg = Buffer.from(message.buffer, message.byteOffset, message.byteLength);
  const zeroed = Buffer.from(msg);
  if (zeroed.length >= 8) zeroed.writeUInt16BE(0, 6);
  if (mode === "message") return internetChecksum(zeroed);
  if (src === undefined || dst === undefined) {
    throw new VipdError(
      "VRRP_CHECKSUM_NEEDS_ADDRESSES",
      "a pseudo-header checksum needs the source and destination",
      {
        family,
      },
    );
  }
  const ph =
    family === "inet"
      ? ipv4PseudoHeader(src, dst, VRRP_PROTOCOL, zeroed.length)
      : ipv6PseudoHeader(src, dst, VRRP_PROTOCOL, zeroed.length);
  return internetChecksum(ph, zeroed);
}

// ---------------------------------------------------------------------------------------------
// Adverts
// ---------------------------------------------------------------------------------------------

export interface VrrpAdvertV2 {
  version: 2;
  vrid: number;
  /** 255 = address owner, 0 = the master resigns. */
  priority: number;
  /** Advertisement interval in whole seconds, 1..255. */
  advertIntervalS: number;
  /** IPv4 addresses (VRRPv2 is IPv4 only). */
  addresses: string[];
  /**
   * Simple-password authentication (auth type 1): the 8 auth-data bytes (src/vrrp/auth.ts).
   * Absent: auth type 0, auth data zero.
   */
  authData?: Uint8Array;
}

export interface VrrpAdvertV3 {
  version: 3;
  vrid: number;
  priority: number;
  /** Max advertisement interval in centiseconds, 1..4095. */
  maxAdvertIntervalCs: number;
  /** IPv4 or IPv6 addresses, all of the socket's family. */
  addresses: string[];
}

export type VrrpAdvert = VrrpAdvertV2 | VrrpAdvertV3;

/** An advert that passed validation, with where it came from and which checksum form matched. */
export type ReceivedAdvert = VrrpAdvert & {
  src: string;
  checksumMode: ChecksumMode;
  /**
   * A unicast VRRPv3 advert whose pseudo-header checksum was computed with the group address as
   * the destination: keepalived before 1.3.6 (RHEL 7's 1.3.5) sends that form. Accepted on
   * receive and counted; never sent.
   */
  groupChecksumOnUnicast?: true;
};

/** The advertised interval in centiseconds, whatever the version. */
export function advertIntervalCs(advert: VrrpAdvert): number {
  return advert.version === 2 ? advert.advertIntervalS * 100 : advert.maxAdvertIntervalCs;
}

export interface EncodeOptions {
  family: IpFamily;
  /** Our source address: needed for pseudo-header checksums. */
  src?: string;
  /** The destination (multicast group or unicast peer): needed for pseudo-header checksums. */
  dst?: string;
  /** v3 over IPv4 only; default "pseudo". v2 is always "message", v3 over IPv6 always "pseudo". */
  checksumMode?: ChecksumMode;
}

function checkInt(what: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new VipdError("VRRP_ADVERT_INVALID", `${what} must be an integer in ${min}..${max}, got ${value}`, {
      field: what,
      value,
    });
  }
}

/** The checksum form a (version, family, configured mode) combination uses. */
export function effectiveChecksumMode(version: 2 | 3, family: IpFamily, mode?: ChecksumMode): ChecksumMode {
  if (version === 2) return "message";
  if (family === "inet6") return "pseudo";
  return mode ?? "pseudo";
}

/** Encodes the VRRP message (no IP header). Throws VRRP_ADVERT_INVALID on out-of-range fields. */
export function encodeAdvert(advert: VrrpAdvert, opts: EncodeOptions): Buffer {
  const { family } = opts;
  checkInt("vrid", advert.vrid, 1, 255);
  checkInt("priority", advert.priority, 0, 255);
  checkInt("address count", advert.addresses.length, 0, 255);
  if (advert.version === 2) {
    if (family !== "inet") {
      throw new VipdError("VRRP_ADVERT_INVALID", "VRRPv2 carries IPv4 only", { family });
    }
    checkInt("advert interval (s)", advert.advertIntervalS, 1, 255);
    if (advert.authData !== undefined && advert.authData.length !== VRRP_PASSWORD_MAX_BYTES) {
      throw new VipdError(
        "VRRP_ADVERT_INVALID",
        `auth data must be ${VRRP_PASSWORD_MAX_BYTES} bytes, got ${advert.authData.length}`,
        {},
      );
    }
  } else if (advert.version === 3) {
    checkInt("max advert interval (cs)", advert.maxAdvertIntervalCs, 1, 4095);
  } else {
    throw new VipdError(
      "VRRP_ADVERT_INVALID",
      `unknown VRRP version ${(advert as { version: unknown }).version}`,
      {},
    );
  }
  const alen = family === "inet" ? 4 : 16;
  const authLen = advert.version === 2 ? VRRP_V2_AUTH_LEN : 0;
  const buf = Buffer.alloc(VRRP_HEADER_LEN + alen * advert.addresses.length + authLen);
  buf[0] = (advert.version << 4) | VRRP_TYPE_ADVERT;
  buf[1] = advert.vrid;
  buf[2] = advert.priority;
  buf[3] = advert.addresses.length;
  if (advert.version === 2) {
    buf[5] = advert.advertIntervalS;
    if (advert.authData !== undefined) {
      buf[4] = VRRP_AUTH_PASS;
      buf.set(advert.authData, buf.length - VRRP_V2_AUTH_LEN);
    }
  } else {
    buf.writeUInt16BE(advert.maxAdvertIntervalCs & 0x0fff, 4); // top 4 bits reserved, zero
  }
  advert.addresses.forEach((a, i) => {
    ipToBytes(a, family).copy(buf, VRRP_HEADER_LEN + i * alen);
  });
  const mode = effectiveChecksumMode(advert.version, family, opts.checksumMode);
  buf.writeUInt16BE(vrrpChecksum(buf, family, mode, opts.src, opts.dst), 6);
  return buf;
}

/**
 * Why a received packet was dropped. `queue_overflow`: the kernel dropped it because the
 * socket's receive queue was full (a flood; SO_RXQ_OVFL counts them, so the count covers
 * adverts of every instance on the socket). `interface`: it arrived on another interface than the
 * socket's (queued before SO_BINDTODEVICE took effect); the socket layer checks that first.
 * Validation then checks the rest in this order: ip_header (IPv4 only, before the VRRP
 * message), ttl, length, version, checksum, type, address_count, vrid, auth_type, auth
 * (a simple password that differs from ours), advert_interval.
 */
export type DropReason =
  | "queue_overflow"
  | "interface"
  | "ip_header"
  | "ttl"
  | "length"
  | "version"
  | "checksum"
  | "type"
  | "address_count"
  | "vrid"
  | "auth_type"
  | "auth"
  | "advert_interval";

export const DROP_REASONS: readonly DropReason[] = [
  "queue_overflow",
  "interface",
  "ip_header",
  "ttl",
  "length",
  "version",
  "checksum",
  "type",
  "address_count",
  "vrid",
  "auth_type",
  "auth",
  "advert_interval",
];

export type DecodeResult =
  | { ok: true; advert: ReceivedAdvert }
  | { ok: false; reason: DropReason; detail: string };

export interface DecodeOptions {
  family: IpFamily;
  /** Source address of the packet. */
  src: string;
  /** Destination address of the packet (group or our unicast address), for pseudo-header checksums. */
  dst: string;
  /**
   * Also accept old keepalived's unicast form (the group as the pseudo-header destination) on a
   * unicast destination: only for instances with unicast peers (validateAdvert sets it).
   */
  legacyUnicastChecksum?: boolean;
}

function drop(reason: DropReason, detail: string): { ok: false; reason: DropReason; detail: string } {
  return { ok: false, reason, detail };
}

const hex16 = (n: number) => `0x${n.toString(16).padStart(4, "0")}`;

type Decoded =
  | { ok: true; advert: ReceivedAdvert; authType: number; authData: Buffer }
  | { ok: false; reason: DropReason; detail: string };

/** length, version, checksum, type, address_count — in that order. */
function decodeChecked(payload: Buffer, opts: DecodeOptions, expectVersion?: 2 | 3): Decoded {
  const { family } = opts;
  if (payload.length < VRRP_HEADER_LEN) {
    return drop("length", `${payload.length} bytes is shorter than the ${VRRP_HEADER_LEN}-byte VRRP header`);
  }
  const version = payload[0]! >> 4;
  if (expectVersion !== undefined ? version !== expectVersion : version !== 2 && version !== 3) {
    return drop("version", `version ${version}, expected ${expectVersion ?? "2 or 3"}`);
  }
  if (version === 2 && family !== "inet") return drop("version", "VRRPv2 over IPv6");

  const got = payload.readUInt16BE(6);
  let checksumMode: ChecksumMode;
  let groupChecksumOnUnicast = false;
  if (version === 2) {
    const want = vrrpChecksum(payload, family, "message");
    if (got !== want)
      return drop("checksum", `checksum ${hex16(got)}, computed ${hex16(want)} (message only)`);
    checksumMode = "message";
  } else {
    // v3: the pseudo-header form; over IPv4 the message-only form is in the field too. On a
    // unicast destination, old keepalived's form (the group as the pseudo-header destination).
    const pseudo = vrrpChecksum(payload, family, "pseudo", opts.src, opts.dst);
    const message = family === "inet" ? vrrpChecksum(payload, family, "message") : undefined;
    const group = family === "inet" ? VRRP_MCAST_V4 : VRRP_MCAST_V6;
    const legacy =
      opts.legacyUnicastChecksum === true && !isMulticast(opts.dst)
        ? vrrpChecksum(payload, family, "pseudo", opts.src, group)
        : undefined;
    if (got === pseudo) checksumMode = "pseudo";
    else if (got === message) checksumMode = "message";
    else if (got === legacy) {
      checksumMode = "pseudo";
      groupChecksumOnUnicast = true;
    } else {
      const forms = [`${hex16(pseudo)} (pseudo-header)`];
      if (message !== undefined) forms.push(`${hex16(message)} (message only)`);
      if (legacy !== undefined)
        forms.push(`${hex16(legacy)} (pseudo-header to ${group}, keepalived < 1.3.6)`);
      return drop("checksum", `checksum ${hex16(got)}, computed ${forms.join(" or ")}`);
    }
  }

  const type = payload[0]! & 0x0f;
  if (type !== VRRP_TYPE_ADVERT)
    return drop("type", `type ${type}, expected ${VRRP_TYPE_ADVERT} (advertisement)`);

  const count = payload[3]!;
  const alen = family === "inet" ? 4 : 16;
  const authLen = version === 2 ? VRRP_V2_AUTH_LEN : 0;
  const want = VRRP_HEADER_LEN + count * alen + authLen;
  if (payload.length !== want) {
    return drop(
      "address_count",
      `${count} ${family === "inet" ? "IPv4" : "IPv6"} address(es)${authLen ? " + auth data" : ""} need ${want} bytes, got ${payload.length}`,
    );
  }
  const addresses: string[] = [];
  for (let i = 0; i < count; i++) {
    const off = VRRP_HEADER_LEN + i * alen;
    addresses.push(formatIp(payload.subarray(off, off + alen)));
  }
  const src = normalizeIp(opts.src);
  const base = {
    vrid: payload[1]!,
    priority: payload[2]!,
    addresses,
    src,
    checksumMode,
    ...(groupChecksumOnUnicast ? { groupChecksumOnUnicast: true as const } : {}),
  };
  if (version === 2) {
    return {
      ok: true,
      advert: { version: 2, ...base, advertIntervalS: payload[5]! },
      authType: payload[4]!,
      authData: payload.subarray(payload.length - VRRP_V2_AUTH_LEN),
    };
  }
  return {
    ok: true,
    advert: { version: 3, ...base, maxAdvertIntervalCs: payload.readUInt16BE(4) & 0x0fff },
    authType: VRRP_AUTH_NONE,
    authData: Buffer.alloc(0),
  };
}

/**
 * Decodes a VRRP message whatever its VRID or interval. Checks, in order: length, version
 * (2 or 3; 2 only over IPv4), checksum, type, address_count. Never throws on packet content.
 */
export function decodeAdvert(payload: Buffer, opts: DecodeOptions): DecodeResult {
  checkLocalAddress(opts.src, opts.family, "src");
  checkLocalAddress(opts.dst, opts.family, "dst");
  const r = decodeChecked(payload, opts);
  return r.ok ? { ok: true, advert: r.advert } : r;
}

function checkLocalAddress(address: string, family: IpFamily, what: string): void {
  // Caller-supplied (from recvmsg), not packet content: a bad one is a bug, so throw.
  const bytes = ipToBytes(address);
  if ((bytes.length === 4 ? "inet" : "inet6") !== family) {
    throw new VipdError("VRRP_FAMILY_MISMATCH", `${what} ${address} is not an ${family} address`, {
      address,
      family,
    });
  }
}

export interface ValidateInput {
  family: IpFamily;
  /** TTL (IPv4, from the IP header) or hop limit (IPv6, from IPV6_RECVHOPLIMIT); undefined if unknown. */
  ttlOrHopLimit: number | undefined;
  src: string;
  dst: string;
  /** The VRRP message (for IPv4, with the IP header stripped). */
  payload: Buffer;
}

/** What the local instance expects of adverts for it. */
export interface ValidateExpect {
  version: 2 | 3;
  vrid: number;
  family: IpFamily;
  /** Our advert interval; v2 drops adverts with a different one (RFC 3768 §7.1). */
  advertIntervalCs: number;
  /** v2: our simple password's 8 auth-data bytes (auth type 1); absent: auth type 0. */
  authData?: Uint8Array;
  /**
   * The instance speaks unicast (it has unicast peers). Only then is a unicast-addressed advert
   * held to the unicast rules below; a multicast instance requires TTL 255 of everything, since
   * that is the RFC's only defence against an off-link sender.
   */
  unicast?: boolean;
  /**
   * With `unicast`: the TTL / hop limit a unicast advert must carry; undefined: any. (keepalived
   * checks no TTL on unicast, and sends IPv6 unicast adverts with the kernel's default hop
   * limit, usually 64, unless its unicast_ttl is set.)
   */
  unicastTtl?: number;
}

/** A multicast destination (224.0.0.0/4, ff00::/8): the VRRP group, or a misdirected advert. */
function isMulticast(address: string): boolean {
  const bytes = ipToBytes(address);
  return bytes.length === 4 ? (bytes[0]! & 0xf0) === 0xe0 : bytes[0] === 0xff;
}

/**
 * Full receive validation for one instance. Checks in this fixed order, stopping at the
 * first failure: ttl (255; a unicast instance's unicast adverts: `expect.unicastTtl`, or any), length,
 * version, checksum, type, address_count, vrid,
 * auth_type (v2: must be ours), auth (v2 with a password: the 8 auth-data bytes must be ours),
 * advert_interval (v2: must equal ours; v3: must not be 0).
 *
 * Authentication (v2 only): no authentication (type 0) or a simple password (type 1, as
 * keepalived's auth_type PASS). A receiver drops a packet whose auth type differs from its own
 * (`auth_type`; IPsec AH, type 2, is never ours) and, with a password, one whose auth data
 * differs (`auth`). Without a password the auth data is not inspected, as RFC 3768 says.
 */
export function validateAdvert(input: ValidateInput, expect: ValidateExpect): DecodeResult {
  if (input.family !== expect.family) {
    throw new VipdError(
      "VRRP_FAMILY_MISMATCH",
      `an ${input.family} packet given to an ${expect.family} instance`,
      {
        input: input.family,
        expect: expect.family,
      },
    );
  }
  checkLocalAddress(input.src, input.family, "src");
  checkLocalAddress(input.dst, input.family, "dst");
  const unicastRules = expect.unicast === true && !isMulticast(input.dst);
  const wantTtl = unicastRules ? expect.unicastTtl : VRRP_TTL;
  if (wantTtl !== undefined && input.ttlOrHopLimit !== wantTtl) {
    const what = input.family === "inet" ? "TTL" : "hop limit";
    return drop(
      "ttl",
      input.ttlOrHopLimit === undefined
        ? `${what} unknown`
        : `${what} ${input.ttlOrHopLimit}, expected ${wantTtl}${unicastRules ? " (unicast_ttl)" : ""}`,
    );
  }
  const r = decodeChecked(input.payload, { ...input, legacyUnicastChecksum: unicastRules }, expect.version);
  if (!r.ok) return r;
  const { advert } = r;
  if (advert.vrid !== expect.vrid) return drop("vrid", `VRID ${advert.vrid} is not ours (${expect.vrid})`);
  if (advert.version === 2) {
    const ourType = expect.authData === undefined ? VRRP_AUTH_NONE : VRRP_AUTH_PASS;
    if (r.authType !== ourType) {
      return drop("auth_type", `auth type ${authTypeName(r.authType)}, ours is ${authTypeName(ourType)}`);
    }
    // The detail never shows either password: it goes to logs.
    if (expect.authData !== undefined && !sameAuthData(r.authData, expect.authData))
      return drop("auth", "the simple password differs from ours");
    if (advert.advertIntervalS * 100 !== expect.advertIntervalCs) {
      return drop(
        "advert_interval",
        `advert interval ${advert.advertIntervalS}s differs from ours (${expect.advertIntervalCs / 100}s)`,
      );
    }
  } else if (advert.maxAdvertIntervalCs === 0) {
    return drop("advert_interval", "max advert interval 0");
  }
  return { ok: true, advert };
}

// ---------------------------------------------------------------------------------------------
// IPv4 header (raw IPv4 sockets return it with the payload)
// ---------------------------------------------------------------------------------------------

export interface Ipv4Header {
  headerLength: number;
  ttl: number;
  protocol: number;
  src: string;
  dst: string;
  totalLength: number;
}

export type Ipv4HeaderResult =
  | { ok: true; header: Ipv4Header }
  | { ok: false; reason: "ip_header"; detail: string };

/**
 * Parses the IPv4 header of a packet read from a raw socket. Checks: at least 20 bytes,
 * version 4, IHL ≥ 5 and within the buffer, total length (network order, as Linux returns it)
 * between the header length and the bytes received, not a fragment. The header checksum is
 * the kernel's job (it drops bad ones before raw delivery).
 */
export function parseIpv4Header(buf: Buffer): Ipv4HeaderResult {
  const bad = (detail: string) => ({ ok: false as const, reason: "ip_header" as const, detail });
  if (buf.length < 20) return bad(`${buf.length} bytes is shorter than an IPv4 header`);
  const version = buf[0]! >> 4;
  if (version !== 4) return bad(`IP version ${version}`);
  const headerLength = (buf[0]! & 0x0f) * 4;
  if (headerLength < 20) return bad(`IHL ${headerLength / 4} is below 5`);
  if (headerLength > buf.length)
    return bad(`header length ${headerLength} exceeds the ${buf.length} bytes received`);
  const totalLength = buf.readUInt16BE(2);
  if (totalLength < headerLength || totalLength > buf.length) {
    return bad(
      `total length ${totalLength} inconsistent with header ${headerLength} and ${buf.length} bytes received`,
    );
  }
  const frag = buf.readUInt16BE(6);
  if ((frag & 0x2000) !== 0 || (frag & 0x1fff) !== 0) return bad("fragment");
  return {
    ok: true,
    header: {
      headerLength,
      ttl: buf[8]!,
      protocol: buf[9]!,
      src: formatIp(buf.subarray(12, 16)),
      dst: formatIp(buf.subarray(16, 20)),
      totalLength,
    },
  };
}

/** Parses the IPv4 header of a raw-socket packet (must be protocol 112) and validates the advert in it. */
export function validateIpv4Packet(packet: Buffer, expect: ValidateExpect): DecodeResult {
  const h = parseIpv4Header(packet);
  if (!h.ok) return h;
  if (h.header.protocol !== VRRP_PROTOCOL)
    return drop("ip_header", `IP protocol ${h.header.protocol}, not 112`);
  return validateAdvert(
    {
      family: "inet",
      ttlOrHopLimit: h.header.ttl,
      src: h.header.src,
      dst: h.header.dst,
      payload: packet.subarray(h.header.headerLength, h.header.totalLength),
    },
    expect,
  );
}

// ---------------------------------------------------------------------------------------------
// Drop counters
// ---------------------------------------------------------------------------------------------

/**
 * Counts dropped packets per reason (for metrics and `status`). `vrid` drops are normal on a
 * shared segment (other VRRP instances' adverts) and should not be alerted on.
 */
export class DropCounters {
  private readonly counts: Record<DropReason, number>;

  constructor() {
    this.counts = Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<DropReason, number>;
  }

  count(reason: DropReason, n = 1): void {
    this.counts[reason] += n;
  }

  /** Counts `result` when it is a drop; returns it unchanged. */
  record<T extends DecodeResult>(result: T): T {
    if (!result.ok) this.count(result.reason);
    return result;
  }

  get(reason: DropReason): number {
    return this.counts[reason];
  }

  total(): number {
    return DROP_REASONS.reduce((n, r) => n + this.counts[r], 0);
  }

  /** A copy: later counts don't change it. */
  snapshot(): Record<DropReason, number> {
    return { ...this.counts };
  }
}
